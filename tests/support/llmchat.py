"""The real ``llmchat`` process under pexpect, in a test's own home: no user config, no
terminal colours, output unbuffered, and what it printed kept for the assertion messages."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pexpect

PROMPT = "prompt -> "


def spawn(args, home: Path, *, cwd: Path | None = None, timeout: float = 60, **env: str):
    full_env = {
        **os.environ,
        "DESKTOP_CHAT_HOME": str(home),
        "LLMCHAT_CONFIG": str(home / "none"),
        "PYTHONUNBUFFERED": "1",
        "TERM": "dumb",
        **env,
    }
    child = pexpect.spawn(
        sys.executable,
        ["-m", "desktop_chat.cli", *map(str, args)],
        env=full_env,
        cwd=str(cwd) if cwd is not None else None,
        encoding="utf-8",
        timeout=timeout,
        dimensions=(40, 200),
    )
    child.logfile_read = io.StringIO()
    return child
