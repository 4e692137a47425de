"""A message typed the moment the window appears is not dropped: it waits, says so beside the
composer, and is sent as soon as a model can answer — the default one, or the one the user
then chooses."""

from __future__ import annotations

import sqlite3
import time

from desktop_chat import catalog
from tests.support.fake_openai import FakeOpenAI, Step, as_provider
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.support.settings import write_config
from tests.support.xvfb import desktop_chat_on_x


def test_enter_pressed_as_the_window_appears_is_sent_once_ready(_isolated_home):
    """The real app under Xvfb: typed and sent at once, before the controller even exists."""
    with as_provider(_isolated_home) as fake:
        fake.script = [Step(pieces=["Hello ", "back."])]
        with desktop_chat_on_x() as app:
            app.xdo("windowfocus", "--sync", app.window)
            app.xdo("type", "--delay", "1", "Hi at once")
            app.xdo("key", "Return")
            deadline = time.monotonic() + 30
            while not any(r["method"] == "POST" for r in fake.requests):
                assert time.monotonic() < deadline, "the message was never sent"
                assert app.proc.poll() is None, app.output()
                time.sleep(0.1)
            time.sleep(0.5)
            app.xdo("key", "ctrl+q")
            assert app.proc.wait(30) == 0
            out = app.output()
    assert "Traceback" not in out, out
    sent = next(r for r in fake.requests if r["method"] == "POST")
    assert sent["body"]["messages"][-1] == {"role": "user", "content": "Hi at once"}
    db = sqlite3.connect(_isolated_home / "data" / "conversations.sqlite3")
    rows = db.execute("SELECT role, content FROM messages ORDER BY id").fetchall()
    assert rows == [("user", "Hi at once"), ("assistant", "Hello back.")]


def test_with_no_model_the_message_waits_for_the_users_choice(qapp, qtbot, _isolated_home):
    with FakeOpenAI() as fake:
        write_config(
            _isolated_home, f'[providers.fake]\nbase_url = "{fake.base_url}"\nmodels = ["m"]\n'
        )
        fake.script = [Step(pieces=["Chosen ", "and sent."])]
        with running_window(qapp) as (loop, window):
            # Before the app has looked for settings and models: it waits, and says so.
            type_and_send(qtbot, window, "Are you there?")
            assert window.waiting_label.isVisible()
            assert window.waiting_label.text().startswith("Waiting for Desktop Chat")
            loop.run_until_complete(window.controller.refresh())
            # No default model: say what to do, keep the text, send nothing.
            text = window.waiting_label.text()
            assert text.startswith("Choose a model to send this") and "model menu" in text
            assert window.composer.edit.toPlainText() == "Are you there?"
            assert not any(r["method"] == "POST" for r in fake.requests)
            screenshot(window, "waiting-for-a-model")
            window.choose(catalog.find(window.controller.models.choices, "fake:m"))
            loop.run_until_complete(
                wait_for(lambda: window.controller.conversation.messages and reply_done(window))
            )
            assert not window.waiting_label.isVisible()
            assert window.composer.edit.toPlainText() == ""
            messages = window.controller.conversation.messages
            assert [m.content for m in messages] == ["Are you there?", "Chosen and sent."]


def test_escape_cancels_a_waiting_message_and_keeps_its_text(qapp, qtbot, _isolated_home):
    from PySide6.QtCore import Qt

    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        type_and_send(qtbot, window, "Not now")
        assert window.waiting_label.isVisible()
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
        assert not window.waiting_label.isVisible() and not window.waiting
        assert window.composer.edit.toPlainText() == "Not now"
