"""The asking side of "one copy of the app": where the running copy listens, and asking it to
show its window. Standard library only: it runs before the window exists, where Qt's network
module would cost a tenth of the start-up time (the listening side is
``gui.single_instance``)."""

from __future__ import annotations

import os


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
