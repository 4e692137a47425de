"""Text from outside — replies, a server's model names and errors, file names, titles — shown
without loading anything it names.

Qt's rich text loads every image its text names when it lays it out: a ``file:`` URL is read
whole (``/dev/zero`` until the memory runs out and the app aborts; a FIFO blocks the window
forever), a relative name is read from the working folder, ``qrc:`` from the app's resources.
And a ``QLabel`` decides for itself that text which looks like markup is rich text. So:
- views of outside text (``DocView``, and every ``QTextDocument`` built to render it:
  ``InertDocument``) answer every resource with ``resource()``: none is ever loaded, except
  the app's own images in ``APP_IMAGES``;
- labels show outside text as plain text (``plain``), or escaped inside the app's own markup
  (``escaped``), and tooltips get it escaped (``plain_tip``).
"""

from __future__ import annotations

import functools
import html

from PySide6 import QtGui
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QImage, QPainter, QTextDocument

#: The app's own images a view may show, by name, referred to as ``app-image:NAME`` (pasted
#: images, later). The one place where an image may be allowed in: nothing else ever loads.
APP_IMAGES: dict[str, QImage] = {}
APP_IMAGE_SCHEME = "app-image"

_IMAGE = QTextDocument.ResourceType.ImageResource.value


@functools.cache
def placeholder() -> QImage:
    """A small grey frame where a named image would have been. Not an empty image: for an
    empty one Qt falls back to reading the file itself."""
    image = QImage(14, 14, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setPen(QColor(142, 142, 147))
    painter.drawRoundedRect(1, 1, 11, 11, 3, 3)
    painter.end()
    return image


def resource(kind: int, url: QUrl) -> QImage | bytes:
    """What a view of outside text gets for a resource its text names: one of the app's own
    images, else the placeholder; for anything else (a style sheet), a blank. Never ``None``,
    which would let Qt read the URL itself."""
    if int(kind) == _IMAGE:
        if url.scheme() == APP_IMAGE_SCHEME and url.path() in APP_IMAGES:
            return APP_IMAGES[url.path()]
        return placeholder()
    return b" "


class InertDocument(QTextDocument):
    """A document for rendering outside text: it loads nothing its text names."""

    def loadResource(self, kind: int, url: QUrl):
        return resource(kind, url)


def escaped(text: str) -> str:
    """Outside text inside the app's own markup (``<b>{escaped(name)}</b>``): shown as typed."""
    return html.escape(text)


def plain(label):
    """A label (a ``QLabel``) that shows its text as typed, never as markup."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def plain_tip(text: str) -> str:
    """Outside text as a tooltip: Qt shows a tooltip that looks like markup as rich text, so it
    is given as rich text with everything escaped (line breaks kept)."""
    return QtGui.Qt.convertFromPlainText(text)
