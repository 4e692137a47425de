"""``desktop-chat`` opens a real window, titled "Desktop Chat", fast and before heavy imports."""

from __future__ import annotations

import asyncio
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


def test_first_launch_offers_servers_models_and_providers(qapp, _isolated_home, tiny_model_dir):
    """A newcomer sees the local server found on this machine, small models to download with
    their sizes, Add a provider, and a broken settings file's message instead of a failure."""
    import socket

    from tests.support.gui import running_window, screenshot
    from tests.support.servers import mlx_server
    from tests.support.settings import write_config

    write_config(_isolated_home, "[defaults]\ntemperature = 'hot'\n")
    with socket.socket() as probe:  # Jan's port, one of those discovery knocks on
        assert probe.connect_ex(("127.0.0.1", 1337)) != 0, "port 1337 is taken on this machine"
    with mlx_server(tiny_model_dir, port=1337) as server, running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        assert window.stack.currentWidget() is window.welcome
        buttons = window.welcome.buttons
        assert f"jan:{server.model_id}" in buttons, sorted(buttons)
        assert "mlx-community/Llama-3.2-1B-Instruct-4bit" in buttons
        assert buttons["mlx-community/Llama-3.2-1B-Instruct-4bit"].text() == "Download"
        assert "add-provider" in buttons
        notes = window.welcome.notes.text()
        assert "config.toml, line 2" in notes and "defaults.temperature" in notes
        loop.run_until_complete(asyncio.sleep(0.1))  # let the layout settle for the picture
        screenshot(window, "first-launch")
        # Choosing the server opens the conversation, ready to type.
        buttons[f"jan:{server.model_id}"].click()
        loop.run_until_complete(asyncio.sleep(0.1))
        assert window.stack.currentWidget() is window.view
        assert window.controller.choice.provider.name == "jan"


def test_quitting_mid_reply_under_xvfb_leaves_nothing_running(tiny_model_dir, _isolated_home):
    """The real app, a local model, a prompt typed with xdotool, then ⌘Q / Ctrl+Q while the
    reply streams: exit 0, no traceback, no 'QThread destroyed while running'."""
    from tests.support.settings import write_config

    require_programs("Xvfb", "xdotool")
    write_config(_isolated_home, f'default_model = "{tiny_model_dir}"\n')
    with xvfb() as display:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        proc = subprocess.Popen([sys.executable, "-m", "desktop_chat"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            found = subprocess.run(
                ["xdotool", "search", "--sync", "--onlyvisible", "--name", "^Desktop Chat$"],
                env=env, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            window = found.stdout.split()[0]
            subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, check=True)
            time.sleep(4)  # settings read, model loading on the engine's thread
            subprocess.run(["xdotool", "type", "--delay", "5", "Tell me a story."], env=env,
                           check=True)  # fmt: skip
            subprocess.run(["xdotool", "key", "Return", "ctrl+q"], env=env, check=True)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    out = proc.stdout.read().decode(errors="replace")
    assert "Traceback" not in out and "QThread" not in out, out
