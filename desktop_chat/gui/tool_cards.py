"""A reply's tool calls as the conversation shows them: a card per call (collapsed to its tool
and outcome; open, its arguments and result), and the approval card a call waits behind.

Everything here that came from a tool or the model (names, arguments, results) is untrusted
text, shown as plain text only (``untrusted.plain``): never HTML, never Markdown, so a result
cannot draw a button, a link or an image. A reply's calls arrive in its stored form
(``Message.tool_rounds``): ``{"text", "calls": [{"id", "name", "arguments", "server"}],
"results": [{"call_id", "name", "content", "is_error", "seconds"}]}``, the same for a reply
streaming now and one shown again.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.gui.untrusted import plain

if TYPE_CHECKING:
    from desktop_chat.gui.tool_host import ApprovalRequest

#: A result longer than this is shown cut, with "Show all".
RESULT_CHARS = 800
RESULT_LINES = 12
#: Arguments on an approval card: enough to judge them, all of them in a scrolling box beyond.
ARGUMENTS_CHARS = 4_000


def pretty(arguments: Any) -> str:
    """Arguments as indented JSON; text that is not JSON stays as the model sent it."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return arguments
    return json.dumps(arguments, indent=2, ensure_ascii=False, sort_keys=False)


def cut(text: str, chars: int = RESULT_CHARS, lines: int = RESULT_LINES) -> str:
    """The start of ``text`` (at most ``chars`` characters and ``lines`` lines), "…" if cut."""
    head = "\n".join(text.splitlines()[:lines])[:chars]
    return text if head == text else head.rstrip() + " …"


def _text_label(text: str, parent: QWidget, name: str = "toolText") -> QLabel:
    label = plain(QLabel(text, parent))
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _monospace(label: QLabel) -> QLabel:
    font = label.font()
    font.setFamilies(["Menlo", "DejaVu Sans Mono", "monospace"])
    font.setStyleHint(font.StyleHint.Monospace)
    label.setFont(font)
    return label


def _title(server: str | None, name: str) -> str:
    return name if not server else f"{server} · {name}"


class ApprovalCard(QFrame):
    """Allow once / Always allow this tool / Deny for one call; it goes once answered or
    once the wait ends otherwise (Stop)."""

    answered = Signal()

    def __init__(self, request: ApprovalRequest, parent: QWidget | None = None) -> None:
        from desktop_chat.tools import Approval

        super().__init__(parent)
        self.setObjectName("approvalCard")
        self.request = request
        tool = request.tool
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(6)
        where = f"the MCP server “{tool.server}”" if tool.server else "a tool of this app"
        self.question = plain(
            QLabel(f"The model wants to use {tool.remote_name or tool.name} from {where}.", self)
        )
        self.question.setWordWrap(True)
        bold = self.question.font()
        bold.setBold(True)
        self.question.setFont(bold)
        layout.addWidget(self.question)
        if tool.description:
            about = _text_label(cut(tool.description, 300, 4), self, "hintLabel")
            layout.addWidget(about)
        shown = pretty(request.arguments)
        self.arguments = _monospace(_text_label(cut(shown, ARGUMENTS_CHARS, 60), self))
        self.arguments.setObjectName("toolArguments")
        layout.addWidget(self.arguments)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.once = QPushButton("Allow once", self)
        self.always = QPushButton("Always allow this tool", self)
        self.always.setToolTip(
            "Run this tool without asking from now on (revoke in Settings → Tools)"
        )
        self.deny = QPushButton("Deny", self)
        self.once.clicked.connect(lambda: self._answer(Approval.ONCE))
        self.always.clicked.connect(lambda: self._answer(Approval.ALWAYS))
        self.deny.clicked.connect(lambda: self._answer(Approval.DENY))
        for button in (self.once, self.always, self.deny):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        request.future.add_done_callback(self._done)

    def _done(self, _future) -> None:
        with contextlib.suppress(RuntimeError):  # the card went with its reply before
            self.answered.emit()

    def _answer(self, approval) -> None:
        self.request.answer(approval)


class CallCard(QFrame):
    """One call: a header to click (tool, time, outcome) over its arguments and result."""

    def __init__(self, call: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("toolCard")
        self.call = call
        self.result: dict[str, Any] | None = None
        self.state = "waiting"
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 4, 10, 6)
        layout.setSpacing(4)
        self.header = QToolButton(self)
        self.header.setObjectName("toolCardHeader")
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setArrowType(Qt.ArrowType.RightArrow)
        self.header.setAutoRaise(True)
        self.header.toggled.connect(self._toggled)
        layout.addWidget(self.header)
        self.body = QWidget(self)
        inner = QVBoxLayout(self.body)
        inner.setContentsMargins(18, 0, 0, 4)
        inner.setSpacing(4)
        inner.addWidget(_text_label("Arguments", self.body, "stats"))
        self.arguments = _monospace(_text_label(pretty(call.get("arguments") or ""), self.body))
        self.arguments.setObjectName("toolArguments")
        inner.addWidget(self.arguments)
        self.result_title = _text_label("Result", self.body, "stats")
        inner.addWidget(self.result_title)
        self.output = _monospace(_text_label("", self.body))
        self.output.setObjectName("toolResult")
        inner.addWidget(self.output)
        self.show_all = QToolButton(self.body)
        self.show_all.setObjectName("quiet")
        self.show_all.clicked.connect(self._show_all)
        self.show_all.hide()
        inner.addWidget(self.show_all, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self.body.hide()
        self._header()

    @property
    def call_id(self) -> str:
        return str(self.call.get("id", ""))

    def _header(self) -> None:
        title = _title(self.call.get("server"), str(self.call.get("name", "")))
        result = self.result
        if result is None:
            status = {"waiting": "waiting", "stopped": "stopped, not run"}[self.state]
        elif result.get("stopped"):
            status = "stopped"
        else:
            took = f"{float(result.get('seconds') or 0):.2f} s"
            if self.state == "denied":
                status = "denied"
            elif result.get("is_error"):
                status = f"failed · {took}"
            else:
                status = took
        self.header.setText(f"{title} — {status}")
        failed = self.state in ("failed", "denied", "stopped")
        self.setProperty("failed", failed)
        self.style().unpolish(self)
        self.style().polish(self)

    def set_result(self, result: dict[str, Any]) -> None:
        from desktop_chat.tools import DENIED

        self.result = result
        content = str(result.get("content", ""))
        if result.get("stopped"):
            self.state = "stopped"
        elif result.get("is_error"):
            self.state = "denied" if content == DENIED else "failed"
        else:
            self.state = "done"
        shown = cut(content)
        self.output.setText(shown or "(nothing)")
        self.result_title.setText("Error" if result.get("is_error") else "Result")
        if shown != content:
            self.show_all.setText(f"Show all ({len(content):,} characters)")
            self.show_all.show()
        self._header()

    def stopped(self) -> None:
        """The reply ended before this call had a result."""
        if self.result is None:
            self.state = "stopped"
            self.output.setText("The call was stopped before it ran.")
            self._header()

    @Slot(bool)
    def _toggled(self, open_: bool) -> None:
        self.header.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.body.setVisible(open_)

    @Slot()
    def _show_all(self) -> None:
        self.output.setText(str((self.result or {}).get("content", "")))
        self.show_all.hide()


class ToolRounds(QWidget):
    """A reply's rounds of calls, above its answer: what the model said before each round
    (its own text, rendered like the reply), then a card per call; and the approval card while
    a call waits."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("toolRounds")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self.cards: list[CallCard] = []
        self.approval: ApprovalCard | None = None

    def begin_round(self, text: str, calls: list[dict[str, Any]]) -> None:
        """A round: the text before it (the model's Markdown, inert), then its calls waiting."""
        if text.strip():
            from desktop_chat.gui.doc_view import DocView

            said = DocView(self)
            said.set_markdown(text)
            self._layout.addWidget(said)
        for call in calls:
            card = CallCard(call, self)
            self._layout.addWidget(card)
            self.cards.append(card)

    def add_result(self, result: dict[str, Any]) -> None:
        for card in self.cards:
            if card.result is None and card.call_id == str(result.get("call_id", "")):
                card.set_result(result)
                return

    def show_rounds(self, rounds: list[dict[str, Any]]) -> None:
        """A stored reply's calls, as they ended."""
        for step in rounds:
            self.begin_round(str(step.get("text") or ""), list(step.get("calls") or ()))
            for result in step.get("results") or ():
                self.add_result(result)
        self.end()

    def ask(self, request: ApprovalRequest) -> ApprovalCard:
        """The approval card, below the calls (the first one still waiting is the one asked)."""
        self.drop_approval()
        card = ApprovalCard(request, self)
        card.answered.connect(self._answered)
        self._layout.addWidget(card)
        self.approval = card
        # No focus taken: a key typed in the composer must never answer a card by itself.
        return card

    @Slot()
    def _answered(self) -> None:
        if self.sender() is self.approval:
            self.drop_approval()

    def drop_approval(self) -> None:
        card, self.approval = self.approval, None
        if card is not None:
            self._layout.removeWidget(card)
            card.hide()
            card.deleteLater()

    def end(self) -> None:
        """The reply ended: a call still without a result was stopped."""
        self.drop_approval()
        for card in self.cards:
            card.stopped()
