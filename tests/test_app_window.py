"""``desktop-chat`` opens a real window, titled "Desktop Chat", fast and before heavy imports."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.support.xvfb import desktop_chat_on_x

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def test_desktop_chat_shows_its_window_under_xvfb():
    with desktop_chat_on_x() as app:
        geometry = app.xdo("getwindowgeometry", app.window)
        assert "1100x750" in geometry
        assert app.proc.poll() is None, "the app should keep running"
        # Ctrl+W closes the window; with no menu bar to live in, that quits the app cleanly.
        app.xdo("windowfocus", "--sync", app.window)
        # As typed (XTEST), not sent to the window: the window is gone before the key is up.
        app.xdo("key", "ctrl+w")
        assert app.proc.wait(15) == 0, app.output()
        out = app.output()
    assert "Traceback" not in out, out
    assert app.shown_s < 10


def test_first_launch_offers_servers_models_and_providers(
    qapp, _isolated_home, tiny_model_dir, monkeypatch
):
    """A newcomer sees the local server found on this machine, small models to download with
    their sizes, Add a provider, and a broken settings file's message instead of a failure."""
    from tests.support.gui import running_window, screenshot
    from tests.support.servers import free_port, mlx_server
    from tests.support.settings import write_config

    # Jan's name on a port of the test's own: the user's own Jan on 1337 is never asked.
    port = free_port()
    write_config(_isolated_home, "[defaults]\ntemperature = 'hot'\n")
    monkeypatch.setenv("DESKTOP_CHAT_LOCAL_SERVERS", f"jan={port}")
    with mlx_server(tiny_model_dir, port=port) as server, running_window(qapp) as (loop, window):
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

    write_config(_isolated_home, f'default_model = "{tiny_model_dir}"\n')
    with desktop_chat_on_x() as app:
        app.xdo("windowfocus", "--sync", app.window)
        time.sleep(4)  # settings read, model loading on the engine's thread
        app.xdo("type", "--delay", "5", "Tell me a story.")
        app.xdo("key", "Return", "ctrl+q")
        assert app.proc.wait(30) == 0
        out = app.output()
    assert "Traceback" not in out and "QThread" not in out, out


def test_when_looking_for_models_fails_the_welcome_still_offers_its_ways_in(
    qapp, _isolated_home, monkeypatch
):
    """The first frame's panel has no cards (nothing can be chosen yet); a look-up that fails
    must still leave the user something to click: Add a provider, the models to download."""
    from desktop_chat.gui.app import _refresh
    from tests.support.gui import running_window

    with running_window(qapp) as (loop, window):

        async def failing():
            raise RuntimeError("the settings folder could not be read")

        monkeypatch.setattr(window.controller, "refresh", failing)
        loop.run_until_complete(_refresh(window.controller, window))
        notes = window.welcome.notes.text()
        assert notes == "Could not look for models: the settings folder could not be read"
        assert "add-provider" in window.welcome.buttons, "Add a provider is still there"
        assert len(window.welcome.buttons) > 1, "and the models to download"
