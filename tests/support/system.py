"""System parts the tests need: present, or a skip with a reason — a failure on CI, where
``DESKTOP_CHAT_REQUIRE_ALL=1`` says every part must be there."""

from __future__ import annotations

import os
import shutil

import pytest


def require_all() -> bool:
    return os.environ.get("DESKTOP_CHAT_REQUIRE_ALL") == "1"


def missing(reason: str) -> None:
    if require_all():
        pytest.fail(f"{reason} (DESKTOP_CHAT_REQUIRE_ALL=1: every system part must be present)")
    pytest.skip(reason)


def require_programs(*names: str) -> None:
    absent = [n for n in names if shutil.which(n) is None]
    if absent:
        missing(f"needs {', '.join(absent)} on PATH")
