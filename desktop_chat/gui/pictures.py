"""Images the user gives the window (a drop, Attach, a paste) made ready off the GUI thread, and
their thumbnails.

``prepare`` runs on a worker thread (``asyncio.to_thread``): Pillow normalises the image
(``images.normalise``: upright, metadata gone, capped, re-encoded) and Qt makes its thumbnail
there too (a ``QImage`` may be used on any thread; a ``QPixmap`` only on the GUI thread). A
12-megapixel PNG takes about a second; the window goes on answering meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, Qt
from PySide6.QtGui import QImage

if TYPE_CHECKING:
    from desktop_chat.picture import Picture

log = logging.getLogger(__name__)

#: The longest side of a kept thumbnail, in pixels: sharp on a Retina screen at the bubble's
#: 96 points, small enough to keep a few hundred.
THUMB_SIDE = 192
_KEPT = 256
#: Thumbnails by the picture's digest, made once: the chip's thumbnail is the bubble's.
_thumbs: OrderedDict[str, QImage] = OrderedDict()
#: Decodes under way for bubbles (a reopened conversation), kept alive until done.
_decoding: dict[str, asyncio.Task] = {}

#: Encoded image formats taken from the clipboard as they are (no decode on the GUI thread),
#: in the order preferred. macOS puts a screenshot there as PNG (and TIFF, which is refused).
CLIPBOARD_FORMATS = ("image/png", "image/jpeg", "image/gif", "image/webp")
PASTED = "Pasted image"


@dataclass(frozen=True, slots=True)
class Prepared:
    picture: Picture
    thumb: QImage


def make_thumb(picture: Picture) -> QImage:
    """A thumbnail of ``picture`` (any thread). An image Qt cannot decode gives a null one."""
    image = QImage.fromData(picture.data)
    if image.isNull() or max(image.width(), image.height()) <= THUMB_SIDE:
        return image
    return image.scaled(
        THUMB_SIDE,
        THUMB_SIDE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


def prepare(source: object, name: str | None = None) -> Prepared:
    """On a worker thread: a path, the bytes of an image file, or a ``QImage`` (a paste Qt
    had already decoded) → a normalised ``Picture`` and its thumbnail. Raises
    ``images.ImageRefused`` for anything that is not an image it can read."""
    from desktop_chat.images import normalise

    if isinstance(source, QImage):
        source = png_bytes(source)
    picture = normalise(source, name=name)
    return Prepared(picture, make_thumb(picture))


def png_bytes(image: QImage) -> bytes:
    """A ``QImage`` encoded as PNG (any thread)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG", 100)  # 100: fastest compression; normalise encodes it again
    buffer.close()
    return bytes(data.data())


def carries_image(mime: QMimeData | None) -> bool:
    """What ``from_clipboard`` would take, known without reading the data (a drag asks it at
    every move)."""
    if mime is None or mime.hasText() or mime.hasUrls():
        return False
    return bool(set(mime.formats()) & set(CLIPBOARD_FORMATS)) or mime.hasImage()


def from_clipboard(mime: QMimeData | None) -> bytes | QImage | None:
    """The image a paste (or a drop with no file) carries: its encoded bytes as they are, or
    else the ``QImage`` Qt decoded. None when it carries text (pasting text from an app that
    adds a picture of it, as Word does, pastes the text) or no image at all."""
    if not carries_image(mime):
        return None
    formats = set(mime.formats())
    for kind in CLIPBOARD_FORMATS:
        if kind in formats and not (data := mime.data(kind)).isEmpty():
            return bytes(data.data())
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return image
    return None


def remember(picture: Picture, thumb: QImage) -> None:
    if thumb.isNull():
        return
    _thumbs[picture.digest] = thumb
    _thumbs.move_to_end(picture.digest)
    while len(_thumbs) > _KEPT:
        _thumbs.popitem(last=False)


def known_thumb(picture: Picture) -> QImage | None:
    return _thumbs.get(picture.digest)


def thumb_later(picture: Picture, done) -> None:
    """Call ``done(thumb)`` on the GUI thread with ``picture``'s thumbnail: at once when it is
    known; else decoded on a worker thread when an event loop runs (a conversation reopened
    with many images opens at once), or here when none does."""
    if (thumb := known_thumb(picture)) is not None:
        done(thumb)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        thumb = make_thumb(picture)
        remember(picture, thumb)
        done(thumb)
        return
    task = _decoding.get(picture.digest)
    if task is None:
        task = _decoding[picture.digest] = loop.create_task(_decode(picture))
    task.add_done_callback(lambda t: t.cancelled() or t.exception() or done(t.result()))


async def _decode(picture: Picture) -> QImage:
    try:
        thumb = await asyncio.to_thread(make_thumb, picture)
        remember(picture, thumb)
        return thumb
    finally:
        _decoding.pop(picture.digest, None)
