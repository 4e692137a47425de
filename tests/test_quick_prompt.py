"""The menu-bar app: the global hotkey opens the quick prompt (real app under Xvfb, keys from
xdotool), the quick prompt answers and hands over to the main window, the tray menu, and a
second launch that brings the first copy forward instead of starting again."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.gui import running_window, screenshot, wait_for
from tests.support.settings import write_config
from tests.support.system import require_programs
from tests.support.xvfb import xvfb

pytestmark = pytest.mark.slow


def _xdo(env, *args, check=True, timeout=30) -> str:
    done = subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=check)  # fmt: skip
    return done.stdout.strip()


def _visible(env, name: str) -> list[str]:
    out = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", f"^{name}$"], env=env,
                         capture_output=True, text=True)  # fmt: skip
    return out.stdout.split()


def _answer(db: Path) -> str | None:
    if not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT content FROM messages WHERE role = 'assistant'"
                          " AND interrupted = 0 ORDER BY id DESC LIMIT 1").fetchone()  # fmt: skip
    except sqlite3.OperationalError:
        row = None
    con.close()
    return row[0] if row else None


def _start(env):
    return subprocess.Popen([sys.executable, "-m", "desktop_chat"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def test_the_hotkey_opens_the_quick_prompt_which_answers(tiny_model_dir, _isolated_home):
    require_programs("Xvfb", "xdotool")
    write_config(_isolated_home, f'default_model = "{tiny_model_dir}"\n'
                 "[defaults]\ntemperature = 0.0\n")  # fmt: skip
    with xvfb() as display:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        proc = _start(env)
        try:
            main = _xdo(env, "search", "--sync", "--onlyvisible", "--name", "^Desktop Chat$")
            time.sleep(4)  # settings read, hotkey registered, the model loaded
            _xdo(env, "key", "ctrl+alt+space")
            quick = _xdo(env, "search", "--sync", "--onlyvisible", "--name", "^Quick Prompt$")
            deadline = time.monotonic() + 5
            while _xdo(env, "getwindowfocus") != quick.split()[0]:
                assert time.monotonic() < deadline, "the quick prompt did not take the focus"
                time.sleep(0.05)
            _xdo(env, "type", "--delay", "5", "Say hello.")
            _xdo(env, "key", "Return")
            db = _isolated_home / "data" / "conversations.sqlite3"
            deadline = time.monotonic() + 30
            while _answer(db) != "Hello! How can I help you today?":
                assert time.monotonic() < deadline, f"no stored answer: {_answer(db)!r}"
                time.sleep(0.1)
            _xdo(env, "key", "Escape")
            deadline = time.monotonic() + 5
            while _visible(env, "Quick Prompt"):
                assert time.monotonic() < deadline, "Esc should hide the quick prompt"
                time.sleep(0.05)
            _xdo(env, "key", "ctrl+alt+space")  # the hotkey brings it back
            _xdo(env, "search", "--sync", "--onlyvisible", "--name", "^Quick Prompt$")
            _xdo(env, "key", "ctrl+alt+space")  # and hides it again
            deadline = time.monotonic() + 5
            while _visible(env, "Quick Prompt"):
                assert time.monotonic() < deadline, "the hotkey should also hide it"
                time.sleep(0.05)
            _xdo(env, "windowfocus", "--sync", main.split()[0])
            _xdo(env, "key", "ctrl+q")
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    out = proc.stdout.read().decode(errors="replace")
    assert "Traceback" not in out, out


def test_a_second_launch_brings_the_first_forward(_isolated_home):
    require_programs("Xvfb", "xdotool")
    with xvfb() as display:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        first = _start(env)
        try:
            main = _xdo(env, "search", "--sync", "--onlyvisible", "--name", "^Desktop Chat$")
            main = main.split()[0]
            time.sleep(1)
            _xdo(env, "windowunmap", "--sync", main)  # out of sight
            assert not _visible(env, "Desktop Chat")
            second = _start(env)
            assert second.wait(20) == 0, "the second copy leaves at once, successfully"
            deadline = time.monotonic() + 10
            while _visible(env, "Desktop Chat") != [main]:
                assert time.monotonic() < deadline, "the first copy's window came forward"
                time.sleep(0.05)
            _xdo(env, "windowfocus", "--sync", main)
            assert len(_visible(env, "Desktop Chat")) == 1, "no second window"
            assert first.poll() is None
            _xdo(env, "key", "ctrl+q")
            assert first.wait(30) == 0
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()


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


@pytest.fixture
def fake(_isolated_home):
    with FakeOpenAI() as server:
        write_config(_isolated_home, f"""
default_model = "fake:m"
[providers.fake]
base_url = "{server.base_url}"
models = ["m"]
""")  # fmt: skip
        yield server


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
            QApplication.sendEvent(quick, QDragEnterEvent(QPointF(10, 10), Qt.DropAction.CopyAction,
                                                          mime, Qt.MouseButton.LeftButton,
                                                          Qt.KeyboardModifier.NoModifier))  # fmt: skip
            QApplication.sendEvent(quick, QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction,
                                                     mime, Qt.MouseButton.LeftButton,
                                                     Qt.KeyboardModifier.NoModifier))  # fmt: skip
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
        assert {"New Chat", "Show Window", "An old chat", "Settings…",
                "Quit Desktop Chat"} <= set(texts)  # fmt: skip
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
