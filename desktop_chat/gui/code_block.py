"""A code block in the conversation: highlighted with pygments, its language named, Copy and
Save as… beside it. Long lines scroll sideways instead of wrapping."""

from __future__ import annotations

import math
import re

from PySide6.QtCore import QSizeF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication
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

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n]*\n?")


def split_fence(block: str) -> tuple[str, str] | None:
    """(language, code) of a fenced block, finished or still streaming; ``None`` for prose."""
    match = _FENCE.match(block)
    if match is None:
        return None
    body = block[match.end() :]
    marker = match.group(1)
    lines = body.split("\n")
    # Drop the closing fence (and what follows it on its line) when it has arrived.
    for i in range(len(lines) - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped.startswith(marker[0] * len(marker)) and not stripped.strip(marker[0]):
            lines = lines[:i]
            break
    return match.group(2).lower(), "\n".join(lines).rstrip("\n")


def _lexer(language: str):
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        return get_lexer_by_name(language) if language else TextLexer()
    except ClassNotFound:
        return TextLexer()


def highlight_html(code: str, language: str, style: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter

    formatter = HtmlFormatter(noclasses=True, nobackground=True, style=style)
    return highlight(code, _lexer(language), formatter)


def file_extension(language: str) -> str:
    """A fitting extension for Save as…: ``python`` → ``.py``; unknown → ``.txt``."""
    for pattern in getattr(_lexer(language), "filenames", ()):
        if pattern.startswith("*.") and not any(ch in pattern[2:] for ch in "*?["):
            return pattern[1:]
    return ".txt"


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
        self.document().setDocumentMargin(10)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)

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
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(header)
        layout.addWidget(self.text)
        self.set_code(code, language)

    def set_code(self, code: str, language: str | None = None) -> None:
        if language is not None and language != self.language:
            self.language = language
            self.label.setText(language or "code")
        style = theme.current().pygments_style
        if code == self.code and style == self._style:
            return
        self.code, self._style = code, style
        # An empty block (a fence just opened) needs no lexer.
        self.text.setHtml(highlight_html(code, self.language, style) if code else "")

    def restyle(self) -> None:
        code, self.code = self.code, None
        self.set_code(code)

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
