"""The menu bar a Mac user expects (File, Edit, Window, Help; About, Settings… and Quit in the
application menu through Qt's menu roles), a Dock click bringing back a closed window, and the
menu-bar-only default read from the bundle's Info.plist."""

from __future__ import annotations

import asyncio
import plistlib

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMenuBar

from tests.support.gui import running_window, wait_for


def _menus(bar: QMenuBar) -> dict[str, dict[str, QAction]]:
    menus = {}
    for top in bar.actions():
        items = {}
        for action in top.menu().actions():
            if action.menu() is not None:
                items.update({f"{action.text()}/{a.text()}": a for a in action.menu().actions()})
            if action.text():
                items[action.text()] = action
        menus[top.text().replace("&", "")] = items
    return menus


def _all_actions(window) -> list[QAction]:
    found = list(window.actions())
    for items in _menus(window.menu_bar).values():
        found.extend(items.values())
    return found


def test_the_menu_bar_holds_every_command_with_its_mac_role(qapp):
    with running_window(qapp) as (_loop, window):
        menus = _menus(window.menu_bar)
        assert list(menus) == ["File", "Edit", "Window", "Help"]
        file, edit, windows, help_menu = (menus[n] for n in ("File", "Edit", "Window", "Help"))
        for text in (
            "New Chat",
            "Attach Files…",
            "Export Conversation/As Markdown…",
            "Import Conversation…",
            "Close Window",
            "Quit Desktop Chat",
        ):
            assert text in file, text
        for text in ("Undo", "Redo", "Cut", "Copy", "Paste", "Select All", "Settings…"):
            assert text in edit, text
        for text in ("Minimize", "Zoom", "Desktop Chat", "Quick Prompt"):
            assert text in windows, text
        assert "About Desktop Chat" in help_menu and "Show Log" in help_menu
        role = QAction.MenuRole
        # Qt moves these three into the application menu on a Mac, by their roles.
        assert file["Quit Desktop Chat"].menuRole() == role.QuitRole
        assert edit["Settings…"].menuRole() == role.PreferencesRole
        assert help_menu["About Desktop Chat"].menuRole() == role.AboutRole
        # The File menu's New Chat is the very action ⌘N triggers, not a second binding.
        assert file["New Chat"] is window.named_actions["new"]
        assert windows["Minimize"].shortcut() == QKeySequence("Ctrl+M")  # ⌘M on a Mac
        # Off the Mac the bar is the window's; on a Mac it has no parent, so it is the one
        # global bar for every window of the app.
        assert window.menuBar() is window.menu_bar
        from desktop_chat.gui import menu_bar

        mac_bar = menu_bar.build(window, platform="darwin")
        try:
            assert mac_bar.parent() is None and window.menuBar() is window.menu_bar
            assert list(_menus(mac_bar)) == ["File", "Edit", "Window", "Help"]
        finally:
            mac_bar.deleteLater()


def test_no_key_is_bound_twice(qapp):
    """Qt calls a shortcut bound to two actions ambiguous and fires neither."""
    with running_window(qapp) as (_loop, window):
        seen: dict[str, str] = {}
        for action in set(_all_actions(window)):
            for keys in action.shortcuts():
                name = keys.toString()
                assert name not in seen, f"{name} is bound to {seen[name]!r} and {action.text()!r}"
                seen[name] = action.text()
        assert {"Ctrl+N", "Ctrl+Q", "Ctrl+M", "Ctrl+C", "Ctrl+O", "Ctrl+,"} <= set(seen)


def test_menu_commands_work_on_the_window_with_focus(qapp, qtbot):
    with running_window(qapp) as (loop, window):
        menus = _menus(window.menu_bar)
        window.activateWindow()
        edit = window.composer.edit
        edit.setFocus()
        loop.run_until_complete(wait_for(lambda: QApplication.focusWidget() is edit))
        edit.setPlainText("copy me")
        menus["Edit"]["Select All"].trigger()
        menus["Edit"]["Copy"].trigger()
        assert QApplication.clipboard().text() == "copy me"
        menus["Edit"]["Cut"].trigger()
        assert edit.toPlainText() == ""
        menus["Edit"]["Undo"].trigger()
        assert edit.toPlainText() == "copy me"
        # The same Edit menu pastes into another window's field when that one has the focus.
        from PySide6.QtWidgets import QLineEdit

        other = QLineEdit()
        other.show()
        other.activateWindow()
        other.setFocus()
        loop.run_until_complete(wait_for(lambda: QApplication.focusWidget() is other))
        menus["Edit"]["Paste"].trigger()
        assert other.text() == "copy me"
        other.close()
        # The File menu starts a new chat; Window → Minimize minimizes the active window.
        window.activateWindow()
        loop.run_until_complete(wait_for(lambda: QApplication.activeWindow() is window))
        menus["Window"]["Minimize"].trigger()
        loop.run_until_complete(wait_for(lambda: window.isMinimized(), what="minimized"))
        menus["Window"]["Desktop Chat"].trigger()
        loop.run_until_complete(wait_for(lambda: not window.isMinimized(), what="restored"))
        assert window.isVisible()


def test_about_shows_the_version(qapp):
    from desktop_chat import __version__

    with running_window(qapp) as (loop, window):
        _menus(window.menu_bar)["Help"]["About Desktop Chat"].trigger()
        from PySide6.QtWidgets import QMessageBox

        loop.run_until_complete(wait_for(lambda: window.findChildren(QMessageBox)))
        box = window.findChildren(QMessageBox)[-1]
        assert box.windowTitle() == "About Desktop Chat" and __version__ in box.text()
        box.close()


def test_a_dock_click_with_no_window_open_brings_the_window_back(qapp, monkeypatch):
    from desktop_chat.gui import activation
    from desktop_chat.platform import dock

    activated = []
    monkeypatch.setattr(dock, "activate", lambda: activated.append(True))
    # The offscreen platform has no Dock: the app reports itself active as AppKit would after
    # a click on the icon.
    monkeypatch.setattr(
        QApplication,
        "applicationState",
        staticmethod(lambda: Qt.ApplicationState.ApplicationActive),
    )
    menu_bar_only = [False]
    with running_window(qapp) as (loop, window):
        reopen = activation.DockReopen(window, lambda: menu_bar_only[0], qapp)
        # "No window open" means none: a panel or dialog an earlier test left shown in this
        # process would count as one.
        for other in QApplication.topLevelWidgets():
            if other is not window and other.isVisible():
                other.hide()
        try:
            window.close()  # ⌘W: the app keeps running with no window
            assert not window.isVisible()
            qapp.applicationStateChanged.emit(Qt.ApplicationState.ApplicationActive)
            loop.run_until_complete(wait_for(window.isVisible, what="the window back"))
            assert activated, "the app must be activated before its window is shown"
            # With a window already open (here: the main one) nothing else happens.
            assert reopen.reopen_if_no_window() is False
            # Menu-bar-only: no Dock icon, so turning active never opens the window.
            window.close()
            menu_bar_only[0] = True
            qapp.applicationStateChanged.emit(Qt.ApplicationState.ApplicationActive)
            loop.run_until_complete(asyncio.sleep(0.2))
            assert not window.isVisible()
        finally:
            qapp.applicationStateChanged.disconnect(reopen._state_changed)
            window.show()


def _bundle(tmp_path, plist: dict | bytes):
    contents = tmp_path / "Desktop Chat.app" / "Contents"
    (contents / "Resources").mkdir(parents=True)
    data = plist if isinstance(plist, bytes) else plistlib.dumps(plist)
    (contents / "Info.plist").write_bytes(data)
    return {"RESOURCEPATH": str(contents / "Resources")}


def test_menu_bar_only_defaults_to_the_bundles_ls_ui_element(tmp_path, monkeypatch):
    from desktop_chat.config import Settings
    from desktop_chat.platform.dock import bundle_menu_bar_only

    flavour = _bundle(tmp_path / "a", {"CFBundleName": "Desktop Chat", "LSUIElement": True})
    regular = _bundle(tmp_path / "b", {"CFBundleName": "Desktop Chat"})
    broken = _bundle(tmp_path / "c", b"not a plist")
    assert bundle_menu_bar_only(flavour) is True
    assert bundle_menu_bar_only(regular) is False
    assert bundle_menu_bar_only(broken) is False
    assert bundle_menu_bar_only({}) is False  # run from source: no bundle

    monkeypatch.setenv("RESOURCEPATH", flavour["RESOURCEPATH"])
    assert Settings().dock_hidden() is True  # no choice made: the bundle's stands
    assert Settings(menu_bar_only=False).dock_hidden() is False  # the user's choice wins
    monkeypatch.setenv("RESOURCEPATH", regular["RESOURCEPATH"])
    assert Settings().dock_hidden() is False
    assert Settings(menu_bar_only=True).dock_hidden() is True


def test_the_activation_policy_is_set_only_for_an_explicit_choice(qapp, monkeypatch, fake):
    """A Dock icon must not flash on at start in the menu-bar-only flavour: with no setting
    the app leaves the bundle's policy alone."""
    from desktop_chat.gui import app as gui_app
    from desktop_chat.platform import dock

    calls = []
    monkeypatch.setattr(dock, "set_menu_bar_only", lambda on: calls.append(on))

    class Hotkey:
        problem = ""

        def apply(self, _keys):
            return ""

    with running_window(qapp) as (loop, window):
        loop.run_until_complete(gui_app._refresh(window.controller, window, Hotkey()))
        assert window.controller.settings.menu_bar_only is None and calls == []
        window.controller.settings.menu_bar_only = True
        window.controller.models.settings_loaded.emit()
        assert calls == [True]


def test_screenshot_of_the_file_menu(qapp):
    """For a person to look at: the window with its menu bar and the File menu open."""
    from tests.support.gui import screenshot

    with running_window(qapp) as (loop, window):
        window.resize(900, 600)
        file_menu = window.menu_bar.actions()[0].menu()
        file_menu.popup(window.mapToGlobal(window.menu_bar.geometry().bottomLeft()))
        loop.run_until_complete(wait_for(file_menu.isVisible))
        assert screenshot(window, "menu-bar").exists()
        assert screenshot(file_menu, "menu-bar-file").exists()
        file_menu.close()
