"""A read-only rich-text view as tall as its text, for Markdown inside the conversation.

Markdown is parsed with the GitHub dialect and no raw HTML: tables render, model output cannot
inject markup, and ``<T>`` stays literal. Links open in the browser only when clicked. Images
the text names are never loaded (``untrusted``): ``![x](file:///dev/zero)`` shows a small frame.
Links take the palette's link colour, again when the appearance changes.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QSizeF, Qt, QUrl, Slot
from PySide6.QtGui import (
    QPalette,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextDocumentFragment,
)
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser

from desktop_chat.gui.untrusted import InertDocument, resource

FEATURES = (
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    | QTextDocument.MarkdownFeature.MarkdownNoHTML
)


class DocView(QTextBrowser):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenLinks(False)  # never navigate inside the view; clicks go to the browser
        self.anchorClicked.connect(self._open)
        self.viewport().setAutoFillBackground(False)
        self.setStyleSheet("QTextBrowser { background: transparent; }")
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self.setFixedHeight(4)

    def loadResource(self, kind: int, url: QUrl):
        """Nothing the text names is loaded (the view's own document asks here)."""
        return resource(kind, url)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._recolour_links()

    def _recolour_links(self) -> None:
        """Markdown gives links the application palette's link colour when it is parsed; a
        switch between light and dark afterwards would leave them in the old one."""
        colour = self.palette().color(QPalette.ColorRole.Link)
        doc = self.document()
        stale: list[tuple[int, int]] = []  # collected first: a change splits the fragments
        block = doc.begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                fmt = fragment.charFormat()
                if fmt.isAnchor() and fmt.foreground().color() != colour:
                    stale.append((fragment.position(), fragment.position() + fragment.length()))
                it += 1
            block = block.next()
        change = QTextCharFormat()
        change.setForeground(colour)
        for start, end in stale:
            cursor = QTextCursor(doc)
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(change)

    @Slot(QSizeF)
    def _fit(self, size: QSizeF) -> None:
        height = math.ceil(size.height()) + 2 * self.frameWidth()
        if height != self.height():
            self.setFixedHeight(height)

    @Slot("QUrl")
    def _open(self, url) -> None:
        from PySide6.QtGui import QDesktopServices

        if url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)

    def set_markdown(self, text: str) -> None:
        self.document().setMarkdown(text, FEATURES)

    def append_markdown(self, block: str) -> None:
        """Render one finished block after the others; earlier blocks are not parsed again."""
        part = InertDocument()  # never laid out here, but nothing it names is loaded anyway
        part.setMarkdown(block, FEATURES)
        doc = self.document()
        cursor = QTextCursor(doc)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not doc.isEmpty():
            # A fresh block format, so the new block does not continue a list or a heading.
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
        start = cursor.position()
        cursor.insertFragment(QTextDocumentFragment(part))
        first = part.begin()
        if first.textList() is None:
            # The first inserted block merges into the empty one; give it back its own format
            # (a heading's level, a quote's indent).
            QTextCursor(doc.findBlock(start)).setBlockFormat(first.blockFormat())

    def plain_text(self) -> str:
        return self.document().toPlainText()
