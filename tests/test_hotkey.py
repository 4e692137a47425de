"""The global hotkey: key specs, the X11 grab under Xvfb (pressed with xdotool, and refused
with a clear message when another client holds the key), the macOS key codes, and the null
backend where there is no X11."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from desktop_chat.platform.hotkey import (
    HotkeyUnavailable,
    KeySpec,
    NullHotkey,
    default_spec,
    parse,
    register,
)
from tests.support.system import require_programs
from tests.support.xvfb import xvfb


@pytest.mark.parametrize(
    ("text", "mods", "key"),
    [
        ("ctrl+alt+space", {"ctrl", "alt"}, "space"),
        ("Option+Space", {"alt"}, "space"),
        ("⌥Space", {"alt"}, "space"),
        ("⌘⇧K", {"cmd", "shift"}, "k"),
        ("cmd-shift-k", {"cmd", "shift"}, "k"),
        (" Ctrl + F5 ", {"ctrl"}, "f5"),
        ("super+return", {"cmd"}, "return"),
    ],
)
def test_key_specs_are_read_as_people_write_them(text, mods, key):
    spec = parse(text)
    assert spec == KeySpec(frozenset(mods), key)
    assert parse(spec.spec()) == spec


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("space", "alone would fire while typing"),
        ("ctrl+alt", "needs a key besides the modifiers"),
        ("hyper+space", "'hyper' is not a modifier key"),
        ("ctrl+banana", "'banana' is not a key name"),
    ],
)
def test_bad_key_specs_say_what_to_do(text, says):
    with pytest.raises(ValueError, match=says):
        parse(text)


def test_labels_and_defaults_per_platform():
    assert default_spec("darwin") == "option+space" and default_spec("linux") == "ctrl+alt+space"
    assert parse("option+space").label("darwin") == "⌥Space"
    assert parse("ctrl+alt+space").label("linux") == "Ctrl+Alt+Space"
    assert parse("cmd+shift+k").label("darwin") == "⇧⌘K"


def test_macos_key_codes_for_carbon():
    from desktop_chat.platform.hotkey_mac import carbon_codes

    assert carbon_codes(parse("option+space")) == (49, 1 << 11)
    assert carbon_codes(parse("cmd+shift+k")) == (40, (1 << 8) | (1 << 9))
    # F-keys and arrows (HIToolbox's kVK_F5, kVK_UpArrow …)
    assert carbon_codes(parse("ctrl+f5")) == (96, 1 << 12)
    assert carbon_codes(parse("ctrl+f12"))[0] == 111
    assert [carbon_codes(parse(f"cmd+{k}"))[0] for k in ("left", "right", "down", "up")] == [
        123,
        124,
        125,
        126,
    ]
    # A key recorded in Settings carries the code of the key pressed: it wins over the name
    # (on AZERTY the key labelled A is kVK_ANSI_Q, 12).
    assert carbon_codes(parse("option+a@12")) == (12, 1 << 11)
    with pytest.raises(HotkeyUnavailable, match="cannot be a global shortcut"):
        carbon_codes(parse("ctrl+f13"))


def test_a_recorded_key_code_survives_the_round_trip():
    spec = parse("option+a@12")
    assert spec.code == 12 and spec.key == "a" and spec.spec() == "alt+a@12"
    assert parse(spec.spec()) == spec
    assert spec.label("darwin") == "⌥A"  # the code is for Carbon, not for people
    with pytest.raises(ValueError, match="press the shortcut again"):
        parse("option+a@x")


class _FakeQuickMacHotkey:
    """quickmachotkey's surface as its source has it (2025.7.28): ``quickHotKey`` registers
    at once and gives the handler ``register``/``unregister``; ``hotKeyHandlers`` keeps every
    handler by id. Carbon itself is what this stands in for."""

    def __init__(self):
        self.hotKeyHandlers = {}
        self.registered: list[tuple[int, int]] = []
        self.counter = 0

    def mask(self, *keys):
        value = 0
        for key in keys:
            value |= key
        return value

    def quickHotKey(self, *, virtualKey, modifierMask, immediately=True):
        def wrap(handler):
            self.counter += 1
            self.hotKeyHandlers[self.counter] = handler
            entry = (virtualKey, modifierMask)

            def register():
                self.registered.append(entry)

            def unregister():
                if entry in self.registered:
                    self.registered.remove(entry)

            handler.register, handler.unregister = register, unregister
            if immediately:
                register()
            return handler

        return wrap

    def press(self, code, mask):
        """What Carbon would do: call the handlers of the registered key."""
        if (code, mask) in self.registered:
            for handler in list(self.hotKeyHandlers.values()):
                if getattr(handler, "unregister", None) and (code, mask) in self.registered:
                    handler()


def test_the_mac_hotkey_unregisters_when_changed_or_turned_off(qapp, monkeypatch):
    import sys
    import types

    fake = _FakeQuickMacHotkey()
    module = types.ModuleType("quickmachotkey")
    for name in ("hotKeyHandlers", "mask", "quickHotKey"):
        setattr(module, name, getattr(fake, name))
    monkeypatch.setitem(sys.modules, "quickmachotkey", module)
    from desktop_chat.gui import hotkey_host

    monkeypatch.setattr(
        hotkey_host, "register", lambda spec, cb: register(spec, cb, platform="darwin")
    )
    host = hotkey_host.HotkeyHost()
    try:
        assert host.apply("option+space") == ""
        assert fake.registered == [(49, 1 << 11)] and len(fake.hotKeyHandlers) == 1
        host.apply("cmd+shift+k")  # changed in Settings: only the new key is registered
        assert fake.registered == [(40, (1 << 8) | (1 << 9))]
        assert len(fake.hotKeyHandlers) == 1, "the old handler is dropped, not kept for good"
        host.apply("off")  # "No global shortcut"
        assert fake.registered == [] and fake.hotKeyHandlers == {}
    finally:
        host.release()


def test_settings_records_the_key_pressed_for_a_mac(qapp, _isolated_home):
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    from tests.support.gui import running_window

    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        window.open_settings()
        dialog = window.dialog
        dialog.hotkey.clear()
        dialog.hotkey.setFocus()
        alt = Qt.KeyboardModifier.AltModifier
        # ⌥ then the key labelled A on an AZERTY Mac: Qt says Key_A, Carbon's code is 12.
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            for key, code, text in ((Qt.Key.Key_Alt, 58, ""), (Qt.Key.Key_A, 12, "a")):
                event = QKeyEvent(kind, key, alt, 0, code, 0, text)
                QApplication.sendEvent(dialog.hotkey, event)
        assert dialog.hotkey.keySequence().toString() == "Alt+A"
        assert dialog.hotkey_setting("darwin") == "alt+a@12"
        assert dialog.hotkey_setting("linux") == "alt+a"  # X11 maps names by its own layout
        # Reopened, an unchanged box keeps the recorded code (nothing rewritten).
        dialog.native_key.remember(dialog.hotkey.keySequence(), None)
        assert dialog.hotkey_setting("darwin") == "alt+a"
        dialog.close()


def test_no_x11_means_a_null_backend_that_says_why():
    wayland = register(parse("ctrl+alt+space"), lambda: None, "linux", {"WAYLAND_DISPLAY": "w"})
    assert isinstance(wayland, NullHotkey) and "Wayland" in wayland.reason
    assert not register(parse("ctrl+alt+space"), lambda: None, "win32", {}).available


def test_x11_grab_fires_on_the_key_and_a_taken_key_is_explained(monkeypatch):
    require_programs("Xvfb", "xdotool")
    with xvfb() as display:
        monkeypatch.setenv("DISPLAY", display)
        pressed = []
        hotkey = register(parse("ctrl+alt+space"), lambda: pressed.append(time.monotonic()))
        try:
            assert hotkey.available and hotkey.fileno() > 0
            env = {**os.environ, "DISPLAY": display}
            subprocess.run(["xdotool", "key", "ctrl+alt+space"], env=env, check=True)
            deadline = time.monotonic() + 5
            while not pressed and time.monotonic() < deadline:
                hotkey.dispatch()
                time.sleep(0.01)
            assert len(pressed) == 1
            # Another client (here, a second connection) asking for the same key is refused.
            with pytest.raises(HotkeyUnavailable, match="already used by another app") as err:
                register(parse("ctrl+alt+space"), lambda: None)
            assert "Settings" in err.value.hint
        finally:
            hotkey.close()
        # Released: now it can be taken.
        again = register(parse("ctrl+alt+space"), lambda: None)
        again.close()


def test_app_settings_in_config_toml(_isolated_home):
    from desktop_chat.config import load_settings
    from desktop_chat.paths import app_paths
    from tests.support.settings import write_config

    write_config(_isolated_home, '[app]\nhotkey = "Option+Space"\nmenu_bar_only = true\n')
    settings = load_settings(app_paths()).settings
    assert settings.hotkey == "alt+space" and settings.menu_bar_only
    write_config(_isolated_home, '[app]\nhotkey = "off"\n')
    assert load_settings(app_paths()).settings.hotkey == "off"
    write_config(_isolated_home, '[app]\nhotkey = "ctrl+banana"\nmenu_bar_only = "yes"\n')
    loaded = load_settings(app_paths())
    messages = [str(e) for e in loaded.errors]
    assert any("line 2" in m and "app.hotkey" in m and "banana" in m for m in messages)
    assert any("line 3" in m and "app.menu_bar_only" in m for m in messages)
    assert loaded.settings.hotkey is None  # the default stays


def test_shortcuts_from_the_settings_box_on_each_platform():
    from desktop_chat.gui.settings_dialog import qt_from_spec, spec_from_qt

    assert spec_from_qt("Ctrl+Alt+Space", "linux") == "ctrl+alt+space"
    assert spec_from_qt("Ctrl+Shift+K", "darwin") == "shift+cmd+k"  # Qt's Ctrl is ⌘ there
    assert spec_from_qt("Meta+Alt+Space", "darwin") == "ctrl+alt+space"
    assert qt_from_spec("cmd+shift+k", "darwin") == "Ctrl+Shift+K"
    with pytest.raises(ValueError, match="add a modifier"):
        spec_from_qt("K", "linux")


def test_the_settings_window_changes_the_shortcut_and_mode(qapp, _isolated_home):
    from PySide6.QtGui import QKeySequence

    from tests.support.gui import running_window, screenshot

    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        window.open_settings()
        dialog = window.dialog
        assert dialog.hotkey.keySequence().toString() == "Ctrl+Alt+Space"
        dialog.hotkey.setKeySequence(QKeySequence("Ctrl+Shift+K"))
        dialog.menu_bar_only.setChecked(True)
        from PySide6.QtWidgets import QTabWidget

        dialog.findChild(QTabWidget).setCurrentIndex(2)
        screenshot(dialog, "settings-app")
        assert loop.run_until_complete(dialog.save()), dialog.error.text()
        settings = window.controller.settings
        assert settings.hotkey == "ctrl+shift+k" and settings.menu_bar_only
        text = (_isolated_home / "config" / "config.toml").read_text()
        assert 'hotkey = "ctrl+shift+k"' in text and "menu_bar_only = true" in text


def test_no_global_shortcut_here_is_said_in_settings_not_at_every_start(
    qapp, monkeypatch, _isolated_home
):
    from PySide6.QtWidgets import QLabel

    from desktop_chat.gui.app import _refresh
    from tests.support.gui import running_window

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    from desktop_chat.gui.hotkey_host import HotkeyHost

    with running_window(qapp) as (loop, window):
        host = HotkeyHost()
        loop.run_until_complete(_refresh(window.controller, window, host))
        assert "Wayland" not in window.welcome.notes.text(), "no banner at start"
        assert "Wayland" in window.controller.hotkey_note
        window.open_settings()
        label = window.dialog.findChild(QLabel, "hotkeyProblem")
        assert label is not None and "Wayland" in label.text()
        host.release()


def test_x11_grabs_function_and_arrow_keys(monkeypatch):
    from desktop_chat.platform.hotkey import x11_keysym_name

    assert [x11_keysym_name(k) for k in ("f5", "up", "space", "a", "return")] == [
        "F5",
        "Up",
        "space",
        "a",
        "Return",
    ]
    require_programs("Xvfb", "xdotool")
    with xvfb() as display:
        monkeypatch.setenv("DISPLAY", display)
        # (not Ctrl+Alt+F5: the X server keeps that one to switch consoles)
        for spec, keys in (("ctrl+shift+f5", "ctrl+shift+F5"), ("ctrl+shift+up", "ctrl+shift+Up")):
            pressed = []
            hotkey = register(parse(spec), lambda p=pressed: p.append(1))
            try:
                env = {**os.environ, "DISPLAY": display}
                subprocess.run(["xdotool", "key", keys], env=env, check=True)
                deadline = time.monotonic() + 5
                while not pressed and time.monotonic() < deadline:
                    hotkey.dispatch()
                    time.sleep(0.01)
                assert pressed == [1], spec
            finally:
                hotkey.close()
