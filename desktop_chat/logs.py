"""The app's log: one rotating file in the platform's log folder, written with ``logging``.

What goes in: start and quit, settings read (and their problems), models found and loaded,
each reply's timings, and every error with its traceback. What never goes in: a key (every
record is redacted on its way out) or the text of a message, unless the user turns on the
debug switch (``[app] debug_log = true`` or ``DESKTOP_CHAT_DEBUG=1``), which logs at DEBUG,
where message text is.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from desktop_chat.paths import AppPaths
from desktop_chat.redact import redact

#: Every logger of the app is a child of this one ("desktop_chat.gui.controller", …).
ROOT = "desktop_chat"
FILE_NAME = "desktop-chat.log"
DEBUG_VARIABLE = "DESKTOP_CHAT_DEBUG"
#: A few files of a megabyte: enough for a bug report, never a disk's worth.
MAX_BYTES = 1_000_000
BACKUPS = 3


class _RedactingFormatter(logging.Formatter):
    """Every record, traceback included, through the app's one redaction."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def log_file(paths: AppPaths) -> Path:
    return paths.log_dir / FILE_NAME


def setup(paths: AppPaths, debug: bool = False) -> Path | None:
    """Send the app's records to its rotating file; the file's path, or None when the log
    folder cannot be written (the app runs on, unlogged, and says nothing: there is nowhere
    better to say it)."""
    logger = logging.getLogger(ROOT)
    path = log_file(paths)
    for handler in list(logger.handlers):
        if getattr(handler, "desktop_chat", False):
            logger.removeHandler(handler)
            handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError:
        return None
    handler.desktop_chat = True  # type: ignore[attr-defined]
    handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False  # the terminal stays quiet; the file has it all
    set_debug(debug)
    return path


def set_debug(on: bool) -> None:
    """DEBUG (message text included) when the user asks for it, else INFO."""
    on = on or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    logging.getLogger(ROOT).setLevel(logging.DEBUG if on else logging.INFO)


def debug_on() -> bool:
    return logging.getLogger(ROOT).isEnabledFor(logging.DEBUG)
