"""Keeping macOS from napping the app while it works for the user.

With its windows hidden or covered, a Mac app is put in App Nap: timers are throttled and the
process gets little CPU, so a reply streaming into a hidden window or a model downloading in
the background slows to a crawl. ``NSProcessInfo.beginActivityWithOptions:reason:`` says the
work is user-initiated; the returned token ends it. Idle *system* sleep stays allowed (the
user may walk away from a long download; the Mac's own energy settings decide). Elsewhere
there is no App Nap: these do nothing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


def begin(reason: str, platform: str | None = None) -> object | None:
    """Start an activity; the token for ``end``, or None where there is nothing to do."""
    if (platform or sys.platform) != "darwin":
        return None
    try:
        from Foundation import NSActivityUserInitiatedAllowingIdleSystemSleep, NSProcessInfo
    except ImportError:  # a build without pyobjc: it still works, only slower when hidden
        log.warning("no Foundation: App Nap may slow %s", reason)
        return None
    info = NSProcessInfo.processInfo()
    return info.beginActivityWithOptions_reason_(
        NSActivityUserInitiatedAllowingIdleSystemSleep, reason
    )


def end(token: object | None) -> None:
    if token is None:
        return
    from Foundation import NSProcessInfo

    NSProcessInfo.processInfo().endActivity_(token)


@contextmanager
def activity(reason: str, platform: str | None = None) -> Iterator[None]:
    token = begin(reason, platform)
    try:
        yield
    finally:
        end(token)


class Awake:
    """An activity held while a flag is on (a reply streaming): ``set(True)`` begins it once,
    ``set(False)`` ends it."""

    def __init__(self, reason: str, platform: str | None = None) -> None:
        self.reason = reason
        self.platform = platform
        self._token: object | None = None
        self.on = False

    def set(self, on: bool) -> None:
        if on and not self.on:
            self._token = begin(self.reason, self.platform)
        elif not on and self.on:
            end(self._token)
            self._token = None
        self.on = on
