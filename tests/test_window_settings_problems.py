"""Every settings problem is said, in the window and in llmchat, even when a default model
opens at once and the welcome panel (which lists them) never shows."""

from __future__ import annotations

import asyncio

from tests.support.fake_openai import Step, as_provider
from tests.support.gui import running_window, screenshot


def test_a_bad_setting_is_bannered_even_when_the_default_model_loads(qapp, _isolated_home):
    with as_provider(_isolated_home) as fake:
        config = _isolated_home / "config" / "config.toml"
        config.write_text(config.read_text() + '[defaults]\ntemperature = "hot"\n')
        fake.script = [Step(pieces=["ok"])]
        with running_window(qapp) as (loop, window):
            loop.run_until_complete(window.controller.refresh())
            assert window.controller.choice is not None, "the default model is in use"
            assert window.stack.currentWidget() is window.view
            banner = window.view.items[-1]
            text = banner.message.text()
            assert "config.toml, line 6" in text and "defaults.temperature" in text, text
            loop.run_until_complete(asyncio.sleep(0.1))
            screenshot(window, "settings-problem-banner")
            # Read again (Settings saved, say): the same problem is not bannered twice.
            count = len(window.view.items)
            loop.run_until_complete(window.controller.refresh())
            assert len(window.view.items) == count


def test_a_config_folder_that_is_a_file_is_said(qapp, _isolated_home):
    (_isolated_home / "config").parent.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "config").write_text("not a folder")
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        notes = window.welcome.notes.text()
        assert "is a file, not a folder" in notes and str(_isolated_home / "config") in notes
    assert (_isolated_home / "config").read_text() == "not a folder", "nothing overwritten"


def test_llmchat_says_a_config_folder_is_a_file(tiny_model_dir, _isolated_home):
    from tests.test_llmchat import PROMPT, finish, spawn

    _isolated_home.mkdir(parents=True, exist_ok=True)
    (_isolated_home / "config").write_text("not a folder")
    child = spawn([str(tiny_model_dir), "--temperature", "0"], _isolated_home)
    child.expect("Warning: .*is a file, not a folder")
    child.expect_exact(PROMPT)
    finish(child)
