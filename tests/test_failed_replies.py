"""A reply that failed before any text (a 401, a 429) says "failed" and why, in the window
and in llmchat; never "stopped", which is what the user does with Stop. The server's echo of
the key is not in the banner nor in the reply's line."""

from __future__ import annotations

import pytest

from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, type_and_send, wait_for
from tests.support.settings import write_config

KEY = "sk-test-failed-reply-0a1b2c3d4e5f"


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        (Step(401, error=f"Incorrect API key provided: Bearer {KEY}"), "refused the API key"),
        (Step(429, headers={"retry-after": "600"}, error="Too many requests"), "rate-limiting"),
    ],
)
def test_a_reply_that_failed_before_any_text_says_failed_and_why(
    qapp, qtbot, fake, monkeypatch, step, reason
):
    monkeypatch.setenv("FAKE_API_KEY", KEY)
    fake.script = [step]
    with running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, "Are you there?")
            await wait_for(lambda: reply_done(window))

        loop.run_until_complete(scenario())
        line = window.view.replies()[-1].stats.text()
        assert "failed" in line and reason in line, line
        assert "stopped" not in line and "cut off" not in line, line
        banner = window.view.items[-1]
        assert banner.objectName() == "errorBanner"
        shown = banner.message.text() + banner.hint.text() + line
        assert KEY not in shown
        assert window.controller.conversation.messages[0].content == "Are you there?"


@pytest.mark.slow
def test_llmchat_says_a_reply_failed_and_why(_isolated_home):
    from tests.support.fake_openai import FakeOpenAI
    from tests.test_llmchat import PROMPT, finish, spawn

    with FakeOpenAI() as server:
        write_config(
            _isolated_home, f'[providers.acme]\nbase_url = "{server.base_url}"\nmodels = ["m"]\n'
        )
        server.script = [Step(401, error="Incorrect API key provided")]
        child = spawn(["acme:m"], _isolated_home, ACME_API_KEY=KEY)
        child.expect_exact(PROMPT)
        child.sendline("hello?")
        child.expect_exact(PROMPT)
        said = child.before
        finish(child)
    assert "failed" in said and "refused the API key" in said, said
    assert "stopped" not in said, said
