"""Finder: show a file selected in its folder (``open -R``). Elsewhere there is no such call:
None, and the caller opens the folder the portable way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def reveal_in_finder(path: Path, platform: str | None = None) -> bool | None:
    if (platform or sys.platform) != "darwin" or not path.exists():
        return None
    return subprocess.run(["open", "-R", str(path)], check=False).returncode == 0
