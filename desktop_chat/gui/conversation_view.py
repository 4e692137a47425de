"""The conversation: a scrolling column of turns that follows a streaming reply unless the
user has scrolled up to read. Finished turns are never laid out again; only the streaming
reply changes: laying out every message again per token would make a long conversation
slower with each reply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QFrame, QPushButton, QScrollArea, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from desktop_chat.conversation import Conversation, Message
    from desktop_chat.gui.messages import AssistantMessage, ErrorBanner, UserMessage

#: Pixels from the bottom that still count as "at the bottom" (following the stream).
_FOLLOW_SLACK = 24
#: Turns rendered when a conversation opens, and each time "Show earlier" is pressed.
PAGE = 40
#: Of those, the turns drawn for the first frame (about a window's worth); the rest follow
#: a moment later, above them.
FIRST = 12


def _is(item: QWidget, name: str) -> bool:
    """The kind of a turn's widget, without importing the message widgets (loaded after the
    window's first frame)."""
    return type(item).__name__ == name


class ConversationView(QScrollArea):
    edit_requested = Signal(int)
    regenerate_requested = Signal()
    retry_requested = Signal()
    save_code_requested = Signal(str, str)
    save_reply_requested = Signal(str)
    version_requested = Signal(int, int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("conversation")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget(self)
        body.setObjectName("conversationBody")
        self._column = QVBoxLayout(body)
        self._column.setContentsMargins(28, 20, 28, 20)
        self._column.setSpacing(18)
        self._column.addStretch(1)
        self.setWidget(body)
        # A long conversation shows its last PAGE turns; older ones come on request, so
        # opening 10,000 messages costs what opening 40 does.
        self.earlier = QPushButton("", body)
        self.earlier.setObjectName("quiet")
        self.earlier.clicked.connect(lambda: self.show_earlier(PAGE))
        self.earlier.hide()
        self._column.insertWidget(0, self.earlier, 0, Qt.AlignmentFlag.AlignHCenter)
        self._conversation: Conversation | None = None
        self._shown_from = 0
        self._fill = QTimer(self)
        self._fill.setSingleShot(True)
        self._fill.setInterval(40)
        self._fill.timeout.connect(self._fill_page)
        self.items: list[QWidget] = []
        self.code_only = False
        self.following = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)

    # --- follow the stream ---------------------------------------------------------------

    @Slot(int)
    def _scrolled(self, value: int) -> None:
        self.following = value >= self.verticalScrollBar().maximum() - _FOLLOW_SLACK

    @Slot(int, int)
    def _range_changed(self, _low: int, high: int) -> None:
        if self.following:
            self.verticalScrollBar().setValue(high)

    def scroll_to_end(self) -> None:
        self.following = True
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    # --- turns ---------------------------------------------------------------------------

    def _append(self, widget: QWidget) -> None:
        self._column.insertWidget(self._column.count() - 1, widget)
        self.items.append(widget)

    def _make_user(self, index: int, message: Message) -> UserMessage:
        from desktop_chat.gui.messages import UserMessage

        widget = UserMessage(index, message, self.widget())
        widget.fit(self.viewport().width())
        widget.edit_requested.connect(self.edit_requested)
        widget.version_requested.connect(self.version_requested)
        return widget

    def _make_reply(self, index: int) -> AssistantMessage:
        from desktop_chat.gui.messages import AssistantMessage

        widget = AssistantMessage(index, self.code_only, self.widget())
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.version_requested.connect(self.version_requested)
        widget.save_code_requested.connect(self.save_code_requested)
        widget.save_reply_requested.connect(self.save_reply_requested)
        return widget

    def add_user(self, index: int, message: Message) -> UserMessage:
        self.clear_banners()
        widget = self._make_user(index, message)
        self._append(widget)
        self.scroll_to_end()  # sending always brings the new turn into view
        return widget

    def begin_reply(self, index: int) -> AssistantMessage:
        for item in self.items:
            if _is(item, "AssistantMessage"):
                item.set_last(False)
        widget = self._make_reply(index)
        self._append(widget)
        return widget

    def show_error(self, message: str, hint: str, retry: bool = True) -> ErrorBanner:
        from desktop_chat.gui.messages import ErrorBanner

        self.clear_banners()
        banner = ErrorBanner(message, hint, retry, self.widget())
        banner.retry_requested.connect(self.retry_requested)
        banner.dismissed.connect(self.clear_banners)
        self._append(banner)
        return banner

    @Slot()
    def clear_banners(self) -> None:
        for item in [i for i in self.items if _is(i, "ErrorBanner")]:
            self._remove(item)

    def _remove(self, widget: QWidget) -> None:
        self.items.remove(widget)
        self._column.removeWidget(widget)
        widget.hide()
        widget.deleteLater()

    def truncate(self, index: int) -> None:
        """Remove the turns from conversation index ``index`` on, and any banner."""
        self.clear_banners()
        for item in [i for i in self.items if getattr(i, "index", -1) >= index]:
            self._remove(item)
        replies = [i for i in self.items if _is(i, "AssistantMessage")]
        if replies:
            replies[-1].set_last(True)

    def show_conversation(self, conversation: Conversation) -> None:
        """Show a conversation (a new chat, a stored one): its last ``PAGE`` turns."""
        self._fill.stop()
        self.truncate(0)
        self._conversation = conversation
        self._shown_from = len(conversation.messages)
        self._render_before(max(0, self._shown_from - FIRST))
        self.scroll_to_end()
        if self._shown_from:
            self._fill.start()

    @Slot()
    def _fill_page(self) -> None:
        self.show_earlier(PAGE - FIRST)

    @Slot()
    def show_earlier(self, count: int = PAGE) -> None:
        """The ``count`` turns before those on show, keeping the view where it was."""
        bar = self.verticalScrollBar()
        from_bottom = bar.maximum() - bar.value()
        self._render_before(max(0, self._shown_from - count))
        self.widget().adjustSize()
        bar.setValue(bar.maximum() - from_bottom)

    def _render_before(self, start: int) -> None:
        messages = self._conversation.messages if self._conversation else []
        last = len(messages) - 1
        widgets = []
        for index in range(start, self._shown_from):
            message = messages[index]
            if message.role == "user":
                widgets.append(self._make_user(index, message))
            elif message.role == "assistant":
                reply = self._make_reply(index)
                reply.show_text(message.content, message.meta, index == last, message.tool_rounds)
                widgets.append(reply)
        # Above the turns already shown, below the "earlier" button.
        for offset, widget in enumerate(widgets):
            self._column.insertWidget(1 + offset, widget)
        self.items[0:0] = widgets
        self._shown_from = start
        self.earlier.setText(f"Show {min(PAGE, start)} earlier messages ({start} in all)")
        self.earlier.setVisible(start > 0)

    def show_versions(self, versions_of) -> None:
        """``versions_of(index)`` gives (position, count) for each turn on show."""
        for item in self.items:
            if hasattr(item, "show_versions"):
                item.show_versions(*versions_of(item.index))

    def scroll_to_index(self, index: int) -> None:
        if index < self._shown_from:  # a search hit further back than what is on show
            self._render_before(max(0, index - 2))
            self.widget().adjustSize()
        for item in self.items:
            if getattr(item, "index", None) == index:
                self.following = False
                self.ensureWidgetVisible(item, 0, 40)
                return

    def replies(self) -> list[AssistantMessage]:
        return [i for i in self.items if _is(i, "AssistantMessage")]

    def set_code_only(self, on: bool) -> None:
        self.code_only = on
        for reply in self.replies():
            reply.set_code_only(on)

    def restyle(self) -> None:
        for reply in self.replies():
            reply.restyle()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        width = self.viewport().width()
        for item in self.items:
            if _is(item, "UserMessage"):
                item.fit(width)
