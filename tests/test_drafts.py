"""What is typed and not sent survives, like the messages: a crash (the real app under Xvfb,
``kill -9``), a quit, opening another conversation; the quick prompt's too. Sending it clears
it."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop_chat.drafts import NEW, QUICK, Drafts, key_for
from desktop_chat.store import Store
from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.support.xvfb import desktop_chat_on_x


def _drafts(home: Path) -> dict[str, str]:
    """The drafts in the app's database, read as another program would."""
    path = home / "data" / "conversations.sqlite3"
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    try:
        return dict(db.execute("SELECT key, text FROM drafts"))
    except sqlite3.OperationalError:  # not created yet
        return {}
    finally:
        db.close()


def _user_messages(home: Path) -> list[str]:
    db = sqlite3.connect(home / "data" / "conversations.sqlite3", timeout=2)
    try:
        return [
            r[0] for r in db.execute("SELECT content FROM messages WHERE role = 'user' ORDER BY id")
        ]
    finally:
        db.close()


def _until(condition, what: str, app, limit_s: float = 20.0):
    deadline = time.monotonic() + limit_s
    while not (result := condition()):
        if time.monotonic() > deadline:
            app.proc.kill()  # its output can be read to the end only once it has ended
            app.proc.wait(10)
            raise AssertionError(f"timed out: {what}\n{app.output()}")
        time.sleep(0.05)
    return result


def test_a_blank_draft_is_none_and_a_refused_write_is_said_not_raised(tmp_path):
    store = Store.open(tmp_path / "conversations.sqlite3")
    drafts = Drafts(store)
    assert drafts.save(NEW, "Half a thought") and drafts.get(NEW) == "Half a thought"
    assert drafts.save(NEW, "  \n ") and drafts.get(NEW) == ""
    assert drafts.save(QUICK, "Quick one")
    store.db.execute("PRAGMA query_only = ON")  # as a read-only or full database refuses
    assert drafts.save(QUICK, "Quick one, longer") is False
    assert drafts.get(QUICK) == "Quick one"
    store.close()


def test_each_conversation_keeps_its_own_draft_and_sending_clears_it(
    qapp, qtbot, fake, _isolated_home
):
    fake.script = [Step(pieces=["Paris."]), Step(pieces=["Noted."])]
    with running_window(qapp) as (loop, window):
        edit = window.composer.edit

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, "What is the capital of France?")
            await wait_for(lambda: reply_done(window))
            first = window.controller.conversation_id
            qtbot.keyClicks(edit, "And of Italy")
            # Saved while typing, without any switch, a moment after the last key.
            await wait_for(
                lambda: _drafts(_isolated_home).get(str(first)) == "And of Italy",
                limit_s=3,
                what="the draft saved while typing",
            )
            qtbot.keyClicks(edit, "?")
            qtbot.keyClick(edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
            assert edit.toPlainText() == "", "a new chat has no draft yet"
            assert _drafts(_isolated_home)[str(first)] == "And of Italy?", "kept at once"
            qtbot.keyClicks(edit, "Remind me to buy milk")
            window.history.open_conversation(first)
            await wait_for(lambda: window.controller.conversation_id == first)
            assert edit.toPlainText() == "And of Italy?"
            assert edit.textCursor().atEnd(), "the cursor is where typing goes on"
            screenshot(window, "draft-restored")
            window.new_chat()
            assert edit.toPlainText() == "Remind me to buy milk"
            qtbot.keyClick(edit, Qt.Key.Key_Return)
            await wait_for(lambda: reply_done(window) and window.controller.conversation.messages)
            assert edit.toPlainText() == ""
            await asyncio.sleep(1.0)  # longer than the save's delay: nothing comes back
            return first

        first = loop.run_until_complete(scenario())
        assert _drafts(_isolated_home) == {str(first): "And of Italy?"}, "sent: cleared"
    # The next start: the new chat has no draft, the first conversation still has its own.
    with running_window(qapp) as (loop, window):
        assert window.composer.edit.toPlainText() == ""

        async def reopen():
            window.history.open_conversation(first)
            await wait_for(lambda: window.controller.conversation_id == first)

        loop.run_until_complete(reopen())
        assert window.composer.edit.toPlainText() == "And of Italy?"


@pytest.mark.slow
def test_a_draft_survives_kill_9_and_is_in_the_composer_after_a_restart(fake, _isolated_home):
    typed = "Remember to ask about Rome"
    with desktop_chat_on_x() as app:
        app.xdo("windowfocus", "--sync", app.window)
        app.xdo("type", "--delay", "5", typed)
        _until(lambda: _drafts(_isolated_home).get(NEW) == typed, "the draft saved", app)
        app.proc.send_signal(signal.SIGKILL)
        app.proc.wait(10)
    with desktop_chat_on_x() as app:
        app.xdo("windowfocus", "--sync", app.window)
        time.sleep(1)  # the model chosen
        # Typing goes on at the end of the restored draft; Enter sends the whole of it.
        app.xdo("type", "--delay", "5", " and Milan")
        app.xdo("key", "Return")
        _until(lambda: _user_messages(_isolated_home), "the message sent", app)
        assert _user_messages(_isolated_home) == [f"{typed} and Milan"]
        _until(lambda: NEW not in _drafts(_isolated_home), "the sent draft cleared", app)
        app.xdo("key", "ctrl+q")
        assert app.proc.wait(30) == 0
    assert _drafts(_isolated_home) == {}


@pytest.mark.slow
def test_quitting_right_after_typing_keeps_the_draft(fake, _isolated_home):
    typed = "Typed just before quitting"
    with desktop_chat_on_x() as app:
        app.xdo("windowfocus", "--sync", app.window)
        app.xdo("type", "--delay", "1", typed)
        app.xdo("key", "ctrl+q")  # sooner than the save made while typing
        assert app.proc.wait(30) == 0
        out = app.output()
    assert "Traceback" not in out, out
    assert _drafts(_isolated_home) == {NEW: typed}
    with desktop_chat_on_x() as app:
        app.xdo("windowfocus", "--sync", app.window)
        time.sleep(1)
        app.xdo("key", "Return")  # the restored draft is what Enter sends
        _until(lambda: _user_messages(_isolated_home), "the message sent", app)
        assert _user_messages(_isolated_home) == [typed]
        app.proc.send_signal(signal.SIGTERM)
        assert app.proc.wait(30) == 0


@pytest.mark.slow
def test_the_quick_prompts_draft_survives_kill_9(qapp, qtbot, fake, _isolated_home):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    typed = "What time is it in Tokyo"
    with desktop_chat_on_x() as app:
        time.sleep(2)  # settings read, the hotkey registered
        app.xdo("key", "ctrl+alt+space")
        quick = app.xdo("search", "--sync", "--onlyvisible", "--name", "^Quick Prompt$")
        _until(
            lambda: app.xdo("getwindowfocus", check=False) == quick.split()[0],
            "the quick prompt",
            app,
        )
        app.xdo("type", "--delay", "5", typed)
        _until(lambda: _drafts(_isolated_home).get(QUICK) == typed, "the draft saved", app)
        app.proc.send_signal(signal.SIGKILL)
        app.proc.wait(10)
    assert NEW not in _drafts(_isolated_home), "the main window's draft is its own"
    fake.script = [Step(pieces=["Evening."])]
    with running_window(qapp) as (loop, window):
        quick = quick_prompt_for(window)
        assert quick.input.toPlainText() == typed

        async def scenario():
            await window.controller.refresh()
            quick.present()
            qtbot.keyClicks(quick.input, "?")
            qtbot.keyClick(quick.input, Qt.Key.Key_Return)
            await wait_for(lambda: quick.continue_button.isEnabled(), what="the answer")
            screenshot(quick, "quick-prompt-draft")

        loop.run_until_complete(scenario())
        assert fake.requests[-1]["body"]["messages"][-1]["content"] == typed + "?"
        assert quick.input.toPlainText() == "" and QUICK not in _drafts(_isolated_home)
        quick.hide()
        quick.deleteLater()


def test_a_draft_outlives_a_delete_until_the_conversation_is_purged(tmp_path):
    store = Store.open(tmp_path / "conversations.sqlite3")
    drafts = Drafts(store)
    conv = store.new_conversation("Capitals")
    drafts.save(key_for(conv), "And of Spain?")
    store.delete_conversation(conv)
    store.undelete(conv)  # Undo: the draft is still there
    assert drafts.get(key_for(conv)) == "And of Spain?"
    store.delete_conversation(conv)
    store.purge()
    assert drafts.get(key_for(conv)) == ""
    store.close()
