"""A reply's thinking, above its answer: "Thinking…" streaming live, then "Thought for 12 s",
closed, a click opening it again.

Thinking can run to thousands of tokens before any answer, so it is plain text appended to a
plain-text view (which lays out only the lines on show), at most about 30 times a second:
never Markdown, never the whole thought drawn again per token.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QFrame, QPlainTextEdit, QToolButton, QVBoxLayout, QWidget

#: Milliseconds between two appends of streaming thought (as the answer's frames).
FRAME_MS = 33
#: The open thought's height: it scrolls inside, the conversation stays in view.
BODY_HEIGHT = 180


def thought_for(seconds: float | None) -> str:
    """ "Thought for 12 s", or "Thought" when how long is not known."""
    if seconds is None or seconds < 0:
        return "Thought"
    if seconds < 10:
        return f"Thought for {seconds:.1f} s"
    return f"Thought for {seconds:.0f} s"


class ThoughtView(QWidget):
    """The header (a quiet button that opens and closes it) and the thought's text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.header = QToolButton(self)
        self.header.setObjectName("quiet")
        self.header.setToolTip("Show or hide the model's thinking")
        self.header.clicked.connect(self.toggle)
        self.body = QPlainTextEdit(self)
        self.body.setObjectName("thought")
        self.body.setReadOnly(True)
        self.body.setFrameShape(QFrame.Shape.NoFrame)
        self.body.viewport().setAutoFillBackground(False)
        self.body.setFixedHeight(BODY_HEIGHT)
        layout.addWidget(self.header)
        layout.addWidget(self.body)
        self.title = "Thinking…"
        self.started: float | None = None  # the first thinking token (monotonic)
        self.done = False
        self._pending: list[str] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self.flush)
        self.appends = 0  # how many times text was appended (tests check the coalescing)
        self._set_open(True)

    @property
    def text(self) -> str:
        self.flush()
        return self.body.toPlainText()

    @property
    def is_open(self) -> bool:
        return not self.body.isHidden()

    def feed(self, text: str, started: float | None = None) -> None:
        """More thought; ``started``: when it began, if before now (a thought first shown as
        the answer)."""
        if self.started is None:
            self.started = started if started is not None else time.monotonic()
        self._pending.append(text)
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def flush(self) -> None:
        self._timer.stop()
        if not self._pending:
            return
        text, self._pending = "".join(self._pending), []
        cursor = self.body.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)  # only the new text is laid out
        self._fit()
        bar = self.body.verticalScrollBar()
        if self.is_open and not self.done:  # follow the thought as it streams
            bar.setValue(bar.maximum())
        self.appends += 1

    def end(self, seconds: float | None = None) -> None:
        """The answer began (or the reply ended): close it, saying for how long it thought;
        ``seconds`` None: measured here from the first thinking token, if it streamed."""
        if self.done:
            return
        self.flush()
        if seconds is None and self.started is not None:
            seconds = time.monotonic() - self.started
        self.done = True
        self.title = thought_for(seconds)
        self._set_open(False)

    def show_whole(self, text: str, seconds: float | None) -> None:
        """A stored thought (a conversation shown again): closed, its time if known."""
        self.body.setPlainText(text)
        self._fit()
        self.done = True
        self.title = thought_for(seconds)
        self._set_open(False)

    def _fit(self) -> None:
        """As tall as its lines, up to ``BODY_HEIGHT``: a short thought leaves no gap."""
        lines = self.body.document().documentLayout().documentSize().height()
        line = self.body.fontMetrics().lineSpacing()
        self.body.setFixedHeight(int(min(BODY_HEIGHT, max(1, lines) * line + 12)))

    @Slot()
    def toggle(self) -> None:
        self._set_open(not self.is_open)

    def _set_open(self, on: bool) -> None:
        self.body.setVisible(on)
        self.header.setText(f"{'▾' if on else '▸'} {self.title}")
