"""How the app was started, for the hints it gives.

A Mac app opened from Finder, the Dock, Spotlight or ``open`` is started by launchd, with none
of the variables a shell sets: ``export OPENAI_API_KEY=…`` in ``~/.zshrc`` never reaches it, so
a hint to "set OPENAI_API_KEY" sends the user nowhere. There the hints point at Settings and
the keychain instead. A bundled app always counts as opened that way; a source run counts when
it has no terminal. Elsewhere (and in a terminal on a Mac) the variables work as documented.
"""

from __future__ import annotations

import os
import sys


def launched_from_finder(
    platform: str | None = None, frozen: bool | None = None, interactive: bool | None = None
) -> bool:
    """True for a Mac app that has no shell variables; the arguments are for tests."""
    if (platform or sys.platform) != "darwin":
        return False
    if getattr(sys, "frozen", False) if frozen is None else frozen:
        return True
    if interactive is None:
        try:
            interactive = os.isatty(0)
        except (OSError, ValueError):  # stdin closed: no terminal either
            interactive = False
    return not interactive


def hint(terminal: str, finder: str) -> str:
    """``terminal``, which may name environment variables, or ``finder`` for an app that
    cannot see them (it names Settings or the keychain instead)."""
    return finder if launched_from_finder() else terminal
