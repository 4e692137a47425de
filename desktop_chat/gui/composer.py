"""Where the user writes: Enter sends, Shift+Enter starts a new line, the box grows with the
text up to a few lines. Sending while a reply streams does nothing: the text stays. An image
pasted (⌘V of a screenshot) is handed to the window as an image, not inserted."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPlainTextEdit, QPushButton

_MAX_LINES = 8
#: A draft is saved this long after the last keystroke: a crash loses at most this much typing.
DRAFT_DELAY_MS = 600


class PromptEdit(QPlainTextEdit):
    submitted = Signal()
    #: An image pasted or dropped as data: its encoded bytes, or a ``QImage``
    #: (``pictures.from_clipboard``). Whoever holds the edit attaches it.
    image_pasted = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("prompt")
        self.setPlaceholderText("Ask anything…")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setTabChangesFocus(True)
        #: (document, its revision, its text) as last read.
        self._read: tuple[object, int, str] | None = None
        self.document().contentsChanged.connect(self._grow)
        self._grow()

    def toPlainText(self) -> str:
        """The text, read from the document once per change: the draft's save, Enter and the
        window share one read (a read of a pasted 2 MB costs the window ~5-10 ms; the draft
        is saved before Enter is pressed, so Enter usually reads nothing)."""
        document = self.document()
        revision = document.revision()  # grows with every change, undo and redo included
        read = self._read
        if read is None or read[0] is not document or read[1] != revision:
            read = self._read = (document, revision, super().toPlainText())
        return read[2]

    def dragEnterEvent(self, event) -> None:
        # Files dropped here join the context (the window takes them), not the prompt's text.
        if event.mimeData().hasUrls():
            event.ignore()
            return
        super().dragEnterEvent(event)

    def canInsertFromMimeData(self, source) -> bool:
        from desktop_chat.gui.pictures import carries_image

        return carries_image(source) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source) -> None:
        from desktop_chat.gui.pictures import from_clipboard

        if (image := from_clipboard(source)) is not None:
            self.image_pasted.emit(image)
            return
        super().insertFromMimeData(source)

    def keyPressEvent(self, event) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            event.accept()
            self.submitted.emit()
            return
        if enter:  # Shift+Enter: a plain new line (Qt would insert a line separator)
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)

    @Slot()
    def _grow(self) -> None:
        lines = max(1, min(_MAX_LINES, self.document().lineCount()))
        height = QFontMetrics(self.font()).lineSpacing() * lines
        self.setFixedHeight(height + 2 * int(self.document().documentMargin()) + 4)


class Composer(QFrame):
    """The prompt box and the Send button, which becomes Stop while a reply streams."""

    #: The text, as the object it is: a ``Signal(str)`` would copy a 2 MB message twice on
    #: its way (to a QString and back), 1-7 ms of the keypress.
    send_requested = Signal(object)
    stop_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("composerFrame")
        self.edit = PromptEdit(self)
        self.button = QPushButton("Send", self)
        self.button.setObjectName("sendButton")
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.button.clicked.connect(self._clicked)
        self.edit.submitted.connect(self._submit)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignBottom)
        self.busy = False
        #: Whether images go with the next message (the window says): then Enter sends even
        #: with nothing typed.
        self.attached = lambda: False
        self.setFocusProxy(self.edit)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.button.setText("Stop" if busy else "Send")
        self.button.setToolTip("Stop the reply (Esc or ⌘.)" if busy else "Send (Enter)")

    @Slot()
    def _clicked(self) -> None:
        if self.busy:
            self.stop_requested.emit()
        else:
            self._submit()

    @Slot()
    def _submit(self) -> None:
        text = self.edit.toPlainText().strip()
        if self.busy or not (text or self.attached()):
            return
        self.send_requested.emit(text)

    def clear(self) -> None:
        """Empties the composer: the window calls this once the prompt is safely in the
        conversation (Enter already read the text; a second copy of 2 MB costs a frame), or
        when an edit is cancelled."""
        self.edit.clear()

    def set_text(self, text: str) -> None:
        self.edit.setPlainText(text)
        self.edit.moveCursor(self.edit.textCursor().MoveOperation.End)
        self.edit.setFocus()


class DraftKeeper(QObject):
    """Keeps what is typed in ``edit`` as the draft under ``key`` (``drafts.Drafts``): saved
    a moment after the last keystroke, on the store's thread (a pasted 2 MB draft costs the
    window nothing), and at once when the conversation changes or the app quits
    (``save_now``). An unchanged draft is not written again."""

    def __init__(self, edit: QPlainTextEdit, drafts, key: str, parent=None) -> None:
        super().__init__(parent or edit)
        self.edit = edit
        self.drafts = drafts
        self.key = key
        #: The text last asked to be saved under ``key`` (None: not known to be saved).
        self._saved: str | None = None
        self._writing = None  # the last save on its way (a Future)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DRAFT_DELAY_MS)
        self._timer.timeout.connect(self.save_soon)
        if edit.toPlainText():  # typed before the store was open: newer than any draft
            self._timer.start()
        else:
            self._show(key)
        edit.textChanged.connect(self._timer.start)

    @Slot()
    def save_soon(self) -> None:
        """A pause in typing: the draft written on the store's thread."""
        self._timer.stop()
        text = self.edit.toPlainText()
        if text != self._saved:
            self._write(self.key, text)

    @Slot()
    def save_now(self) -> None:
        """The draft in the file when this returns (the conversation changes, the app quits)."""
        self._timer.stop()
        text = self.edit.toPlainText()
        if text != self._saved:
            self._write(self.key, text)
        if self._writing is not None:
            self._writing.result()

    def _write(self, key: str, text: str) -> None:
        self._saved = text
        self._writing = self.drafts.save_later(key, text)
        self._writing.add_done_callback(lambda done: self._refused(done, key, text))

    def _refused(self, done, key: str, text: str) -> None:
        """On the store's thread: a draft the store refused is tried again next time."""
        if not done.result() and self.key == key and self._saved is text:
            self._saved = None

    def switch(self, key: str) -> None:
        """Another conversation on show: this one's draft is kept, that one's shown."""
        self.save_now()
        if key != self.key:
            self._show(key)

    def sent(self, key: str) -> None:
        """What was typed is a message now: its draft goes (on the store's thread, after the
        message). ``key``: where it went (a new chat gets its id as it is sent)."""
        self._timer.stop()
        self._writing = self.drafts.drop_later(self.key)
        self.key, self._saved = key, ""

    def _show(self, key: str) -> None:
        self.key = key
        self._saved = text = self.drafts.get(key)
        self.edit.setPlainText(text)
        self.edit.moveCursor(self.edit.textCursor().MoveOperation.End)
        self._timer.stop()  # nothing new to save
