"""A private Xvfb display for tests that need a real X server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator


@contextlib.contextmanager
def xvfb(size: str = "1280x800x24") -> Iterator[str]:
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it when ready.
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write)
    try:
        number = b""
        deadline = time.monotonic() + 20
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            chunk = os.read(read, 16)
            if not chunk:
                break
            number += chunk
        if not number.strip():
            raise RuntimeError("Xvfb did not start")
        yield f":{number.strip().decode()}"
    finally:
        os.close(read)
        proc.terminate()
        proc.wait(10)
