"""The app keeps a rotating log in its log folder: start, settings, models, each reply's
timings and every error with its traceback; never a key, and no message text unless the
user turns on the debug switch. The menu-bar menu reveals it."""

from __future__ import annotations

import time

import pytest

from tests.support.fake_openai import Step, as_provider
from tests.support.xvfb import desktop_chat_on_x

KEY = "sk-test-abcdefghijklmnop1234567890"


def _ask_and_quit(home, monkeypatch, *, debug: bool) -> str:
    monkeypatch.setenv("FAKE_API_KEY", KEY)
    if debug:
        monkeypatch.setenv("DESKTOP_CHAT_DEBUG", "1")
    with as_provider(home) as fake:
        fake.script = [
            Step(pieces=["Paris."]),
            Step(status=401, error=f"Incorrect API key provided: {KEY}. Bearer {KEY}"),
        ]
        with desktop_chat_on_x() as app:
            app.xdo("windowfocus", "--sync", app.window)
            for question in ("Secret question one", "Secret question two"):
                before = len(fake.requests)
                app.xdo("type", "--delay", "1", question)
                app.xdo("key", "Return")
                deadline = time.monotonic() + 30
                while len([r for r in fake.requests[before:] if r["method"] == "POST"]) < 1:
                    assert time.monotonic() < deadline, app.output()
                    time.sleep(0.1)
                time.sleep(0.8)
            app.xdo("key", "ctrl+q")
            assert app.proc.wait(30) == 0
            out = app.output()
    assert "Traceback" not in out, out
    return (home / "logs" / "desktop-chat.log").read_text()


def test_the_log_has_what_happened_and_no_key_or_message_text(_isolated_home, monkeypatch):
    text = _ask_and_quit(_isolated_home, monkeypatch, debug=False)
    for expected in (
        "starting",
        "settings read",
        "model chosen: fake:m",
        "sending to",
        "reply from m: ttft_s=",
        "failed",
        "quitting",
    ):
        assert expected in text, f"{expected!r} not in the log:\n{text}"
    assert KEY not in text and "[redacted]" in text
    assert "Secret question" not in text and "Paris." not in text


def test_the_debug_switch_adds_message_text_and_still_no_key(_isolated_home, monkeypatch):
    text = _ask_and_quit(_isolated_home, monkeypatch, debug=True)
    assert "Secret question one" in text and "Paris." in text
    assert KEY not in text


def test_an_unexpected_error_in_a_reply_is_said_and_logged_with_its_traceback(
    qapp, qtbot, fake, _isolated_home
):
    from desktop_chat import logs
    from desktop_chat.paths import app_paths
    from tests.support.gui import reply_done, running_window, type_and_send, wait_for

    path = logs.setup(app_paths())
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())

        def broken(*args, **kwargs):
            raise RuntimeError("a bug in the app")

        provider = loop.run_until_complete(
            window.controller.models.ready_provider(window.controller.choice)
        )
        provider.stream = broken
        type_and_send(qtbot, window, "Hello")
        loop.run_until_complete(wait_for(lambda: reply_done(window)))
        banner = window.view.items[-1]
        assert "Something went wrong" in banner.message.text()
        assert window.composer.edit.toPlainText() == "" and window.controller.conversation.messages
    logs.setup(app_paths())  # closes the handler before the test's folder goes
    text = path.read_text()
    assert "Traceback" in text and "RuntimeError: a bug in the app" in text


def test_the_menu_bar_menu_reveals_the_log(qapp, fake, _isolated_home, monkeypatch):
    from desktop_chat.gui import reveal
    from desktop_chat.gui.hotkey_host import HotkeyHost
    from desktop_chat.gui.quick_prompt import quick_prompt_for
    from desktop_chat.gui.tray import Tray
    from tests.support.gui import running_window

    opened = []
    monkeypatch.setattr(reveal.QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    with running_window(qapp) as (_loop, window):
        tray = Tray(window, quick_prompt_for(window), HotkeyHost(), lambda: None)
        tray.menu.aboutToShow.emit()
        action = next(a for a in tray.menu.actions() if a.text() == "Show Log")
        action.trigger()
    assert [u.toLocalFile() for u in opened] == [str(_isolated_home / "logs")]


@pytest.fixture(autouse=True)
def _quiet_logger():
    """Each test's handler is its own: none is left writing into another test's folder."""
    import logging

    yield
    logger = logging.getLogger("desktop_chat")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def test_on_a_mac_finder_shows_the_log_selected(tmp_path, monkeypatch):
    """``open -R`` is played by a stand-in on PATH that records its arguments."""
    import os
    import types

    from desktop_chat.platform import finder

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "open").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "open").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    log_file = tmp_path / "logs" / "desktop-chat.log"
    log_file.parent.mkdir()
    log_file.write_text("started\n")
    monkeypatch.setattr(finder, "sys", types.SimpleNamespace(platform="darwin"))
    assert finder.reveal_in_finder(log_file) is True
    assert calls.read_text().split() == ["-R", str(log_file)]
    assert finder.reveal_in_finder(tmp_path / "missing.log") is None  # nothing to select
    assert finder.reveal_in_finder(log_file, platform="linux") is None
