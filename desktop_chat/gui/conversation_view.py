"""The conversation: a scrolling column of turns that follows a streaming reply unless the
user has scrolled up to read. Finished turns are never laid out again; only the streaming
reply changes (DESIGN.md §4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from desktop_chat.conversation import Conversation, Message
    from desktop_chat.gui.messages import AssistantMessage, ErrorBanner, UserMessage

#: Pixels from the bottom that still count as "at the bottom" (following the stream).
_FOLLOW_SLACK = 24


def _is(item: QWidget, name: str) -> bool:
    """The kind of a turn's widget, without importing the message widgets (loaded after the
    window's first frame)."""
    return type(item).__name__ == name


class ConversationView(QScrollArea):
    edit_requested = Signal(int)
    regenerate_requested = Signal()
    retry_requested = Signal()
    save_code_requested = Signal(str, str)
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

    def add_user(self, index: int, message: Message) -> UserMessage:
        from desktop_chat.gui.messages import UserMessage

        self.clear_banners()
        widget = UserMessage(index, message, self.widget())
        widget.fit(self.viewport().width())
        widget.edit_requested.connect(self.edit_requested)
        widget.version_requested.connect(self.version_requested)
        self._append(widget)
        self.scroll_to_end()  # sending always brings the new turn into view
        return widget

    def begin_reply(self, index: int) -> AssistantMessage:
        from desktop_chat.gui.messages import AssistantMessage

        for item in self.items:
            if _is(item, "AssistantMessage"):
                item.set_last(False)
        widget = AssistantMessage(index, self.code_only, self.widget())
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.version_requested.connect(self.version_requested)
        widget.save_code_requested.connect(self.save_code_requested)
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
        """Show a whole conversation (a new chat, a loaded one) at once."""
        self.truncate(0)
        last = len(conversation.messages) - 1
        for index, message in enumerate(conversation.messages):
            if message.role == "user":
                self.add_user(index, message)
            elif message.role == "assistant":
                reply = self.begin_reply(index)
                reply.show_text(message.content, message.meta, index == last)
        self.scroll_to_end()

    def show_versions(self, versions_of) -> None:
        """``versions_of(index)`` gives (position, count) for each turn on show."""
        for item in self.items:
            if hasattr(item, "versions"):
                item.versions.show_position(*versions_of(item.index))

    def scroll_to_index(self, index: int) -> None:
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
