"""The macOS hotkey: Carbon ``RegisterEventHotKey`` through ``quickmachotkey``, which needs no
Accessibility permission. The key codes and the register/unregister lifecycle are tested here
against a stand-in for quickmachotkey; only the Carbon calls inside it run on a Mac alone."""

from __future__ import annotations

from collections.abc import Callable

from desktop_chat.platform.hotkey import Hotkey, HotkeyUnavailable, KeySpec

# Carbon virtual key codes (HIToolbox/Events.h) for the keys a shortcut may use.
_CODES = {
    "space": 49,
    "return": 36,
    "enter": 76,
    "tab": 48,
    "escape": 53,
    **{c: k for c, k in zip("asdfhgzxcv", (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), strict=True)},
    "b": 11,
    "q": 12,
    "w": 13,
    "e": 14,
    "r": 15,
    "y": 16,
    "t": 17,
    "o": 31,
    "u": 32,
    "i": 34,
    "p": 35,
    "l": 37,
    "j": 38,
    "k": 40,
    "n": 45,
    "m": 46,
    "1": 18,
    "2": 19,
    "3": 20,
    "4": 21,
    "5": 23,
    "6": 22,
    "7": 26,
    "8": 28,
    "9": 25,
    "0": 29,
    "backspace": 51,
    "home": 115,
    "end": 119,
    "left": 123,
    "right": 124,
    "down": 125,
    "up": 126,
    "f1": 122,
    "f2": 120,
    "f3": 99,
    "f4": 118,
    "f5": 96,
    "f6": 97,
    "f7": 98,
    "f8": 100,
    "f9": 101,
    "f10": 109,
    "f11": 103,
    "f12": 111,
}
# Carbon modifier masks: cmdKey, shiftKey, optionKey, controlKey.
_MASKS = {"cmd": 1 << 8, "shift": 1 << 9, "alt": 1 << 11, "ctrl": 1 << 12}


def carbon_codes(spec: KeySpec) -> tuple[int, int]:
    """(virtual key code, modifier mask) for ``RegisterEventHotKey``: the key the user pressed
    when Settings recorded it, else the US-layout position of the named key."""
    code = spec.code if spec.code is not None else _CODES.get(spec.key)
    if code is None:
        raise HotkeyUnavailable(
            f"{spec.label('darwin')} cannot be a global shortcut here.",
            "Choose a letter, a digit, Space, an arrow or F1–F12.",
        )
    mask = 0
    for m in spec.modifiers:
        mask |= _MASKS[m]
    return code, mask


class MacHotkey(Hotkey):
    def __init__(self, spec: KeySpec, on_press: Callable[[], None]) -> None:
        code, mask = carbon_codes(spec)
        try:
            from quickmachotkey import mask as qm_mask
            from quickmachotkey import quickHotKey
        except ImportError as exc:  # a bundle built without it
            raise HotkeyUnavailable(
                "The global shortcut support is missing from this build.", "Reinstall Desktop Chat."
            ) from exc

        @quickHotKey(virtualKey=code, modifierMask=qm_mask(mask))
        def _pressed() -> None:
            on_press()

        self._handler = _pressed  # kept alive: Carbon holds only a weak reference

    def close(self) -> None:
        """Unregister from Carbon, or the old shortcut keeps firing beside the new one (and
        "No global shortcut" would not turn it off). quickmachotkey also keeps every handler
        in its table for good; drop ours so the closure (and what it holds) can go."""
        handler, self._handler = getattr(self, "_handler", None), None
        if handler is None:
            return
        handler.unregister()
        import quickmachotkey

        table = quickmachotkey.hotKeyHandlers
        for key in [k for k, v in table.items() if v is handler]:
            del table[key]
