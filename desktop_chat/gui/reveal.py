"""Show a file to the user in the system's file manager."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from desktop_chat.platform.finder import reveal_in_finder


def reveal(path: Path) -> bool:
    """Finder with the file selected on a Mac; elsewhere the folder that holds it, which file
    managers open without a way to select one file. Made first if missing, so there is always
    something to show."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shown = reveal_in_finder(path)
    if shown is not None:
        return shown
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))
