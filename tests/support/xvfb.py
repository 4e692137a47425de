"""A private Xvfb display for tests that need a real X server."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass


@contextlib.contextmanager
def xvfb(size: str = "1280x800x24") -> Iterator[str]:
    read, write = os.pipe()
    # -displayfd: Xvfb picks a free display number and writes it when ready.
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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


@dataclass
class RunningApp:
    """The real ``desktop-chat`` process on a private X display, its main window found."""

    env: dict[str, str]
    proc: subprocess.Popen
    #: The main window's X id.
    window: str
    display: str
    #: Seconds from starting the process to its window being visible.
    shown_s: float

    def xdo(self, *args: str, check: bool = True, timeout: float = 30) -> str:
        done = subprocess.run(
            ["xdotool", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )
        return done.stdout.strip()

    def visible(self, name: str) -> list[str]:
        return self.xdo("search", "--onlyvisible", "--name", f"^{name}$", check=False).split()

    def output(self) -> str:
        """Everything the app printed. Read to the end, so a running app is stopped first:
        a failing assertion that quotes it must fail, not wait forever for the app to exit."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        return self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""


@contextlib.contextmanager
def desktop_chat_on_x() -> Iterator[RunningApp]:
    """Start the app under Xvfb (xcb), wait for its window; kill it if a test leaves it."""
    from tests.support.system import require_programs

    require_programs("Xvfb", "xdotool")
    with xvfb() as display:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "desktop_chat"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            found = subprocess.run(
                ["xdotool", "search", "--sync", "--onlyvisible", "--name", "^Desktop Chat$"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert found.returncode == 0 and found.stdout.strip(), "no window named Desktop Chat"
            yield RunningApp(
                env, proc, found.stdout.split()[0], display, time.perf_counter() - start
            )
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
