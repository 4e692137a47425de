"""The global hotkey in the running app: registers the platform backend and, for X11,
watches its connection with a ``QSocketNotifier`` so key presses arrive on the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSocketNotifier, Signal, Slot

from desktop_chat.platform.hotkey import HotkeyUnavailable, default_spec, parse, register


class HotkeyHost(QObject):
    pressed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.backend = None
        self.notifier: QSocketNotifier | None = None
        self.label = ""
        #: Why there is no hotkey, in a sentence (empty when it works or is switched off).
        self.problem = ""

    def apply(self, setting: str | None) -> str:
        """Register ``setting`` ("off", None for the default, or a spec); returns the
        problem sentence, if any."""
        self.release()
        self.problem = ""
        if setting == "off":
            return ""
        spec = parse(setting or default_spec())
        self.label = spec.label()
        try:
            self.backend = register(spec, self.pressed.emit)
        except HotkeyUnavailable as err:
            self.problem = f"{err.message} {err.hint}"
            return self.problem
        if not self.backend.available:
            # Not an error to raise at every start (Wayland, no X): Settings → App says it.
            self.problem = self.backend.reason
            return ""
        fd = self.backend.fileno()
        if fd is not None:
            self.notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, self)
            self.notifier.activated.connect(self._readable)
            self.backend.dispatch()  # events that arrived while registering
        return ""

    @Slot()
    def _readable(self) -> None:
        self.backend.dispatch()

    def release(self) -> None:
        if self.notifier is not None:
            self.notifier.setEnabled(False)
            self.notifier.deleteLater()
            self.notifier = None
        if self.backend is not None:
            self.backend.close()
            self.backend = None
