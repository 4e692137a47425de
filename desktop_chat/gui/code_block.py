"""A code block in the conversation: highlighted with pygments, its language named, Copy and
Save as… beside it. Long lines scroll sideways instead of wrapping.

While a block streams, only what changed is lexed (``code_lexer.IncrementalLexer``) and only
the lines whose tokens changed are formatted again: a ``QSyntaxHighlighter`` formats one line
(a ``QTextBlock``) at a time from those tokens and Qt lays out only the lines it touched, so a
token costs the same at 200 KB as at 1 KB. The document holds the code as plain text and the
colours as layout formats; Copy and Save as… take ``CodeBlock.code``, the exact text received.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from typing import TYPE_CHECKING

from PySide6.QtCore import QSizeF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QSyntaxHighlighter,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
)

from desktop_chat.gui import theme

if TYPE_CHECKING:  # pygments loads with the first code block, not with the window
    from desktop_chat.gui.code_lexer import IncrementalLexer

#: Characters Qt would take as a line break; shown as spaces so that lines stay lines.
_BREAKS = str.maketrans({"\r": " ", "\u2029": " ", "\ufdd0": " ", "\ufdd1": " "})

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*\n?")


def split_fence(block: str) -> tuple[str, str] | None:
    """(language, code) of a fenced block, finished or still streaming; ``None`` for prose."""
    match = _FENCE.match(block)
    if match is None:
        return None
    marker = match.group(1)
    # Drop the closing fence when it has arrived: the last line that is not empty. Only that
    # line is looked at, so a block still streaming costs the same at any length.
    end = len(block)
    while end > match.end() and block[end - 1] == "\n":
        end -= 1
    last = max(block.rfind("\n", match.end(), end) + 1, match.end())
    closing = block[last:end].strip()
    if closing.startswith(marker[0] * len(marker)) and not closing.strip(marker[0]):
        end = last
    while end > match.end() and block[end - 1] == "\n":
        end -= 1
    return match.group(2).lower(), block[match.end() : end]


def _lexer(language: str):
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


def file_extension(language: str) -> str:
    """A fitting extension for Save as…: ``python`` → ``.py``; unknown → ``.txt``."""
    for pattern in getattr(_lexer(language), "filenames", ()):
        if pattern.startswith("*.") and not any(ch in pattern[2:] for ch in "*?["):
            return pattern[1:]
    return ".txt"


class _Highlighter(QSyntaxHighlighter):
    """Formats one line from the block's tokens; the lexing is done before (``CodeBlock``)."""

    def __init__(self, document, tokens: IncrementalLexer, lines: list[int]) -> None:
        super().__init__(document)  # an empty document: nothing is highlighted twice
        self.tokens = tokens
        self.lines = lines  # where each line starts in ``tokens.text``
        self._style = None
        self._formats: dict = {}
        #: Lines formatted so far: the tests bound how many one token costs.
        self.formatted = 0

    def set_style(self, name: str) -> None:
        from pygments.styles import get_style_by_name

        self._style = get_style_by_name(name)
        self._formats.clear()

    def _format(self, ttype) -> QTextCharFormat | None:
        if ttype not in self._formats:
            look = self._style.style_for_token(ttype)
            fmt = QTextCharFormat()
            if look["color"]:
                fmt.setForeground(QColor(f"#{look['color']}"))
            if look["bgcolor"]:
                fmt.setBackground(QColor(f"#{look['bgcolor']}"))
            if look["bold"]:
                fmt.setFontWeight(QFont.Weight.Bold)
            if look["italic"]:
                fmt.setFontItalic(True)
            if look["underline"]:
                fmt.setFontUnderline(True)
            self._formats[ttype] = None if fmt.properties() == {} else fmt
        return self._formats[ttype]

    def highlightBlock(self, text: str) -> None:
        number = self.currentBlock().blockNumber()
        if self._style is None or number >= len(self.lines):
            return
        self.formatted += 1
        tokens = self.tokens
        start = self.lines[number]
        end = start + len(text)
        # Qt counts UTF-16 units: a character past U+FFFF is two of them.
        units = None if text.isascii() else _utf16_offsets(text)
        i = max(0, tokens.token_at(start))
        starts, types = tokens.starts, tokens.types
        while i < len(starts) and starts[i] < end:
            a = max(starts[i], start) - start
            b = (min(starts[i + 1], end) if i + 1 < len(starts) else end) - start
            fmt = self._format(types[i])
            if fmt is not None and b > a:
                if units is not None:
                    a, b = units[a], units[b]
                self.setFormat(a, b - a, fmt)
            i += 1


def _utf16_offsets(text: str) -> list[int]:
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + (2 if ord(ch) > 0xFFFF else 1))
    return offsets


class _CodeText(QTextBrowser):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setLineWrapMode(QTextBrowser.LineWrapMode.NoWrap)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        doc = self.document()
        doc.setUndoRedoEnabled(False)  # a growing block would keep every edit
        doc.setDocumentMargin(10)
        spaced = QTextBlockFormat()
        spaced.setLineHeight(125, QTextBlockFormat.LineHeightTypes.ProportionalHeight.value)
        QTextCursor(doc).setBlockFormat(spaced)  # new lines take the format of the one before
        doc.documentLayout().documentSizeChanged.connect(self._fit)

    @Slot(QSizeF)
    def _fit(self, size: QSizeF) -> None:
        bar = self.horizontalScrollBar()
        extra = bar.sizeHint().height() if size.width() > self.viewport().width() else 0
        self.setFixedHeight(math.ceil(size.height()) + extra)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit(self.document().size())


class CodeBlock(QFrame):
    """``save_requested(code, language)`` asks the window for a file name."""

    save_requested = Signal(str, str)

    def __init__(self, language: str = "", code: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("codeBlock")
        self.language = language
        self.code = ""
        self._style = ""
        header = QFrame(self)
        header.setObjectName("codeHeader")
        row = QHBoxLayout(header)
        row.setContentsMargins(10, 3, 4, 3)
        self.label = QLabel(language or "code", header)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # the reply's words, never markup
        self.label.setObjectName("codeLanguage")
        self.copy_button = QToolButton(header)
        self.copy_button.setObjectName("quiet")
        self.copy_button.setText("Copy")
        self.copy_button.clicked.connect(self.copy)
        self.save_button = QToolButton(header)
        self.save_button.setObjectName("quiet")
        self.save_button.setText("Save as…")
        self.save_button.clicked.connect(self._ask_save)
        row.addWidget(self.label)
        row.addStretch(1)
        row.addWidget(self.save_button)
        row.addWidget(self.copy_button)
        self.text = _CodeText(self)
        from desktop_chat.gui.code_lexer import IncrementalLexer

        self._lines = [0]
        self.tokens = IncrementalLexer(_lexer(language))
        self.highlighter = _Highlighter(self.text.document(), self.tokens, self._lines)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(header)
        layout.addWidget(self.text)
        self.set_code(code, language)

    def set_code(self, code: str, language: str | None = None, streaming: bool = False) -> None:
        """Show ``code``; ``streaming`` says more may come (a multi-line string may close)."""
        if language is not None and language != self.language:
            self.language = language
            self.label.setText(language or "code")
            self._show("", streaming)  # the old language's text goes, with its tokens
            self.tokens = self.highlighter.tokens = type(self.tokens)(_lexer(language))
        style = theme.current().pygments_style
        if style != self._style:
            self._style = style
            self.highlighter.set_style(style)
            self.highlighter.rehighlight()
        if code != self.code:
            self._show(code, streaming)

    def _show(self, code: str, streaming: bool) -> None:
        from desktop_chat.gui.code_lexer import common_prefix

        kept = common_prefix(self.code, code)
        self.code = code
        shown = self.tokens.text[:kept] + code[kept:].translate(_BREAKS)
        kept, retyped = self.tokens.update(shown, streaming)
        # Lines that start in the kept text stay; the rest are found in the new text.
        lines = self._lines
        del lines[bisect_right(lines, kept) :]
        at = shown.find("\n", kept)
        while at >= 0:
            lines.append(at + 1)
            at = shown.find("\n", at + 1)
        doc = self.text.document()
        cursor = QTextCursor(doc)
        cursor.setPosition(self._position(kept))
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(shown[kept:])  # Qt formats the lines this touches
        # Earlier lines whose tokens changed (a docstring that just closed).
        for number in range(bisect_right(lines, retyped) - 1, bisect_right(lines, kept) - 1):
            self.highlighter.rehighlightBlock(doc.findBlockByNumber(number))

    def _position(self, index: int) -> int:
        """The document position (UTF-16 units) of ``index`` in the shown text."""
        number = bisect_right(self._lines, index) - 1
        line_start = self._lines[number]
        before = self.tokens.text[line_start:index]
        units = len(before) if before.isascii() else _utf16_offsets(before)[-1]
        return self.text.document().findBlockByNumber(number).position() + units

    def restyle(self) -> None:
        self._style = ""
        self.set_code(self.code)

    @Slot()
    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.code)
        self.copy_button.setText("Copied")
        QTimer.singleShot(1500, self._copied_shown)

    @Slot()
    def _copied_shown(self) -> None:
        self.copy_button.setText("Copy")

    @Slot()
    def _ask_save(self) -> None:
        self.save_requested.emit(self.code, self.language)
