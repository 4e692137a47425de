"""Every way of quitting ends in the app's one orderly shutdown (stop the reply, save it, stop
the engine's thread, then leave the loop).

On a Mac, ⌘Q from the application menu, Dock → Quit and logout reach AppKit's ``terminate:``;
Qt's cocoa plugin answers ``applicationShouldTerminate`` by sending ``QEvent.Quit`` to the
application, and quits its event loop if the event is accepted. ``QApplication.quit()`` sends
the same event everywhere. Left alone, the loop would stop under qasync, whose
``run_until_complete`` then raises "Event loop stopped before Future completed" and nothing
after it runs. So the application refuses the event (on a Mac that answers "cancel" to AppKit)
and asks for the orderly shutdown instead, which then ends the process itself.

SIGTERM and SIGINT (``kill``, Ctrl+C in a terminal, launchd at logout) take the same road:
they are read from a wake-up socket on Qt's loop and turned into ``QApplication.quit()``.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QSocketNotifier, Slot
from PySide6.QtWidgets import QApplication

#: The signals that quit the app, by name (``signal`` and ``socket`` are imported once the
#: window is up: about 10 ms that its first frame does not wait for).
QUIT_SIGNALS = ("SIGTERM", "SIGINT")


class App(QApplication):
    """The application object; only events sent to it cross into Python here (an event
    filter on the application would see every event of every widget)."""

    #: Called instead of quitting when the system or ``quit()`` asks the app to quit.
    on_quit: Callable[[], None] | None = None

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Quit and self.on_quit is not None:
            event.ignore()  # the loop keeps running until the shutdown is done
            self.on_quit()
            return True
        return super().event(event)


class SignalQuitter(QObject):
    """Turns SIGTERM/SIGINT into ``QApplication.quit()`` on the GUI thread. Python runs a
    signal handler only when it next runs Python code, which Qt's loop may not do for a long
    time; the C-level wake-up byte on a socket that Qt watches is read at once."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        import signal
        import socket

        self._signals = tuple(getattr(signal, name) for name in QUIT_SIGNALS)
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        self._write.setblocking(False)
        self._previous = signal.set_wakeup_fd(self._write.fileno())
        for number in self._signals:
            signal.signal(number, lambda *_: None)  # the wake-up byte does the work
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._woken)

    @Slot()
    def _woken(self) -> None:
        try:
            data = self._read.recv(64)
        except BlockingIOError:
            return
        if any(byte in {int(n) for n in self._signals} for byte in data):
            QApplication.quit()

    def close(self) -> None:
        import signal

        self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._previous)
        for number in self._signals:
            signal.signal(number, signal.SIG_DFL)
        self._read.close()
        self._write.close()
