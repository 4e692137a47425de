"""``desktop-chat`` opens a real window, titled "Desktop Chat", fast and before heavy imports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.system import require_programs
from tests.support.xvfb import xvfb

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def test_desktop_chat_shows_its_window_under_xvfb(tmp_path):
    require_programs("Xvfb", "xdotool")
    with xvfb() as display:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "desktop_chat"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            found = subprocess.run(
                ["xdotool", "search", "--sync", "--onlyvisible", "--name", "^Desktop Chat$"],
                env=env, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            shown_after = time.perf_counter() - start
            assert found.returncode == 0 and found.stdout.strip(), "no window named Desktop Chat"
            window = found.stdout.split()[0]
            geometry = subprocess.run(["xdotool", "getwindowgeometry", window], env=env,
                                      capture_output=True, text=True, check=True).stdout  # fmt: skip
            assert "1100x750" in geometry
            assert proc.poll() is None, "the app should keep running"
            # Ctrl+W closes the window, which quits the app cleanly.
            subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, check=True)
            subprocess.run(["xdotool", "key", "--window", window, "ctrl+w"], env=env, check=True)
            assert proc.wait(15) == 0, proc.stdout.read().decode(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    out = proc.stdout.read().decode(errors="replace")
    assert "Traceback" not in out, out
    assert shown_after < 10


def test_window_reports_settings_errors_and_what_it_found(qtbot, _isolated_home):
    """The welcome panel shows a broken settings file's message instead of failing."""
    import asyncio

    from desktop_chat.gui.app import MainWindow, describe_reach

    config = _isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[defaults]\ntemperature = 'hot'\n")
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.show_status(asyncio.run(describe_reach()))
    text = window.status.text()
    assert "config.toml, line 2" in text and "defaults.temperature" in text
    qtbot.wait(100)  # let the layout take the new text's height before the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    assert window.grab().save(str(ARTIFACTS / "welcome-settings-error.png"))
