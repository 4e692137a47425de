"""The quick prompt as a Mac panel, like Spotlight's: it floats over full-screen apps and on
the Space the user is in, takes typing without bringing the app (and its main window) to the
front, and on Esc hands the keyboard back to the app the user was in.

Qt makes a ``Qt.Tool`` window an ``NSPanel`` (QNSPanel); a panel may carry the
non-activating style, which a plain window may not. The collection behaviour puts it on every
Space and beside full-screen apps. Elsewhere these do nothing and say so (False).
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

# AppKit's values (NSWindow.h): fixed by the ABI, named here so the no-Mac tests can check them.
CAN_JOIN_ALL_SPACES = 1 << 0  # NSWindowCollectionBehaviorCanJoinAllSpaces
FULL_SCREEN_AUXILIARY = 1 << 8  # NSWindowCollectionBehaviorFullScreenAuxiliary
NONACTIVATING_PANEL = 1 << 7  # NSWindowStyleMaskNonactivatingPanel


def _on_mac(platform: str | None) -> bool:
    return (platform or sys.platform) == "darwin"


def _ns_window(win_id: int):
    import ctypes

    import objc

    view = objc.objc_object(c_void_p=ctypes.c_void_p(win_id))  # Qt's winId() is the NSView
    return view.window()


def make_floating_panel(win_id: int, platform: str | None = None) -> bool:
    """True when the window became a non-activating panel on every Space; False where that
    is not possible (then the caller activates the app, or the panel could open behind)."""
    if not _on_mac(platform):
        return False
    try:
        window = _ns_window(win_id)
    except ImportError:
        log.warning("no pyobjc: the quick prompt is an ordinary window")
        return False
    if window is None or not window.isKindOfClass_(_panel_class()):
        return False
    window.setStyleMask_(window.styleMask() | NONACTIVATING_PANEL)
    window.setCollectionBehavior_(
        window.collectionBehavior() | CAN_JOIN_ALL_SPACES | FULL_SCREEN_AUXILIARY
    )
    return True


def _panel_class():
    from AppKit import NSPanel

    return NSPanel


def app_is_active(platform: str | None = None) -> bool | None:
    """Whether this app is the one in front; None where the question has no answer here."""
    if not _on_mac(platform):
        return None
    from AppKit import NSApplication

    return bool(NSApplication.sharedApplication().isActive())


def return_to_previous_app(platform: str | None = None) -> bool:
    """Hide the app, so macOS gives the keyboard back to the app that was in front; True if
    done. Only for an app that was in the background before the quick prompt came."""
    if not _on_mac(platform):
        return False
    from AppKit import NSApplication

    app = NSApplication.sharedApplication()
    if not app.isActive():
        return False  # a non-activating panel: the other app never lost the front
    app.hide_(None)
    return True
