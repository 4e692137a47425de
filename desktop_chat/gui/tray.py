"""The menu-bar (tray) icon. Its menu is rebuilt each time it opens: Quick Prompt (with its
shortcut), New Chat, Show Window, recent conversations, the model with a submenu to switch,
Settings…, Show Log, Quit."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QPointF, Qt, Slot
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon


def icon() -> QIcon:
    """The speech bubble, black on transparent at 1x and 2x: a template (mask) image on
    macOS, which the menu bar tints for light and dark."""
    from desktop_chat import resources

    one, two = resources.path("menubar-template.png"), resources.path("menubar-template@2x.png")
    if one.exists():
        result = QIcon(str(one))
        if two.exists():
            result.addFile(str(two))
        result.setIsMask(sys.platform == "darwin")
        return result
    return drawn_icon()


def drawn_icon() -> QIcon:
    """The same bubble drawn by Qt, should the files be missing."""
    pixmap = QPixmap(44, 44)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    path = QPainterPath()
    path.addRoundedRect(4, 6, 36, 26, 9, 9)
    tail = QPainterPath()
    tail.moveTo(QPointF(12, 30))
    tail.lineTo(QPointF(10, 40))
    tail.lineTo(QPointF(22, 31))
    path = path.united(tail)
    painter.fillPath(path, QColor("black"))
    painter.end()
    result = QIcon(pixmap)
    result.setIsMask(sys.platform == "darwin")
    return result


class Tray(QObject):
    def __init__(self, window, quick_prompt, hotkey, quit_app, parent=None) -> None:
        super().__init__(parent)
        self.window = window
        self.quick = quick_prompt
        self.hotkey = hotkey
        self.quit_app = quit_app
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild)
        self.icon = QSystemTrayIcon(icon(), self)
        self.icon.setToolTip("Desktop Chat")
        self.icon.setContextMenu(self.menu)
        self.rebuild()

    def show(self) -> bool:
        """False where there is no menu bar / system tray to live in."""
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return False
        self.icon.show()
        return True

    @Slot()
    def rebuild(self) -> None:
        menu, controller = self.menu, self.window.controller
        menu.clear()
        quick = menu.addAction("Quick Prompt")
        if self.hotkey is not None and self.hotkey.label and not self.hotkey.problem:
            quick.setText(f"Quick Prompt\t{self.hotkey.label}")
        quick.triggered.connect(self.quick.present)
        menu.addAction("New Chat").triggered.connect(self.new_chat)
        menu.addAction("Show Window").triggered.connect(self.show_window)
        menu.addSeparator()
        # What the store cannot read is said in the window.
        recent = (controller.conversations(5) or []) if controller else []
        if recent:
            menu.addSection("Recent")
        for info in recent:
            action = QAction(info.title or "New chat", menu)
            action.triggered.connect(lambda _=False, cid=info.id: self.open(cid))
            menu.addAction(action)
        menu.addSeparator()
        choice = controller.choice if controller else None
        models = menu.addMenu(f"Model: {choice.label if choice else 'none'}")
        for option in controller.models.choices if controller else []:
            action = QAction(option.label, models)
            action.setCheckable(True)
            action.setChecked(choice is not None and option.key == choice.key)
            action.triggered.connect(lambda _=False, c=option: self.window.choose(c))
            models.addAction(action)
        menu.addAction("Settings…").triggered.connect(self.settings)
        menu.addAction("Show Log").triggered.connect(self.window.show_log)
        menu.addSeparator()
        menu.addAction("Quit Desktop Chat").triggered.connect(self.quit_app)

    def show_window(self) -> None:
        self.window.bring_forward()

    def new_chat(self) -> None:
        self.show_window()
        self.window.new_chat()

    def open(self, conversation_id: int) -> None:
        self.show_window()
        self.window.history.open_conversation(conversation_id)

    def settings(self) -> None:
        self.show_window()
        self.window.open_settings()
