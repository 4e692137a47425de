"""The quick prompt as a Mac panel (non-activating, on every Space, over full-screen apps),
Esc giving the keyboard back to the app the user was in, the screen under the pointer, and
its colours following a light/dark switch. AppKit exists only on a Mac: its part is played
by a stand-in holding the state AppKit would (style mask, collection behaviour, activation);
everything else is the real window."""

from __future__ import annotations

import sys
import types

import pytest
from PySide6.QtCore import QEvent, QRect, Qt
from PySide6.QtGui import QKeyEvent, QPalette
from PySide6.QtWidgets import QApplication

from tests.support.gui import running_window


class _NSApp:
    def __init__(self, active: bool):
        self.active = active
        self.hidden = 0

    def isActive(self):
        return self.active

    def hide_(self, _sender):
        self.hidden += 1
        self.active = False

    def activateIgnoringOtherApps_(self, _flag):
        self.active = True


class _NSPanel:
    def __init__(self):
        self.style, self.behaviour = 0b1, 0

    def isKindOfClass_(self, cls):
        return cls is _NSPanel

    def styleMask(self):
        return self.style

    def setStyleMask_(self, mask):
        self.style = mask

    def collectionBehavior(self):
        return self.behaviour

    def setCollectionBehavior_(self, behaviour):
        self.behaviour = behaviour


@pytest.fixture
def appkit(monkeypatch):
    from desktop_chat.platform import dock, panel

    nsapp = _NSApp(active=False)  # the user is typing in another app
    window = _NSPanel()
    appkit = types.ModuleType("AppKit")
    appkit.NSPanel = _NSPanel
    appkit.NSApplication = types.SimpleNamespace(sharedApplication=lambda: nsapp)
    monkeypatch.setitem(sys.modules, "AppKit", appkit)
    monkeypatch.setattr(panel, "_ns_window", lambda win_id: window)
    monkeypatch.setattr(panel, "sys", types.SimpleNamespace(platform="darwin"))
    monkeypatch.setattr(dock, "activate", lambda: nsapp.activateIgnoringOtherApps_(True))
    return types.SimpleNamespace(app=nsapp, window=window)


def _escape(widget) -> None:
    QApplication.sendEvent(
        widget, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier)
    )


def test_the_quick_prompt_is_a_non_activating_panel_on_every_space(qapp, fake, appkit):
    from desktop_chat.gui.quick_prompt import quick_prompt_for
    from desktop_chat.platform import panel

    with running_window(qapp) as (_loop, window):
        quick = quick_prompt_for(window)
        try:
            quick.present()
            assert quick.isVisible()
            assert appkit.window.style & panel.NONACTIVATING_PANEL == 1 << 7
            assert appkit.window.style & 0b1  # Qt's own style bits are kept
            assert appkit.window.behaviour == (1 << 0) | (1 << 8)  # all Spaces, full screen
            assert appkit.app.active is False, "the app (and its main window) stayed behind"
            # Esc: the keyboard goes back to the app the user was in; nothing to hide, since a
            # non-activating panel never took the front from it.
            _escape(quick)
            assert not quick.isVisible() and appkit.app.hidden == 0
            # If the app did come to the front meanwhile (a click on Continue, a dialog), Esc
            # hides it, so the user lands back where they were.
            quick.present()
            appkit.app.active = True
            _escape(quick)
            assert appkit.app.hidden == 1 and not appkit.app.active
            # Opened while the user was in this app: Esc only closes the panel.
            appkit.app.active = True
            quick.present()
            _escape(quick)
            assert appkit.app.hidden == 1 and appkit.app.active
        finally:
            quick.deleteLater()


def test_without_a_panel_the_app_is_activated_first(qapp, fake, appkit, monkeypatch):
    """A window that is not an NSPanel cannot be non-activating: then, as before, the app is
    activated so the window does not open behind the one the user is in."""
    from desktop_chat.gui.quick_prompt import quick_prompt_for
    from desktop_chat.platform import panel

    monkeypatch.setattr(panel, "_ns_window", lambda win_id: None)
    with running_window(qapp) as (_loop, window):
        quick = quick_prompt_for(window)
        try:
            quick.present()
            assert appkit.app.active is True
        finally:
            quick.deleteLater()


def test_off_the_mac_nothing_is_asked_of_appkit():
    from desktop_chat.platform import panel

    assert panel.make_floating_panel(1, platform="linux") is False
    assert panel.app_is_active(platform="linux") is None
    assert panel.return_to_previous_app(platform="linux") is False


def test_it_opens_on_the_screen_under_the_pointer(qapp, fake, monkeypatch):
    from desktop_chat.gui import quick_prompt

    class Screen:
        def availableGeometry(self):
            return QRect(2000, 100, 1600, 900)  # a second display, right of the first

    monkeypatch.setattr(
        quick_prompt.QGuiApplication, "screenAt", staticmethod(lambda pos: Screen())
    )
    with running_window(qapp) as (_loop, window):
        quick = quick_prompt.quick_prompt_for(window)
        try:
            quick.present()
            assert 2000 <= quick.x() < 3600 and quick.y() == 100 + 900 // 6
        finally:
            quick.deleteLater()


def test_its_colours_follow_a_switch_to_dark(qapp, fake):
    from desktop_chat.gui import theme
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    light = QApplication.palette()
    with running_window(qapp) as (_loop, window):
        quick = quick_prompt_for(window)
        try:
            quick.present()
            assert not theme.is_dark() and theme.LIGHT.code_border in quick.styleSheet()
            dark = QPalette(light)
            dark.setColor(QPalette.ColorRole.Window, Qt.GlobalColor.black)
            dark.setColor(QPalette.ColorRole.WindowText, Qt.GlobalColor.white)
            QApplication.setPalette(dark)  # what the system's switch to dark does
            QApplication.processEvents()
            assert theme.DARK.code_border in quick.styleSheet()
            assert theme.LIGHT.code_border not in quick.styleSheet()
        finally:
            QApplication.setPalette(light)
            QApplication.processEvents()
            quick.deleteLater()
