"""The sidebar: search (⌘F), New chat (⌘N), conversations newest first with the pinned on
top; rename, pin, export and delete (with Undo) from a right click."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


def highlighted(snippet: str) -> str:
    """A search snippet with its ``[hits]`` in bold, as safe rich text."""
    import html
    import re

    return re.sub(r"\[(.*?)\]", r"<b>\1</b>", html.escape(snippet))


class Sidebar(QWidget):
    open_requested = Signal(int, int)  # conversation id, message id (0: its current branch)
    new_requested = Signal()
    search_changed = Signal(str)
    rename_requested = Signal(int, str)
    pin_requested = Signal(int, bool)
    delete_requested = Signal(int)
    undo_requested = Signal(int)
    export_requested = Signal(int, str)  # conversation id, "md" or "json"
    import_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setMinimumWidth(200)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search…  ⌘F")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._typed)
        self.new_button = QPushButton("+ New chat", self)
        self.new_button.setToolTip("New chat (⌘N)")
        self.new_button.clicked.connect(self.new_requested)
        self.list = QListWidget(self)
        self.list.setObjectName("conversationList")
        self.list.setWordWrap(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.itemActivated.connect(self._open)
        self.list.itemClicked.connect(self._open)
        self.undo_bar = QWidget(self)
        row = QHBoxLayout(self.undo_bar)
        row.setContentsMargins(4, 0, 4, 0)
        self.undo_label = QLabel("", self.undo_bar)
        self.undo_label.setTextFormat(Qt.TextFormat.PlainText)  # a title: the user's words
        self.undo_label.setObjectName("hintLabel")
        self.undo_button = QToolButton(self.undo_bar)
        self.undo_button.setText("Undo")
        self.undo_button.clicked.connect(self._undo)
        row.addWidget(self.undo_label, 1)
        row.addWidget(self.undo_button)
        self.undo_bar.hide()
        self._deleted: int | None = None
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(self.undo_bar.hide)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 4, 10)
        layout.addWidget(self.search)
        layout.addWidget(self.new_button)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.undo_bar)
        self.current_id: int | None = None
        self.showing_hits = False

    # --- what it shows -------------------------------------------------------------------

    def show_conversations(self, conversations, current_id: int | None) -> None:
        """``conversations``: ``store.ConversationInfo`` rows, pinned first."""
        if self.search.text().strip():
            return  # the hits stay until the search is cleared
        self.showing_hits = False
        self.current_id = current_id
        self.list.clear()
        if not conversations:
            self._header("No conversations yet")
        pinned_done = False
        for info in conversations:
            if info.pinned and not pinned_done:
                self._header("Pinned")
                pinned_done = True
            elif not info.pinned and pinned_done:
                self._header("Recent")
                pinned_done = False
            item = QListWidgetItem(info.title or "New chat")
            item.setData(Qt.ItemDataRole.UserRole, (info.id, 0, info.pinned, info.title))
            self.list.addItem(item)
            if info.id == current_id:
                self.list.setCurrentItem(item)

    def show_hits(self, hits) -> None:
        """``hits``: ``store.SearchHit`` rows, each opening its conversation at the message."""
        import html

        self.showing_hits = True
        self.list.clear()
        if not hits:
            self._header("No matches")
        for hit in hits:
            item = QListWidgetItem()
            item.setData(
                Qt.ItemDataRole.UserRole, (hit.conversation_id, hit.message_id, False, hit.title)
            )
            label = QLabel(
                f"<b>{html.escape(hit.title or 'New chat')}</b><br>{highlighted(hit.snippet)}"
            )
            label.setTextFormat(Qt.TextFormat.RichText)  # everything but the <b> is escaped
            label.setWordWrap(True)
            label.setContentsMargins(6, 4, 6, 4)
            self.list.addItem(item)
            item.setSizeHint(label.sizeHint())
            self.list.setItemWidget(item, label)

    def _header(self, text: str) -> None:
        item = QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        font = item.font()
        font.setPointSizeF(font.pointSizeF() * 0.85)
        font.setBold(True)
        item.setFont(font)
        self.list.addItem(item)

    def show_deleted(self, conversation_id: int, title: str) -> None:
        self._deleted = conversation_id
        self.undo_label.setText(f"Deleted “{title or 'New chat'}”.")
        self.undo_bar.show()
        # As long as the store keeps it (read now, not at import: the store module, and
        # sqlite3 with it, is not needed before the window's first frame).
        from desktop_chat import store

        self._undo_timer.start(int(store.UNDO_S * 1000))

    # --- what the user does --------------------------------------------------------------

    @Slot(str)
    def _typed(self, text: str) -> None:
        self.search_changed.emit(text)

    @Slot(QListWidgetItem)
    def _open(self, item: QListWidgetItem) -> None:
        data = item.data(Qt.ItemDataRole.UserRole)
        if data:
            self.open_requested.emit(data[0], data[1])

    @Slot()
    def _undo(self) -> None:
        if self._deleted is not None:
            self.undo_requested.emit(self._deleted)
            self._deleted = None
        self.undo_bar.hide()

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    @Slot("QPoint")
    def _menu(self, point) -> None:
        item = self.list.itemAt(point)
        data = item.data(Qt.ItemDataRole.UserRole) if item else None
        if not data:
            return
        conversation_id, _, pinned, _ = data
        menu = QMenu(self)
        menu.addAction("Rename…").triggered.connect(lambda: self.start_rename(item))
        menu.addAction("Unpin" if pinned else "Pin").triggered.connect(
            lambda: self.pin_requested.emit(conversation_id, not pinned)
        )
        menu.addSeparator()
        menu.addAction("Export as Markdown…").triggered.connect(
            lambda: self.export_requested.emit(conversation_id, "md")
        )
        menu.addAction("Export as JSON…").triggered.connect(
            lambda: self.export_requested.emit(conversation_id, "json")
        )
        menu.addAction("Import a conversation…").triggered.connect(self.import_requested)
        menu.addSeparator()
        menu.addAction("Delete").triggered.connect(
            lambda: self.delete_requested.emit(conversation_id)
        )
        menu.popup(self.list.viewport().mapToGlobal(point))
        self.menu = menu

    def start_rename(self, item: QListWidgetItem) -> None:
        """Edit the title in place; Enter saves it."""
        data = item.data(Qt.ItemDataRole.UserRole)
        editor = QLineEdit(data[3] or "", self.list)
        editor.selectAll()
        self.list.setItemWidget(item, editor)
        editor.setFocus()

        def done() -> None:
            title = editor.text().strip()
            self.list.removeItemWidget(item)
            if title and title != data[3]:
                self.rename_requested.emit(data[0], title)

        editor.editingFinished.connect(done)
        self.editor = editor
