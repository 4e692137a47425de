"""The menu-bar app: the global hotkey opens the quick prompt (real app under Xvfb, keys from
xdotool), the quick prompt answers and hands over to the main window, the tray menu, and a
second launch that brings the first copy forward instead of starting again."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from tests.support.fake_openai import Step
from tests.support.gui import running_window, screenshot, wait_for
from tests.support.settings import write_config
from tests.support.system import require_programs
from tests.support.xvfb import desktop_chat_on_x, xvfb

pytestmark = pytest.mark.slow


def _answer(db: Path) -> str | None:
    if not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT content FROM messages WHERE role = 'assistant'"
            " AND interrupted = 0 ORDER BY id DESC LIMIT 1"
        ).fetchone()
    except sqlite3.OperationalError:
        row = None
    con.close()
    return row[0] if row else None


def _until(condition, what: str, limit_s: float = 5) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_the_hotkey_opens_the_quick_prompt_which_answers(tiny_model_dir, _isolated_home):
    write_config(
        _isolated_home, f'default_model = "{tiny_model_dir}"\n[defaults]\ntemperature = 0.0\n'
    )
    db = _isolated_home / "data" / "conversations.sqlite3"
    with desktop_chat_on_x() as app:
        time.sleep(4)  # settings read, hotkey registered, the model loaded
        app.xdo("key", "ctrl+alt+space")
        quick = app.xdo("search", "--sync", "--onlyvisible", "--name", "^Quick Prompt$")
        _until(
            # check=False: for a moment no window has the focus, and xdotool says so by failing
            lambda: app.xdo("getwindowfocus", check=False) == quick.split()[0],
            "the quick prompt did not take the focus",
        )
        app.xdo("type", "--delay", "5", "Say hello.")
        app.xdo("key", "Return")
        _until(
            lambda: _answer(db) == "Hello! How can I help you today?",
            f"no stored answer: {_answer(db)!r}",
            30,
        )
        app.xdo("key", "Escape")
        _until(lambda: not app.visible("Quick Prompt"), "Esc should hide the quick prompt")
        app.xdo("key", "ctrl+alt+space")  # the hotkey brings it back
        app.xdo("search", "--sync", "--onlyvisible", "--name", "^Quick Prompt$")
        app.xdo("key", "ctrl+alt+space")  # and hides it again
        _until(lambda: not app.visible("Quick Prompt"), "the hotkey should also hide it")
        app.xdo("windowfocus", "--sync", app.window)
        app.xdo("key", "ctrl+q")
        assert app.proc.wait(30) == 0
        out = app.output()
    assert "Traceback" not in out, out


def test_a_second_launch_brings_the_first_forward(_isolated_home):
    with desktop_chat_on_x() as app:
        time.sleep(1)
        app.xdo("windowunmap", "--sync", app.window)  # out of sight
        assert not app.visible("Desktop Chat")
        second = subprocess.run(
            [sys.executable, "-m", "desktop_chat"], env=app.env, capture_output=True, timeout=20
        )
        assert second.returncode == 0, "the second copy leaves at once, successfully"
        _until(
            lambda: app.visible("Desktop Chat") == [app.window],
            "the first copy's window came forward, and no second one",
            10,
        )
        assert app.proc.poll() is None
        app.xdo("windowfocus", "--sync", app.window)
        app.xdo("key", "ctrl+q")
        assert app.proc.wait(30) == 0


def test_a_taken_hotkey_is_reported_in_the_window(qapp, _isolated_home, monkeypatch):
    from desktop_chat.gui.app import _refresh
    from desktop_chat.gui.hotkey_host import HotkeyHost
    from desktop_chat.platform.hotkey import parse, register

    require_programs("Xvfb")
    with xvfb() as display:
        monkeypatch.setenv("DISPLAY", display)
        other = register(parse("ctrl+alt+space"), lambda: None)  # another app holds it
        try:
            with running_window(qapp) as (loop, window):
                host = HotkeyHost()
                loop.run_until_complete(_refresh(window.controller, window, host))
                notes = window.welcome.notes.text()
                assert "Ctrl+Alt+Space is already used by another app" in notes, notes
                assert "Settings" in notes
                assert host.problem and host.backend is None
                host.release()
        finally:
            other.close()


def test_quick_prompt_with_clipboard_files_and_continue(qapp, qtbot, fake, tmp_path):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    fake.script = [Step(pieces=["A **short** ", "answer."])]
    note = tmp_path / "note.md"
    note.write_text("Remember the milk.")
    with running_window(qapp) as (loop, window):
        quick = quick_prompt_for(window)

        async def scenario():
            await window.controller.refresh()
            quick.present()
            assert quick.isVisible() and quick.windowTitle() == "Quick Prompt"
            assert quick.focusWidget() is quick.input
            QApplication.clipboard().setText("text copied elsewhere")
            quick.use_clipboard.setChecked(True)
            mime = QMimeData()
            mime.setUrls([QUrl.fromLocalFile(str(note))])
            QApplication.sendEvent(
                quick,
                QDragEnterEvent(
                    QPointF(10, 10),
                    Qt.DropAction.CopyAction,
                    mime,
                    Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier,
                ),
            )
            QApplication.sendEvent(
                quick,
                QDropEvent(
                    QPointF(10, 10),
                    Qt.DropAction.CopyAction,
                    mime,
                    Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier,
                ),
            )
            assert "note.md" in quick.attached.text()
            qtbot.keyClicks(quick.input, "What should I buy?")
            qtbot.keyClick(quick.input, Qt.Key.Key_Return)
            await wait_for(lambda: quick.continue_button.isEnabled(), what="the answer")
            await asyncio.sleep(0.1)
            screenshot(quick, "quick-prompt")
            assert quick.reply.text == "A **short** answer."
            qtbot.mouseClick(quick.continue_button, Qt.MouseButton.LeftButton)
            await wait_for(lambda: window.view.replies(), what="the main window")

        loop.run_until_complete(scenario())
        sent = fake.requests[-1]["body"]["messages"][-1]["content"]
        assert sent.startswith("What should I buy?")
        assert "text copied elsewhere" in sent and "Remember the milk." in sent
        assert not quick.isVisible()
        assert window.view.replies()[-1].text == "A **short** answer."
        assert window.sidebar.list.item(0).text() == "What should I buy?"


def test_tray_menu_offers_the_app_and_acts(qapp, fake):
    from desktop_chat.gui.hotkey_host import HotkeyHost
    from desktop_chat.gui.quick_prompt import quick_prompt_for
    from desktop_chat.gui.tray import Tray

    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        window.controller.store.new_conversation("An old chat")
        quit_asked = []
        host = HotkeyHost()
        host.label = "Ctrl+Alt+Space"
        tray = Tray(window, quick_prompt_for(window), host, lambda: quit_asked.append(1))
        assert not tray.icon.icon().isNull()
        sizes = {(s.width(), s.height()) for s in tray.icon.icon().availableSizes()}
        assert {(18, 18), (36, 36)} <= sizes, "the template icon at 1x and 2x"
        tray.menu.aboutToShow.emit()  # rebuilt each time it opens
        texts = [a.text() for a in tray.menu.actions()]
        assert texts[0] == "Quick Prompt\tCtrl+Alt+Space"
        assert {"New Chat", "Show Window", "An old chat", "Settings…", "Quit Desktop Chat"} <= set(
            texts
        )
        model_menu = next(a for a in tray.menu.actions() if a.text().startswith("Model: "))
        assert model_menu.text() == "Model: m"
        assert [a.text() for a in model_menu.menu().actions()] == ["m"]
        window.hide()
        next(a for a in tray.menu.actions() if a.text() == "Show Window").trigger()
        assert window.isVisible()
        next(a for a in tray.menu.actions() if a.text() == "An old chat").trigger()
        next(a for a in tray.menu.actions() if a.text().startswith("Quick Prompt")).trigger()
        assert window.quick_prompt.isVisible()
        window.quick_prompt.hide()
        next(a for a in tray.menu.actions() if a.text() == "Quit Desktop Chat").trigger()
        assert quit_asked == [1]
        loop.run_until_complete(asyncio.sleep(0.05))
