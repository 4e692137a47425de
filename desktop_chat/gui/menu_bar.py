"""The menu bar: File, Edit, Window and Help, with the application menu a Mac user expects.

On a Mac the bar has no parent, so Qt makes it the one global menu bar for every window of the
app (the settings dialog, the quick prompt): its items work whichever window has focus. Qt's
menu roles move About, Settings… (⌘,) and Quit (⌘Q) into the application menu there. Elsewhere
the bar belongs to the main window.

The shortcut-bearing actions are the main window's own (one QAction each): a key bound twice
would make Qt call it ambiguous and fire neither.
"""

from __future__ import annotations

import sys

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu, QMenuBar, QMessageBox, QWidget

Role = QAction.MenuRole
_EDIT = (
    ("Undo", QKeySequence.StandardKey.Undo, "undo"),
    ("Redo", QKeySequence.StandardKey.Redo, "redo"),
    None,
    ("Cut", QKeySequence.StandardKey.Cut, "cut"),
    ("Copy", QKeySequence.StandardKey.Copy, "copy"),
    ("Paste", QKeySequence.StandardKey.Paste, "paste"),
    ("Select All", QKeySequence.StandardKey.SelectAll, "selectAll"),
)


def build(window, platform: str = sys.platform) -> QMenuBar:
    bar = QMenuBar(None if platform == "darwin" else window)
    actions = window.named_actions
    file = bar.addMenu("&File")
    _add(file, actions["new"], "New Chat")
    _add(file, actions["open"], "Attach Files…")
    export = file.addMenu("Export Conversation")
    export.addAction("As Markdown…").triggered.connect(lambda: _export(window, "md"))
    export.addAction("As JSON…").triggered.connect(lambda: _export(window, "json"))
    export.aboutToShow.connect(lambda: export.setEnabled(_current(window) is not None))
    file.addAction("Import Conversation…").triggered.connect(window.history.import_conversation)
    file.addSeparator()
    _add(file, actions["close"], "Close Window")
    _add(file, actions["quit"], "Quit Desktop Chat", Role.QuitRole)

    edit = bar.addMenu("&Edit")
    for item in _EDIT:
        if item is None:
            edit.addSeparator()
            continue
        text, keys, method = item
        action = edit.addAction(text)
        action.setShortcut(keys)
        action.triggered.connect(lambda _=False, m=method: edit_focused(m))
    edit.addSeparator()
    _add(edit, actions["find"], "Find in Conversations…")
    _add(edit, actions["settings"], "Settings…", Role.PreferencesRole)

    windows = bar.addMenu("&Window")
    minimize = windows.addAction("Minimize")
    minimize.setShortcut(QKeySequence("Ctrl+M"))
    minimize.triggered.connect(lambda: _active(window).showMinimized())
    windows.addAction("Zoom").triggered.connect(lambda: _zoom(_active(window)))
    windows.addSeparator()
    windows.addAction("Desktop Chat").triggered.connect(window.bring_forward)
    quick = windows.addAction("Quick Prompt")
    quick.triggered.connect(lambda: window.quick_prompt and window.quick_prompt.present())

    help_menu = bar.addMenu("&Help")
    about = help_menu.addAction("About Desktop Chat")
    about.setMenuRole(Role.AboutRole)
    about.triggered.connect(lambda: show_about(window))
    help_menu.addAction("Show Log").triggered.connect(window.show_log)
    if platform != "darwin":
        window.setMenuBar(bar)
    return bar


def _add(menu: QMenu, action: QAction, text: str, role: Role = Role.NoRole) -> None:
    action.setText(text)
    action.setMenuRole(role)
    menu.addAction(action)


def edit_focused(method: str) -> bool:
    """Undo, Cut, Copy… on the widget with the keyboard focus, whichever window it is in."""
    widget = QApplication.focusWidget()
    fn = getattr(widget, method, None)
    if widget is None or not callable(fn):
        return False
    fn()
    return True


def _active(window) -> QWidget:
    return QApplication.activeWindow() or window


def _zoom(widget: QWidget) -> None:
    widget.showNormal() if widget.isMaximized() else widget.showMaximized()


def _current(window) -> int | None:
    """The conversation on show, if it is stored yet."""
    return window.controller.conversation_id if window.controller else None


def _export(window, kind: str) -> None:
    cid = _current(window)
    if cid is not None:
        window.history.export_conversation(cid, kind)


def show_about(parent) -> None:
    from desktop_chat import __version__

    box = QMessageBox(parent)
    box.setWindowTitle("About Desktop Chat")
    box.setTextFormat(box.textFormat().PlainText)
    box.setText(f"Desktop Chat {__version__}")
    box.setInformativeText("Chat with language models on your Mac and in the cloud.")
    box.open()
