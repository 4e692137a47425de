"""Show a file to the user in the system's file manager."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices


def reveal(path: Path) -> bool:
    """Finder with the file selected on a Mac (``open -R``); elsewhere the folder that holds
    it, which file managers open without a way to select one file. Made first if missing, so
    there is always something to show."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if sys.platform == "darwin" and path.exists():
        return subprocess.run(["open", "-R", str(path)], check=False).returncode == 0
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))
