"""A 429 whose Retry-After is neither seconds nor a date ("soon") is still a rate limit, said
as one: a banner in the window, an error sentence from the API. It once raised ValueError
("Invalid date value") out of the error translation: no banner at all, and that text from the
API. (The provider's own answer, for more odd values, is in test_provider_errors.py.)"""

from __future__ import annotations

from desktop_chat import LLMChat
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for

SOON = Step(429, headers={"retry-after": "soon"}, error="Too many requests")


def test_the_window_says_rate_limited_with_a_retry_after_of_soon(qapp, qtbot, fake):
    fake.script = [SOON] * 3  # every attempt: the retries end and the failure is said
    with running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, "Are you there?")
            await wait_for(lambda: reply_done(window))

        loop.run_until_complete(scenario())
        banner = window.view.items[-1]
        assert banner.objectName() == "errorBanner"
        assert "rate-limiting" in banner.message.text(), banner.message.text()
        assert "in a moment" in banner.hint.text(), banner.hint.text()
        assert "Invalid date" not in banner.message.text() + banner.hint.text()
        assert window.controller.conversation.messages[0].content == "Are you there?"
        screenshot(window, "retry-after-soon")
    assert len(fake.requests) == 3


def test_the_api_says_rate_limited_with_a_retry_after_of_soon():
    with FakeOpenAI() as server:
        server.script = [SOON] * 3
        chat = LLMChat(base_url=server.base_url, model="m")
        reply = chat.chat_response("Are you there?")
        chat.close()
    assert reply.is_error and reply.metadata["error_type"] == "RateLimited"
    assert "rate-limiting" in reply.error and "Invalid date" not in reply.error, reply.error
