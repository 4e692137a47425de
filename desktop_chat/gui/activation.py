"""Coming to the front like a Mac app: activate the app, then show and raise the window.

``QWidget.activateWindow()`` makes a window key but does not activate a background app; a
menu-bar-only app in particular must be activated first, or its window opens behind the one
the user is in. Every path that shows a window in front goes through ``bring_forward``: the
menu-bar menu, "Continue in main window", a second launch, a click on the Dock icon, and the
quick prompt (a floating panel comes in front without activating the app).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication, QWidget

from desktop_chat.platform import dock


def bring_forward(window: QWidget, activate_app: bool = True) -> None:
    """Show ``window`` in front and give it the keyboard. ``activate_app=False`` for a
    non-activating panel, which comes in front of the app the user is in without taking the
    front from it."""
    if activate_app:
        dock.activate()  # looked up here: the platform's stand-ins replace it in tests
    window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    handle = window.windowHandle()
    if window.isVisible() and handle is not None and not handle.isExposed():
        window.hide()  # unmapped behind Qt's back (hidden, on another desktop): map it again
    window.show()
    window.raise_()
    window.activateWindow()


class DockReopen(QObject):
    """A click on the Dock icon with no window open arrives only as the app turning active:
    then the main window comes back, as in every Mac app. Checked a moment later, so a
    window the activation was for (the quick prompt, from the menu bar) counts as open."""

    def __init__(self, window: QWidget, menu_bar_only, app: QApplication) -> None:
        super().__init__(app)
        self.window = window
        #: Callable: True when there is no Dock icon to click.
        self.menu_bar_only = menu_bar_only
        app.applicationStateChanged.connect(self._state_changed)

    @Slot(Qt.ApplicationState)
    def _state_changed(self, state: Qt.ApplicationState) -> None:
        if state == Qt.ApplicationState.ApplicationActive and not self.menu_bar_only():
            QTimer.singleShot(50, self.reopen_if_no_window)

    @Slot()
    def reopen_if_no_window(self) -> bool:
        if QApplication.applicationState() != Qt.ApplicationState.ApplicationActive:
            return False
        if any(w.isVisible() for w in QApplication.topLevelWidgets() if w.isWindow()):
            return False
        bring_forward(self.window)
        return True
