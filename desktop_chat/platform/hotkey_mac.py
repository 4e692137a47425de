"""The macOS hotkey: Carbon ``RegisterEventHotKey`` through ``quickmachotkey``, which needs no
Accessibility permission. Untested here (no Mac); kept to the few lines that touch Carbon."""

from __future__ import annotations

from collections.abc import Callable

from desktop_chat.platform.hotkey import Hotkey, HotkeyUnavailable, KeySpec

# Carbon virtual key codes (HIToolbox/Events.h) for the keys a shortcut may use.
_CODES = {"space": 49, "return": 36, "enter": 76, "tab": 48, "escape": 53,
          **{c: k for c, k in zip("asdfhgzxcv", (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), strict=True)},
          "b": 11, "q": 12, "w": 13, "e": 14, "r": 15, "y": 16, "t": 17, "o": 31, "u": 32,
          "i": 34, "p": 35, "l": 37, "j": 38, "k": 40, "n": 45, "m": 46,
          "1": 18, "2": 19, "3": 20, "4": 21, "5": 23, "6": 22, "7": 26, "8": 28, "9": 25,
          "0": 29}  # fmt: skip
# Carbon modifier masks: cmdKey, shiftKey, optionKey, controlKey.
_MASKS = {"cmd": 1 << 8, "shift": 1 << 9, "alt": 1 << 11, "ctrl": 1 << 12}


def carbon_codes(spec: KeySpec) -> tuple[int, int]:
    """(virtual key code, modifier mask) for ``RegisterEventHotKey``."""
    if spec.key not in _CODES:
        raise HotkeyUnavailable(f"{spec.label('darwin')} cannot be a global shortcut here.",
                                "Choose a letter, a digit, Space or Return.")  # fmt: skip
    mask = 0
    for m in spec.modifiers:
        mask |= _MASKS[m]
    return _CODES[spec.key], mask


class MacHotkey(Hotkey):
    def __init__(self, spec: KeySpec, on_press: Callable[[], None]) -> None:
        code, mask = carbon_codes(spec)
        try:
            from quickmachotkey import mask as qm_mask
            from quickmachotkey import quickHotKey
        except ImportError as exc:  # a bundle built without it
            raise HotkeyUnavailable("The global shortcut support is missing from this build.",
                                    "Reinstall Desktop Chat.") from exc  # fmt: skip

        @quickHotKey(virtualKey=code, modifierMask=qm_mask(mask))
        def _pressed() -> None:
            on_press()

        self._handler = _pressed  # kept alive: Carbon holds only a weak reference
