"""The Qt application on a qasync loop.

The window appears before any heavy import: settings, local servers and cached models are
looked for after it is shown, and the heavy libraries are imported in the background so the
first send does not wait for them: importing them up front would keep the window from
appearing for seconds.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import threading

from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QApplication

from desktop_chat import __version__

log = logging.getLogger(__name__)

#: Imported in the background once the window is up, in this order (the likeliest first).
WARM_UP = ("openai", "pygments.lexers", "pygments.formatters", "httpx", "huggingface_hub")


def warm_up(stop: threading.Event, names: tuple[str, ...] = WARM_UP) -> threading.Thread:
    """Quitting skips the imports not yet begun and waits for the one under way, before Qt is
    torn down: PySide6 wraps ``__import__``, and an import still running while the app and
    the interpreter shut down crashes the process (seen here when the window was closed
    within a second of opening)."""

    def work() -> None:
        for name in names:
            if stop.is_set():
                return
            try:
                importlib.import_module(name)
            except Exception:  # the first send imports it again and says what is wrong
                log.exception("warming up %s failed", name)

    thread = threading.Thread(target=work, name="warm-up")
    thread.start()
    return thread


async def _main(window, quit_event, hotkey=None) -> None:
    import asyncio

    controller = window.controller
    asyncio.get_running_loop().set_exception_handler(_log_loop_error)
    controller.spawn(_refresh(controller, window, hotkey))
    from desktop_chat.gui import prompt_cache_files

    # The prompt caches of chats deleted by a copy that quit before it could remove them.
    controller.spawn(prompt_cache_files.tidy(controller.models, controller.store))
    stop_warming = threading.Event()
    warming = warm_up(stop_warming)
    await quit_event.wait()
    log.info("quitting")
    stop_warming.set()
    # Quitting mid-reply or mid-download must not leave work half-done on a dead loop, nor the
    # engine's thread running.
    await controller.aclose()
    if hotkey is not None:
        hotkey.release()
    warming.join()


async def _refresh(controller, window, hotkey=None) -> None:
    problems: list[str] = []
    if hotkey is not None:
        # As soon as the settings are read (loading a local model can take seconds), and
        # again whenever Settings change them.
        applied: list = []

        def settings_loaded() -> None:
            from desktop_chat.platform.dock import set_menu_bar_only

            wanted = (controller.settings.hotkey, controller.settings.menu_bar_only)
            if applied and applied[-1] == wanted:
                return
            if wanted[1] is not None:  # only the user's own choice: the bundle's stands
                set_menu_bar_only(wanted[1])
            problem = hotkey.apply(wanted[0])
            controller.hotkey_note = hotkey.problem
            if applied and problem:  # a change made in Settings: say so now
                controller.notice.emit(problem, "")
            problems.append(problem)
            applied.append(wanted)

        controller.models.settings_loaded.connect(settings_loaded)
    try:
        await controller.refresh()
    except Exception as exc:  # the window stays useful whatever the background check meets
        log.exception("looking for settings and models failed")
        from desktop_chat.hub import RECOMMENDED

        # The ways in all the same (a provider can still be added, a model downloaded), and
        # what went wrong above them.
        window.welcome.show_options([], RECOMMENDED, set(), f"Could not look for models: {exc}")
        return
    if any(problems):  # said in the window, never silently dropped
        controller.notice.emit(problems[0], "")


def run(argv: list[str]) -> int:
    from desktop_chat.gui.main_window import APP_TITLE, MainWindow
    from desktop_chat.gui.quitting import App, SignalQuitter

    app = QApplication.instance() or App(argv)
    app.setApplicationName(APP_TITLE)
    app.setApplicationVersion(__version__)
    from desktop_chat.gui.single_instance import InstanceServer, ask_running_copy, server_name
    from desktop_chat.paths import app_paths

    name = server_name(str(app_paths().data_dir))
    if ask_running_copy(name):
        return 0  # the running copy shows its window
    window = MainWindow()
    window.show()
    app.processEvents()  # the first frame is on screen before the rest is even imported
    instance = InstanceServer(name, app)
    instance.show_requested.connect(window.bring_forward)
    # asyncio alone costs about as much as the bare window: it comes after the first frame.
    import asyncio

    import qasync

    from desktop_chat import logs

    logs.setup(app_paths())
    sys.excepthook = _log_uncaught
    log.info(
        "Desktop Chat %s starting (Python %s, Qt %s, %s)",
        __version__,
        sys.version.split()[0],
        qVersion(),
        sys.platform,
    )

    from desktop_chat.gui.controller import ChatController
    from desktop_chat.gui.hotkey_host import HotkeyHost
    from desktop_chat.gui.quick_prompt import quick_prompt_for
    from desktop_chat.gui.tray import Tray

    quit_event = asyncio.Event()
    window.on_quit = quit_event.set
    # ⌘Q from the application menu, Dock → Quit, logout, QApplication.quit() and SIGTERM all
    # come here too, instead of stopping the loop under the running tasks.
    if isinstance(app, App):
        app.on_quit = quit_event.set
    quitter = SignalQuitter(app)
    window.attach(ChatController())
    quick = quick_prompt_for(window)
    hotkey = HotkeyHost(app)
    hotkey.pressed.connect(quick.toggle)
    tray = Tray(window, quick, hotkey, quit_event.set, app)
    # The loop ends when _main returns, never under it: Qt's own quit-on-last-window would stop
    # the loop while tasks are still running. With a menu-bar icon, closing the window keeps
    # the app there (Quit quits); with none to live in, closing the window quits.
    app.setQuitOnLastWindowClosed(False)
    if not tray.show():
        app.lastWindowClosed.connect(quit_event.set)
    from desktop_chat.gui.activation import DockReopen

    window.dock_reopen = DockReopen(window, lambda: window.controller.settings.dock_hidden(), app)
    with contextlib.suppress(asyncio.CancelledError):
        qasync.run(_main(window, quit_event, hotkey))
    quitter.close()
    log.info("quit")
    return 0


def _log_uncaught(kind, value, tb) -> None:
    """An error in a Qt slot: logged with its traceback; the app runs on (the default hook
    would print it to a terminal the user never sees)."""
    log.critical("uncaught error", exc_info=(kind, value, tb))


def _log_loop_error(loop, context: dict) -> None:
    exc = context.get("exception")
    log.error(
        "error on the event loop: %s",
        context.get("message"),
        exc_info=(type(exc), exc, exc.__traceback__) if exc else None,
    )


if __name__ == "__main__":
    sys.exit(run(sys.argv))
