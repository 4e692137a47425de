"""Python code run in a child process that may hang or run out of memory without taking the
test suite with it: what a hostile file (a FIFO, ``/dev/zero``) does to a reader or a view.

The child gets a memory ceiling, so a view that reads ``/dev/zero`` dies there within seconds
instead of filling the machine, and a wall-clock limit, so one that opens a FIFO fails the
test instead of hanging the suite.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Address space for the child: far more than Qt and the app need, far less than the machine.
MEMORY_BYTES = 3 << 30


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def limited_env(**extra: str) -> dict[str, str]:
    """The test's environment, drawing offscreen, with this checkout importable (after any
    path the test run was given)."""
    path = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(ROOT)]))
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": path, **extra}


def run_python(
    code: str, *, timeout_s: float = 60, what: str = "it", cwd: Path | None = None, **env: str
) -> str:
    """Run ``code`` (dedented) in a fresh interpreter, in ``cwd`` (this checkout unless
    given); its stdout. Fails the test, saying which, when the child hangs past ``timeout_s``,
    crashes, or exits non-zero."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            cwd=cwd or ROOT,
            env=limited_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired as exc:
        out = (
            (exc.stdout or b"").decode(errors="replace")
            if isinstance(exc.stdout, bytes)
            else (exc.stdout or "")
        )
        pytest.fail(f"{what} hung: no answer within {timeout_s:.0f} s\n{out[-2000:]}")
    if proc.returncode != 0:
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        pytest.fail(f"{what} crashed ({how})\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout
