"""The real main window on a qasync loop, for tests that act as the user."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@contextlib.contextmanager
def running_window(qapp) -> Iterator[tuple[asyncio.AbstractEventLoop, object]]:
    """A shown ``MainWindow`` with its controller; everything it started is stopped after."""
    import qasync

    from desktop_chat.gui.controller import ChatController
    from desktop_chat.gui.engine_thread import EngineThread
    from desktop_chat.gui.main_window import MainWindow

    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    errors: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    window = MainWindow(ChatController())
    window.show()
    try:
        yield loop, window
    finally:
        loop.run_until_complete(window.controller.aclose())
        window.close()
        window.deleteLater()
        loop.run_until_complete(asyncio.sleep(0.05))
        loop.close()
        _kill_timers(loop)
        asyncio.set_event_loop(None)
        assert not EngineThread.running, "the engine's QThread is still running"
    assert not errors, f"errors reached the event loop: {errors}"


def _kill_timers(loop) -> None:
    """qasync's ``close()`` only flags its timer object as stopped; Qt timers still pending
    (an ``asyncio.sleep`` or a keep-alive cut short) stay registered. If Python later frees
    that object on another thread (the engine's), Qt cannot unregister them and the next
    test's event loop crashes on a dangling timer. One loop per app never meets this; a loop
    per test does, so the test kills them here, on the GUI thread."""
    timer = loop._timer
    callbacks = timer._SimpleTimer__callbacks
    for timer_id in list(callbacks):
        timer.killTimer(timer_id)
    callbacks.clear()


async def wait_for(condition: Callable[[], object], limit_s: float = 60.0, what: str = ""):
    """Let the loop run until ``condition()`` is true."""
    deadline = time.monotonic() + limit_s
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)
    return result


def screenshot(widget, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert widget.grab().save(str(path)), f"could not save {path}"
    return path


def type_and_send(qtbot, window, text: str) -> None:
    from PySide6.QtCore import Qt

    edit = window.composer.edit
    edit.setFocus()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def reply_done(window) -> bool:
    """No reply streaming, and the last one rendered to the end."""
    return not window.controller.busy and window.reply is None
