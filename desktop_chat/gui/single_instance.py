"""One copy of the app: a second launch asks the first to show its window, then exits.

The first copy listens on a ``QLocalServer`` at a socket path named after the app's data
folder (so a test or ``DESKTOP_CHAT_HOME`` copy is its own instance); a later launch connects,
says "show", waits for "ok" and leaves with status 0. The asking side uses the standard
library's socket: it runs before the window exists, where Qt's network module would cost a
tenth of the start-up time.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from desktop_chat.instance_socket import ask_running_copy, server_name

__all__ = ["InstanceServer", "ask_running_copy", "server_name"]


class InstanceServer(QObject):
    """Listens for later launches; ``show_requested`` asks the window to come forward."""

    show_requested = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtNetwork import QLocalServer

        self.server = QLocalServer(self)
        QLocalServer.removeServer(name)  # a socket file left by a copy that crashed
        self.listening = self.server.listen(name)
        self.server.newConnection.connect(self._connected)

    @Slot()
    def _connected(self) -> None:
        while (socket := self.server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._read(s))

    def _read(self, socket) -> None:
        if bytes(socket.readAll().data()).strip() == b"show":
            socket.write(b"ok\n")
            socket.flush()
            self.show_requested.emit()
        socket.disconnectFromServer()
