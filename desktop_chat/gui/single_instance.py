"""One copy of the app: a second launch asks the first to show its window, then exits.

The first copy listens on a ``QLocalServer`` at a socket path named after the app's data
folder (so a test or ``DESKTOP_CHAT_HOME`` copy is its own instance); a later launch connects,
says "show", waits for "ok" and leaves with status 0. The asking side uses the standard
library's socket: it runs before the window exists, where Qt's network module would cost a
tenth of the start-up time.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal, Slot


def server_name(data_dir: str) -> str:
    # FNV-1a: a stable name without importing hashlib and tempfile before the first frame.
    digest = 0xCBF29CE484222325
    for byte in data_dir.encode():
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    temp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(temp, f"desktop-chat-{digest:016x}.sock")


def ask_running_copy(name: str, timeout_s: float = 2.0) -> bool:
    """True when another copy answered (it is now showing its window)."""
    if not os.path.exists(name):
        return False
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout_s)
        try:
            client.connect(name)
            client.sendall(b"show\n")
            return client.recv(16) == b"ok\n"
        except OSError:  # a socket file left by a copy that crashed
            return False


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
