"""The few AppKit/PyObjC calls in desktop_chat/platform, each run against a stand-in holding
what the Mac would (the activation policy, the app in front, the NSView behind a Qt window, a
Carbon hotkey press); off the Mac each is a no-op that touches none of them."""

from __future__ import annotations

import ctypes
import sys
import types

import pytest

from desktop_chat.platform import dock, panel
from desktop_chat.platform.hotkey import parse
from tests.test_hotkey import _FakeQuickMacHotkey

ACCESSORY, REGULAR = 1, 0  # NSApplicationActivationPolicy values (NSRunningApplication.h)


class _SharedApp:
    def __init__(self):
        self.policy = REGULAR
        self.activated = 0

    def setActivationPolicy_(self, policy):
        self.policy = policy
        return True

    def activateIgnoringOtherApps_(self, flag):
        self.activated += bool(flag)


@pytest.fixture
def appkit(monkeypatch):
    app = _SharedApp()
    module = types.ModuleType("AppKit")
    module.NSApplication = types.SimpleNamespace(sharedApplication=lambda: app)
    module.NSApplicationActivationPolicyAccessory = ACCESSORY
    module.NSApplicationActivationPolicyRegular = REGULAR
    monkeypatch.setitem(sys.modules, "AppKit", module)
    return app


def test_the_dock_icon_comes_and_goes_with_the_activation_policy(appkit):
    assert dock.set_menu_bar_only(True, platform="darwin") is True
    assert appkit.policy == ACCESSORY
    assert dock.set_menu_bar_only(False, platform="darwin") is True
    assert appkit.policy == REGULAR
    dock.activate(platform="darwin")
    assert appkit.activated == 1


def test_off_the_mac_appkit_is_never_asked(monkeypatch):
    monkeypatch.setitem(sys.modules, "AppKit", None)  # importing it would raise
    assert dock.set_menu_bar_only(True, platform="linux") is False
    dock.activate(platform="linux")
    assert dock.set_menu_bar_only(True, platform="darwin") is False, "no pyobjc: says so"
    dock.activate(platform="darwin")


def test_a_qt_window_id_is_bridged_to_its_nswindow(monkeypatch):
    """Qt's winId() on macOS is the NSView pointer; PyObjC wraps it and asks for its window."""
    seen = []

    class _View:
        def __init__(self, c_void_p):
            seen.append(c_void_p)

        def window(self):
            return "the NSWindow"

    objc = types.ModuleType("objc")
    objc.objc_object = _View
    monkeypatch.setitem(sys.modules, "objc", objc)
    assert panel._ns_window(0x7F00DEAD) == "the NSWindow"
    assert isinstance(seen[0], ctypes.c_void_p) and seen[0].value == 0x7F00DEAD


def test_a_carbon_hotkey_press_reaches_the_callback(monkeypatch):
    fake = _FakeQuickMacHotkey()
    module = types.ModuleType("quickmachotkey")
    for name in ("hotKeyHandlers", "mask", "quickHotKey"):
        setattr(module, name, getattr(fake, name))
    monkeypatch.setitem(sys.modules, "quickmachotkey", module)
    from desktop_chat.platform.hotkey_mac import MacHotkey

    pressed = []
    hotkey = MacHotkey(parse("option+space"), lambda: pressed.append(True))
    fake.press(49, 1 << 11)
    assert pressed == [True]
    hotkey.close()
    hotkey.close()  # twice is harmless (Settings may turn it off after a change)
    fake.press(49, 1 << 11)
    assert pressed == [True], "unregistered: no more presses"
