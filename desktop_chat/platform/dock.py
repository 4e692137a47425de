"""Dock or menu bar only, and coming to the front: macOS's activation policy through AppKit
(pyobjc, which the Mac build carries). Elsewhere these do nothing and say so."""

from __future__ import annotations

import os
import plistlib
import sys
from pathlib import Path


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


def bundle_menu_bar_only(environ=os.environ) -> bool:
    """The bundle's own answer: ``LSUIElement`` in its Info.plist (the menu-bar-only flavour
    sets it, so the app starts with no Dock icon and never flashes one). py2app's launcher
    sets ``RESOURCEPATH`` to ``Contents/Resources``; outside a bundle there is none: False."""
    resources = environ.get("RESOURCEPATH")
    if not resources:
        return False
    try:
        with (Path(resources).parent / "Info.plist").open("rb") as f:
            return bool(plistlib.load(f).get("LSUIElement", False))
    except (OSError, plistlib.InvalidFileException, ValueError):
        return False
