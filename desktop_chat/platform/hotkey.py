"""The global hotkey behind one small interface, a backend per platform:

- macOS: Carbon ``RegisterEventHotKey`` through ``quickmachotkey`` (no Accessibility
  permission needed); its callback arrives on the main thread's Cocoa loop, which Qt runs.
- Linux/X11: ``XGrabKey`` on the root window through python-xlib. The connection's socket is
  handed to the caller (``fileno()``), which watches it (a ``QSocketNotifier`` in the window)
  and calls ``dispatch()``; this module stays free of Qt.
- Elsewhere (Wayland, Windows): a backend that says why there is no hotkey.

Key specs are written like ``ctrl+alt+space`` or ``option+space``; ``parse`` reads them. A
shortcut recorded in Settings on a Mac also carries the key's position, ``option+a@12``: Carbon
registers physical keys, so on an AZERTY keyboard "A" must be the key the user pressed, not the
key where a US keyboard has its A.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from desktop_chat.errors import DesktopChatError

log = logging.getLogger(__name__)

MODIFIERS = {
    "ctrl": "ctrl",
    "control": "ctrl",
    "alt": "alt",
    "option": "alt",
    "opt": "alt",
    "shift": "shift",
    "cmd": "cmd",
    "command": "cmd",
    "super": "cmd",
    "meta": "cmd",
    "win": "cmd",
}
_SYMBOLS = {"⌃": "ctrl", "⌥": "alt", "⇧": "shift", "⌘": "cmd"}
#: Shown for each modifier on a Mac and elsewhere.
_MAC_NAMES = {"ctrl": "⌃", "alt": "⌥", "shift": "⇧", "cmd": "⌘"}
_OTHER_NAMES = {"ctrl": "Ctrl", "alt": "Alt", "shift": "Shift", "cmd": "Super"}
_ORDER = ("ctrl", "alt", "shift", "cmd")


def default_spec(platform: str = sys.platform) -> str:
    return "option+space" if platform == "darwin" else "ctrl+alt+space"


class HotkeyUnavailable(DesktopChatError):
    """The hotkey could not be set up; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class KeySpec:
    modifiers: frozenset[str]
    #: Lower-case key name: a letter, a digit, "space", "f5", "return", …
    key: str
    #: The platform's own code for the key pressed (macOS: the virtual key code Qt reports as
    #: ``nativeVirtualKey``), when it was recorded; it wins over the name on that platform.
    code: int | None = None

    def label(self, platform: str = sys.platform) -> str:
        """ "⌥Space" on a Mac, "Ctrl+Alt+Space" elsewhere."""
        names = _MAC_NAMES if platform == "darwin" else _OTHER_NAMES
        mods = [names[m] for m in _ORDER if m in self.modifiers]
        key = self.key.capitalize() if len(self.key) > 1 else self.key.upper()
        return ("" if platform == "darwin" else "+").join([*mods, key]) if mods else key

    def spec(self) -> str:
        text = "+".join([*(m for m in _ORDER if m in self.modifiers), self.key])
        return text if self.code is None else f"{text}@{self.code}"


def parse(text: str) -> KeySpec:
    """``"Ctrl+Alt+Space"``, ``"option+space"``, ``"⌥Space"``, ``"cmd-shift-k"`` → KeySpec.
    Raises ``ValueError`` saying what is wrong."""
    raw, _, code_text = text.strip().partition("@")
    code = None
    if code_text:
        if not code_text.strip().isdigit() or int(code_text) > 255:
            raise ValueError(
                f"'@{code_text}' is not a key code; press the shortcut again in Settings."
            )
        code = int(code_text)
    for symbol, name in _SYMBOLS.items():
        raw = raw.replace(symbol, f"{name}+")
    parts = [p for p in raw.replace("-", "+").lower().replace(" ", "").split("+") if p]
    if not parts:
        raise ValueError("The shortcut is empty; press the keys you want, e.g. Ctrl+Alt+Space.")
    *mods, key = parts
    unknown = [m for m in mods if m not in MODIFIERS]
    if unknown:
        raise ValueError(
            f"'{unknown[0]}' is not a modifier key; use Ctrl, Alt/Option, Shift or Cmd."
        )
    if key in MODIFIERS:
        raise ValueError("The shortcut needs a key besides the modifiers, e.g. Space.")
    if not mods:
        raise ValueError(
            f"'{key}' alone would fire while typing; add a modifier, e.g. "
            f"Ctrl+Alt+{key.capitalize()}."
        )
    if len(key) > 1 and key not in _NAMED_KEYS and not (key[0] == "f" and key[1:].isdigit()):
        raise ValueError(
            f"'{key}' is not a key name; use a letter, a digit, Space, Return, "
            "Tab, an arrow or F1–F12."
        )
    return KeySpec(frozenset(MODIFIERS[m] for m in mods), key, code)


_NAMED_KEYS = {
    "space",
    "return",
    "enter",
    "tab",
    "escape",
    "backspace",
    "up",
    "down",
    "left",
    "right",
    "home",
    "end",
}


class Hotkey:
    """What every backend offers."""

    available = True
    #: Why there is no hotkey (the null backend), for the Settings window.
    reason = ""

    def fileno(self) -> int | None:
        """A socket to watch for readability, then call ``dispatch()``; None if not needed."""
        return None

    def dispatch(self) -> None:
        pass

    def close(self) -> None:
        pass


class NullHotkey(Hotkey):
    available = False

    def __init__(self, reason: str) -> None:
        self.reason = reason


class X11Hotkey(Hotkey):
    """``XGrabKey`` on the root window, for every NumLock/CapsLock state."""

    def __init__(self, spec: KeySpec, on_press: Callable[[], None]) -> None:
        from Xlib import XK, X, display, error

        self._on_press = on_press
        self._display = display.Display()
        root = self._display.screen().root
        keysym = XK.string_to_keysym(x11_keysym_name(spec.key))
        self._keycode = self._display.keysym_to_keycode(keysym)
        if not keysym or not self._keycode:
            self._display.close()
            raise HotkeyUnavailable(
                f"{spec.label()} has no key on this keyboard layout.",
                "Choose another shortcut in Settings.",
            )
        masks = {"ctrl": X.ControlMask, "alt": X.Mod1Mask, "shift": X.ShiftMask, "cmd": X.Mod4Mask}
        self._mods = 0
        for m in spec.modifiers:
            self._mods |= masks[m]
        caught = error.CatchError(error.BadAccess)
        self._root = root
        self._variants = (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask)
        for extra in self._variants:
            root.grab_key(
                self._keycode,
                self._mods | extra,
                True,
                X.GrabModeAsync,
                X.GrabModeAsync,
                onerror=caught,
            )
        self._display.sync()
        if caught.get_error():
            self.close()
            raise HotkeyUnavailable(
                f"{spec.label()} is already used by another app, so it cannot open the quick "
                "prompt.",
                "Choose another shortcut in Settings, or free it in the other app.",
            )
        self._press = X.KeyPress

    def fileno(self) -> int:
        return self._display.fileno()

    def dispatch(self) -> None:
        while self._display.pending_events():
            event = self._display.next_event()
            if event.type == self._press and event.detail == self._keycode:
                self._on_press()

    def close(self) -> None:
        if self._display is None:
            return
        try:
            for extra in self._variants:
                self._root.ungrab_key(self._keycode, self._mods | extra)
            self._display.sync()
        except Exception:  # the display may be gone already; the grab went with it
            log.debug("releasing the X11 key grab failed", exc_info=True)
        self._display.close()
        self._display = None


def x11_keysym_name(key: str) -> str:
    """X11's name for a key: keysym names are case-sensitive ("F5", "Up", "space", "a")."""
    names = {
        "return": "Return",
        "enter": "Return",
        "escape": "Escape",
        "tab": "Tab",
        "backspace": "BackSpace",
        "space": "space",
    }
    if key in names or len(key) == 1:
        return names.get(key, key)
    return key.upper() if key[0] == "f" and key[1:].isdigit() else key.capitalize()


def register(
    spec: KeySpec, on_press: Callable[[], None], platform: str = sys.platform, environ=os.environ
) -> Hotkey:
    """The platform's backend with ``spec`` registered; ``HotkeyUnavailable`` if the key is
    taken; a ``NullHotkey`` where global hotkeys cannot work."""
    if platform == "darwin":
        from desktop_chat.platform.hotkey_mac import MacHotkey

        return MacHotkey(spec, on_press)
    if platform.startswith("linux"):
        if environ.get("WAYLAND_DISPLAY") and not environ.get("DISPLAY"):
            return NullHotkey(
                "Global shortcuts are not available under Wayland; use the "
                "menu-bar icon, or start the app under X11."
            )
        if not environ.get("DISPLAY"):
            return NullHotkey("No X11 display, so no global shortcut.")
        return X11Hotkey(spec, on_press)
    return NullHotkey("Global shortcuts are not available on this system yet.")
