"""Dock or menu bar only, and coming to the front: macOS's activation policy through AppKit
(pyobjc, which the Mac build carries). Elsewhere these do nothing and say so."""

from __future__ import annotations

import sys


def set_menu_bar_only(on: bool, platform: str = sys.platform) -> bool:
    """Hide (or show) the Dock icon at run time; True if the system did it."""
    if platform != "darwin":
        return False
    try:
        from AppKit import (
            NSApplication,
            NSApplicationActivationPolicyAccessory,
            NSApplicationActivationPolicyRegular,
        )
    except ImportError:
        return False
    policy = NSApplicationActivationPolicyAccessory if on else NSApplicationActivationPolicyRegular
    return bool(NSApplication.sharedApplication().setActivationPolicy_(policy))


def activate(platform: str = sys.platform) -> None:
    """Bring the app to the front: a menu-bar-only app must, before showing a window."""
    if platform != "darwin":
        return
    try:
        from AppKit import NSApplication
    except ImportError:
        return
    NSApplication.sharedApplication().activateIgnoringOtherApps_(True)
