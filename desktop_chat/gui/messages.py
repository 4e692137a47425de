"""The widgets of one turn: the user's bubble, the assistant's streamed reply, an error banner.

A reply streams into a ``MarkdownStream``: each finished block is rendered once (prose appended
to a document, code as a ``CodeBlock``), and only the unfinished tail is rendered again, at most
about 30 times a second however fast tokens arrive: rendering the whole message per token
grows with its length (5 ms per token at 1 KB, 13 ms at 5 KB).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.gui.code_block import CodeBlock, split_fence
from desktop_chat.gui.doc_view import DocView
from desktop_chat.gui.thought_view import ThoughtView
from desktop_chat.markdown_blocks import MarkdownStream
from desktop_chat.prompt_caches import cached_words

if TYPE_CHECKING:
    from desktop_chat.conversation import Message
    from desktop_chat.gui.tool_cards import ToolRounds
    from desktop_chat.gui.tool_host import ApprovalRequest

#: Characters of a failure's reason on a reply's line; the banner has the rest.
STATS_REASON = 90
#: Milliseconds between two renders of a streaming reply (~30 per second).
FRAME_MS = 33
#: A longer question is collapsed to its start, with "Show all": wrapping and painting a 2 MB
#: label froze the window for seconds after Send.
BUBBLE_CHARS = 3_000
BUBBLE_LINES = 40
#: What a collapsed question shows: a few lines, not a screenful. A wrapped label lays out its
#: text several times over, each character costing: a 1,000-character start paused the window
#: ~10 ms after Send, 400 characters ~3 ms. Only the whole text ("Show all") is selectable.
PREVIEW_CHARS = 400
PREVIEW_LINES = 6


def _quiet_button(text: str, tip: str, parent: QWidget) -> QToolButton:
    button = QToolButton(parent)
    button.setObjectName("quiet")
    button.setText(text)
    button.setToolTip(tip)
    return button


def stats_line(meta: dict) -> str:
    """ "model · 0.21 s first token · 48 tok/s · 212 tokens", or why the reply stopped or
    failed. A reply that thought: "… · 0.21 s first token · 3.10 s first answer token · … ·
    180 thinking + 32 answer tokens"."""
    parts = [str(meta["model"])] if meta.get("model") else []
    if meta.get("ttft_s") is not None:
        parts.append(f"{meta['ttft_s']:.2f} s first token")
    if meta.get("answer_ttft_s") is not None:
        parts.append(f"{meta['answer_ttft_s']:.2f} s first answer token")
    if meta.get("tokens_per_s"):
        parts.append(f"{meta['tokens_per_s']:.0f} tok/s")
    usage = meta.get("usage") or {}
    if usage.get("completion_tokens"):
        approx = "≈" if usage.get("estimated") else ""
        n = usage["completion_tokens"]
        thought = usage.get("reasoning_tokens")
        if thought and n >= thought:  # completion_tokens counts the thinking too (as OpenAI)
            parts.append(f"{approx}{thought} thinking + {approx}{n - thought} answer tokens")
        else:
            parts.append(f"{approx}{n} token{'' if n == 1 else 's'}")
    # A local reply: what of the prompt the engine had read already (its prompt cache).
    if cached := cached_words(
        int(meta.get("cached_prompt_tokens") or 0), usage.get("prompt_tokens")
    ):
        parts.append(cached)
    if meta.get("dropped_messages"):
        parts.append(f"{meta['dropped_messages']} oldest messages left out to fit")
    if meta.get("failed"):  # before any text: not something the user stopped
        reason = str(meta.get("error") or "")
        if len(reason) > STATS_REASON:  # the banner above says it whole
            reason = reason[: STATS_REASON - 1].rstrip() + "…"
        parts.append(f"failed: {reason}" if reason else "failed")
    elif meta.get("interrupted"):
        parts.append("stopped" if not meta.get("error") else "cut off by an error")
    return " · ".join(parts)


class Versions(QWidget):
    """‹ 2/3 ›: flip between versions of a turn (regenerated replies, edited questions)."""

    step_requested = Signal(int)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.back = _quiet_button("‹", "Previous version", self)
        self.label = QLabel("", self)
        self.label.setObjectName("stats")
        self.forward = _quiet_button("›", "Next version", self)
        self.back.clicked.connect(lambda: self.step_requested.emit(-1))
        self.forward.clicked.connect(lambda: self.step_requested.emit(1))
        for widget in (self.back, self.label, self.forward):
            row.addWidget(widget)
        self.hide()

    def show_position(self, position: int, count: int) -> None:
        self.label.setText(f"{position}/{count}")
        self.back.setEnabled(position > 1)
        self.forward.setEnabled(position < count)
        self.setVisible(count > 1)


def _versions(message, row: QHBoxLayout, at: int, position: int, count: int) -> Versions | None:
    """A message's ‹ 2/3 ›, made in ``row`` at ``at`` only once the turn has two versions."""
    versions = message.versions
    if versions is None and count > 1:
        versions = Versions(message)
        versions.step_requested.connect(
            lambda step: message.version_requested.emit(message.index, step)
        )
        row.insertWidget(at, versions)
    if versions is not None:
        versions.show_position(position, count)
    return versions


class UserMessage(QWidget):
    edit_requested = Signal(int)
    version_requested = Signal(int, int)

    def __init__(self, index: int, message: Message, parent=None) -> None:
        super().__init__(parent)
        self.index = index
        self.text = str(message.meta.get("display", message.content))
        files = message.meta.get("files") or []
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        row = QHBoxLayout()
        row.addStretch(1)
        self.bubble = QFrame(self)
        self.bubble.setObjectName("userBubble")
        self.bubble.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        inner = QVBoxLayout(self.bubble)
        inner.setContentsMargins(14, 9, 14, 9)
        self.shown = _start_of(self.text)
        self.label = QLabel(self.shown, self.bubble)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        inner.addWidget(self.label)
        self.show_all: QToolButton | None = None
        self.whole: QWidget | None = None  # the whole text, once "Show all" is pressed
        if self.shown == self.text:
            self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.images: QWidget | None = None  # the images it carried, as thumbnails
        if message.images:
            from desktop_chat.gui.picture_view import ThumbStrip

            self.images = ThumbStrip(message.images, parent=self.bubble)
            inner.addWidget(self.images)
        if files:
            names = QLabel("Attached: " + ", ".join(f["name"] for f in files), self.bubble)
            names.setTextFormat(Qt.TextFormat.PlainText)  # a file may be named "<img src=…>"
            names.setObjectName("chipSize")
            inner.addWidget(names)
        row.addWidget(self.bubble)
        outer.addLayout(row)
        self._tools = QHBoxLayout()
        self._tools.addStretch(1)
        outer.addLayout(self._tools)
        self.versions: Versions | None = None  # made when the turn has a second version
        self.edit_button: QToolButton | None = None
        # Show all, Edit and Copy come a moment later: Send's own pause (the bubble, the
        # reply, the composer emptied) is what a keystroke typed next would wait for, and
        # counting a 2 MB message's lines is a millisecond or two.
        QTimer.singleShot(0, self, self._make_buttons)

    def _make_buttons(self) -> None:
        if self.edit_button is not None:
            return
        if self.shown != self.text:
            lines = self.text.count("\n") + 1
            self.show_all = _quiet_button(
                f"Show all ({lines:,} lines, {_size(_utf8_size(self.text))})",
                "Show the whole message in a scrolling box",
                self.bubble,
            )
            self.show_all.clicked.connect(self._show_all)
            inner = self.bubble.layout()
            inner.insertWidget(
                inner.indexOf(self.label) + 1, self.show_all, 0, Qt.AlignmentFlag.AlignLeft
            )
        self.edit_button = _quiet_button("Edit", "Edit this message and send it again", self)
        self.edit_button.clicked.connect(self._edit)
        copy = _quiet_button("Copy", "Copy this message", self)
        copy.clicked.connect(self._copy)
        self._tools.addWidget(self.edit_button)
        self._tools.addWidget(copy)

    def show_versions(self, position: int, count: int) -> None:
        self.versions = _versions(self, self._tools, 1, position, count)

    def fit(self, width: int) -> None:
        widest = max(200, int(width * 0.75))
        self.bubble.setMaximumWidth(widest)
        # A wrapped QLabel guesses a narrow width; ask for the text's own width, up to the cap.
        lines = self.shown.splitlines() or [""]
        natural = max(self.label.fontMetrics().horizontalAdvance(line) for line in lines) + 4
        self.label.setMinimumWidth(min(natural, widest - 28))
        if self.whole is not None:
            self.whole.setMinimumWidth(widest - 28)

    @Slot()
    def _show_all(self) -> None:
        """The whole message in a read-only box that scrolls: a plain-text view lays out only
        the lines on show, so even megabytes open at once."""
        from PySide6.QtWidgets import QPlainTextEdit

        box = QPlainTextEdit(self.bubble)
        box.setObjectName("wholeMessage")
        box.setReadOnly(True)
        box.setFrameShape(QFrame.Shape.NoFrame)
        box.viewport().setAutoFillBackground(False)  # the bubble's own colour behind it
        box.setPlainText(self.text)
        box.setMinimumHeight(min(600, max(200, self.window().height() // 2)))
        self.bubble.layout().replaceWidget(self.label, box)
        box.show()
        self.label.hide()
        self.show_all.hide()
        self.whole = box
        self.fit(self.parentWidget().width() if self.parentWidget() else self.width())

    @Slot()
    def _edit(self) -> None:
        self.edit_requested.emit(self.index)

    @Slot()
    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text)


def _start_of(text: str) -> str:
    """The text, if it has at most ``BUBBLE_CHARS`` characters and ``BUBBLE_LINES`` lines;
    else its first ``PREVIEW_LINES`` lines up to ``PREVIEW_CHARS`` characters, and "…"."""
    if len(text) <= BUBBLE_CHARS and text.count("\n") < BUBBLE_LINES:
        return text
    cut = min(len(text), PREVIEW_CHARS)
    newline = -1
    for _ in range(PREVIEW_LINES):
        newline = text.find("\n", newline + 1, cut)
        if newline < 0:
            break
    else:
        cut = newline
    return text[:cut].rstrip() + " …"


def _utf8_size(text: str) -> int:
    # ASCII (most pastes) is one byte a character: known without a 2 MB copy.
    return len(text) if text.isascii() else len(text.encode(errors="replace"))


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB"


class AssistantMessage(QWidget):
    regenerate_requested = Signal()
    save_code_requested = Signal(str, str)
    save_reply_requested = Signal(str)
    version_requested = Signal(int, int)

    def __init__(self, index: int, code_only: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.index = index
        self.code_only = code_only
        self.stream = MarkdownStream()
        self._pending: list[str] = []
        self._prose: DocView | None = None  # the document finished prose blocks join
        self.segments: list[QWidget] = []
        self.code_blocks: list[CodeBlock] = []
        self.thought: ThoughtView | None = None  # made when the reply thinks
        self.tools: ToolRounds | None = None  # made when the reply calls tools
        self._first_piece: float | None = None  # when the reply's first piece came
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(8)
        # Finished blocks go above this mark, the streaming tail below it. The tail's widgets
        # are made on first use: a stored reply shown again never needs them, and opening a
        # long conversation makes dozens of replies at once.
        self._mark = QWidget(self)
        self._mark.setFixedHeight(0)
        self._layout.addWidget(self._mark)
        self._tail_prose: DocView | None = None
        self._tail_code: CodeBlock | None = None
        self._tail_is_code = False
        self._no_code = QLabel("No code in this reply.", self)
        self._no_code.setObjectName("stats")
        self._no_code.hide()
        self._layout.addWidget(self._no_code)
        footer = QHBoxLayout()
        footer.setSpacing(4)
        self.stats = QLabel("", self)
        self.stats.setObjectName("stats")
        self.stats.setTextFormat(Qt.TextFormat.PlainText)  # a server's words, never markup
        # Wrapped: a long figures line (a reply that thought) must never widen the column.
        self.stats.setWordWrap(True)
        footer.addWidget(self.stats, 1)
        self._layout.addLayout(footer)
        self._footer = footer
        # Copy, Save and Regenerate are made when the reply ends (a streaming reply has none
        # to offer), the versions when there is a second one: Send makes a reply at once.
        self.copy_button: QToolButton | None = None
        self.save_button: QToolButton | None = None
        self.regenerate_button: QToolButton | None = None
        self.versions: Versions | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self.flush)
        self.renders = 0  # how many times the tail was drawn (tests check the coalescing)

    @property
    def text(self) -> str:
        return self.stream.text

    # --- streaming -----------------------------------------------------------------------

    def feed(self, delta: str) -> None:
        if self._first_piece is None:
            self._first_piece = time.monotonic()
        if self.thought is not None and delta.strip():
            self.thought.end()  # the answer began: the thought closes, saying how long it took
        self._pending += self.stream.feed(delta)
        if not self._timer.isActive():
            self._timer.start()

    def think(self, text: str, was_answer: bool = False) -> None:
        """A piece of the model's thinking, shown apart from the answer; ``was_answer``: the
        text streamed so far as the answer was this thought (``text`` holds it), so the
        answer starts again."""
        if was_answer:
            self._restart_answer()
        elif self._first_piece is None:
            self._first_piece = time.monotonic()
        if self.thought is None:
            self.thought = ThoughtView(self)
            self.thought.setVisible(not self.code_only)
            self._layout.insertWidget(0, self.thought)
        self.thought.feed(text, started=self._first_piece)

    def _restart_answer(self) -> None:
        """Forget the answer shown so far: its widgets go, its stream begins again."""
        self._timer.stop()
        self.stream, self._pending, self._prose = MarkdownStream(), [], None
        for widget in self.segments:
            self._layout.removeWidget(widget)
            widget.deleteLater()
        self.segments, self.code_blocks = [], []
        self._hide_tail()
        self._tail_is_code = False

    @Slot()
    def flush(self) -> None:
        blocks, self._pending = self._pending, []
        for block in blocks:
            self._add_block(block)
        self._show_tail(self.stream.tail)
        self.renders += 1

    def finish(self, meta: dict, last: bool = True) -> None:
        """The reply ended (finished, stopped or failed): render what is left, show stats."""
        self._timer.stop()
        self._pending += self.stream.finish()
        self.flush()
        if self.thought is not None:
            self.thought.end()  # stopped while thinking: it closes all the same
        if self.tools is not None:
            self.tools.end()  # a call left without a result was stopped
        self.stats.setText(stats_line(meta))
        self._make_buttons()
        self.copy_button.setVisible(bool(self.text))
        self.save_button.setVisible(bool(self.text))
        self.set_last(last)
        self._apply_code_only()

    def _make_buttons(self) -> None:
        if self.copy_button is not None:
            return
        self.save_button = _quiet_button("Save as…", "Save this reply as a Markdown file", self)
        self.save_button.clicked.connect(lambda: self.save_reply_requested.emit(self.text))
        self.copy_button = _quiet_button("Copy", "Copy the whole reply as Markdown", self)
        self.copy_button.clicked.connect(self._copy)
        self.regenerate_button = _quiet_button("↻", "Regenerate this reply", self)
        self.regenerate_button.clicked.connect(self.regenerate_requested)
        for button in (self.save_button, self.copy_button, self.regenerate_button):
            self._footer.addWidget(button)

    def set_last(self, last: bool) -> None:
        if last or self.regenerate_button is not None:
            self._make_buttons()
            self.regenerate_button.setVisible(last)

    def show_versions(self, position: int, count: int) -> None:
        self.versions = _versions(self, self._footer, 0, position, count)

    def show_text(self, text: str, meta: dict, last: bool, tool_rounds: list = ()) -> None:
        """A whole reply at once (a conversation shown again), its thought closed, its
        tool calls above the answer."""
        if tool_rounds:
            self._tool_rounds().show_rounds(list(tool_rounds))
        if reasoning := meta.get("reasoning"):
            self.thought = ThoughtView(self)
            self.thought.setVisible(not self.code_only)
            self._layout.insertWidget(0, self.thought)
            first, answer = meta.get("ttft_s"), meta.get("answer_ttft_s")
            took = answer - first if first is not None and answer is not None else None
            self.thought.show_whole(str(reasoning), took)
        self._pending += self.stream.feed(text)
        self.finish(meta, last)

    # --- tool calls ----------------------------------------------------------------------

    def _tool_rounds(self) -> ToolRounds:
        """The calls' column, above the answer (and below anything the reply said before)."""
        if self.tools is None:
            from desktop_chat.gui.tool_cards import ToolRounds

            self.tools = ToolRounds(self)
            self._layout.insertWidget(self._layout.indexOf(self._mark), self.tools)
        return self.tools

    def tool_calls(self, calls: list[dict]) -> None:
        """The model asked for tools: what it said first joins the round (the answer starts
        again below the calls, as the session keeps it), and each call waits in its card."""
        said = self.text
        self._restart_answer()
        self._tool_rounds().begin_round(said, calls)

    def tool_result(self, result: dict) -> None:
        if self.tools is not None:
            self.tools.add_result(result)

    def ask(self, request: ApprovalRequest) -> None:
        self._tool_rounds().ask(request)

    # --- blocks --------------------------------------------------------------------------

    def _insert(self, widget: QWidget) -> None:
        self._layout.insertWidget(self._layout.indexOf(self._mark), widget)
        self.segments.append(widget)

    def _tail_doc(self) -> DocView:
        if self._tail_prose is None:
            self._tail_prose = DocView(self)
            self._layout.insertWidget(self._layout.indexOf(self._mark) + 1, self._tail_prose)
        return self._tail_prose

    def _tail_block(self) -> CodeBlock:
        if self._tail_code is None:
            self._tail_code = CodeBlock(parent=self)
            self._tail_code.save_requested.connect(self.save_code_requested)
            self._layout.insertWidget(self._layout.indexOf(self._mark) + 1, self._tail_code)
        return self._tail_code

    def _hide_tail(self, code: bool = True, prose: bool = True) -> None:
        if code and self._tail_code is not None:
            self._tail_code.hide()
        if prose and self._tail_prose is not None:
            self._tail_prose.hide()

    def _add_block(self, block: str) -> None:
        fenced = split_fence(block)
        if fenced is not None:
            language, code = fenced
            if self._tail_is_code:
                # The streaming code block is now final: it moves above the mark as it is,
                # and the next code to stream gets a new one.
                widget, self._tail_code = self._tail_code, None
                widget.set_code(code, language)
                self._tail_is_code = False
                self._layout.removeWidget(widget)
                self._insert(widget)
            else:
                widget = CodeBlock(language, code, self)
                widget.save_requested.connect(self.save_code_requested)
                self._insert(widget)
            self.code_blocks.append(widget)
            self._prose = None
            return
        if not block.strip():
            return
        if self._prose is None:
            self._prose = DocView(self)
            self._prose.setVisible(not self._hide_prose())
            self._insert(self._prose)
        self._prose.append_markdown(block)

    def _show_tail(self, tail: str) -> None:
        fenced = split_fence(tail) if tail else None
        if fenced is not None:
            self._hide_tail(code=False)
            block = self._tail_block()
            block.set_code(fenced[1], fenced[0], streaming=True)
            block.show()
            self._tail_is_code = True
            self._apply_code_only()
            return
        self._hide_tail(prose=False)
        self._tail_is_code = False
        if tail.strip() and not self._hide_prose():
            doc = self._tail_doc()
            doc.set_markdown(tail)
            doc.show()
        else:
            self._hide_tail(code=False)

    # --- code only -----------------------------------------------------------------------

    def set_code_only(self, on: bool) -> None:
        self.code_only = on
        self._apply_code_only()

    def _hide_prose(self) -> bool:
        """Code only hides the prose around code; a reply with no code at all stays readable."""
        return self.code_only and bool(self.code_blocks or self._tail_is_code)

    def _apply_code_only(self) -> None:
        if self.thought is not None:  # code only is the code: never the thinking
            self.thought.setVisible(not self.code_only)
        hide = self._hide_prose()
        for widget in self.segments:
            if not isinstance(widget, CodeBlock):
                widget.setVisible(not hide)
        if hide:
            self._hide_tail(code=False)
        ended = not self._timer.isActive() and not self.stream.tail
        self._no_code.setVisible(
            self.code_only and ended and not self.code_blocks and bool(self.text)
        )

    @Slot()
    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text)

    def restyle(self) -> None:
        for block in [*self.code_blocks, self._tail_code]:
            if block is not None:
                block.restyle()


class ErrorBanner(QFrame):
    """What went wrong and what to do, with Retry when trying again can help."""

    retry_requested = Signal()
    dismissed = Signal()

    def __init__(self, message: str, hint: str = "", retry: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        text = QVBoxLayout()
        self.message = QLabel(message, self)
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.message.font()
        font.setBold(True)
        self.message.setFont(font)
        text.addWidget(self.message)
        self.hint = QLabel(hint, self)
        self.hint.setObjectName("hintLabel")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.hint.setVisible(bool(hint))
        text.addWidget(self.hint)
        layout.addLayout(text, 1)
        self.retry_button = QPushButton("Retry", self)
        self.retry_button.clicked.connect(self.retry_requested)
        self.retry_button.setVisible(retry)
        layout.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignTop)
        close = _quiet_button("✕", "Dismiss", self)
        close.clicked.connect(self.dismissed)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
