"""Images the user gives the window (a drop, Attach, a paste) made ready off the GUI thread, and
their thumbnails.

``prepare`` runs on a worker thread (``asyncio.to_thread``): Pillow normalises the image
(``images.normalise``: upright, metadata gone, capped, re-encoded) and makes its thumbnail
there too, as a ``QImage`` (usable on any thread; a ``QPixmap`` only on the GUI thread). A
12-megapixel PNG takes about a second; the window goes on answering meanwhile (Pillow lets go
of the GIL while it decodes, resizes and encodes).
"""

from __future__ import annotations

import io
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QImage

if TYPE_CHECKING:
    import asyncio

    from desktop_chat.picture import Picture

log = logging.getLogger(__name__)

#: The longest side of a kept thumbnail, in pixels: sharp on a Retina screen at the bubble's
#: 96 points, small enough to keep a few hundred.
THUMB_SIDE = 192
_KEPT = 256
#: Thumbnails by the picture's digest, made once: the chip's thumbnail is the bubble's.
_thumbs: OrderedDict[str, QImage] = OrderedDict()
#: Decodes under way for bubbles (a reopened conversation), kept alive until done.
_decoding: dict[str, asyncio.Task] = {}  # asyncio is imported after the first frame

#: Encoded image formats taken from the clipboard as they are (no decode on the GUI thread),
#: in the order preferred. macOS puts a screenshot there as PNG (and TIFF, which is refused).
CLIPBOARD_FORMATS = ("image/png", "image/jpeg", "image/gif", "image/webp")
PASTED = "Pasted image"


@dataclass(frozen=True, slots=True)
class Prepared:
    picture: Picture
    thumb: QImage


def make_thumb(picture: Picture) -> QImage:
    """A thumbnail of ``picture`` (any thread); a null one for data that cannot be decoded.
    Decoded and shrunk by Pillow, which lets go of the GIL as it works: Qt's decoder holds
    it, and the GUI thread would wait ~70 ms for a 2048-pixel PNG."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(picture.data)) as image:
            image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))  # a JPEG decoded at a fraction
            image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
            small = image.convert("RGBA")
    except (OSError, ValueError, SyntaxError) as exc:
        log.info("no thumbnail for %s: %s", picture.name, exc)
        return QImage()
    data = small.tobytes()
    width, height = small.size
    return QImage(data, width, height, width * 4, QImage.Format.Format_RGBA8888).copy()


def prepare(source: object, name: str | None = None, max_side: int | None = None) -> Prepared:
    """On a worker thread: a path, the bytes of an image file, or a ``QImage`` (a paste Qt
    had already decoded) → a normalised ``Picture``, its longest side at most ``max_side``
    (the chosen model's; None: ``images.DEFAULT_MAX_SIDE``), and its thumbnail. Raises
    ``images.ImageRefused`` for anything that is not an image it can read."""
    from desktop_chat.images import DEFAULT_MAX_SIDE, normalise

    if isinstance(source, QImage):
        source = as_pil(source)
    picture = normalise(source, name=name, max_side=max_side or DEFAULT_MAX_SIDE)
    return Prepared(picture, make_thumb(picture))


def as_pil(image: QImage):
    """A ``QImage`` as a PIL image (any thread): its pixels copied once, no encoding (Qt's PNG
    encoder would hold the GIL, and the window, for a second on 12 MP)."""
    from PIL import Image

    alpha = image.hasAlphaChannel()
    mode = "RGBA" if alpha else "RGB"
    kind = QImage.Format.Format_RGBA8888 if alpha else QImage.Format.Format_RGB888
    pixels = image.convertToFormat(kind)
    size = (pixels.width(), pixels.height())
    data = bytes(pixels.constBits())  # each line padded to 4 bytes: the stride says so
    return Image.frombuffer(mode, size, data, "raw", mode, pixels.bytesPerLine(), 1)


def carries_image(mime: QMimeData | None) -> bool:
    """What ``from_clipboard`` would take, known without reading the data (a drag asks it at
    every move). Not files copied in the Finder (their names are pasted, as before), nor text
    that comes with a picture of itself (Word, Pages); an image copied in a browser comes with
    its address, and is the image."""
    if mime is None or any(url.isLocalFile() for url in mime.urls()):
        return False
    if mime.hasText() and not _just_a_link(mime.text()):
        return False
    return bool(set(mime.formats()) & set(CLIPBOARD_FORMATS)) or mime.hasImage()


def _just_a_link(text: str) -> bool:
    words = text.split()
    return len(words) == 1 and words[0].startswith(("http://", "https://"))


def from_clipboard(mime: QMimeData | None) -> bytes | QImage | None:
    """The image a paste (or a drop with no file) carries: its encoded bytes as they are, or
    else the ``QImage`` Qt decoded; None when ``carries_image`` says it carries none."""
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
    import asyncio  # here, not at the top: not before the window's first frame

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        thumb = make_thumb(picture)
        remember(picture, thumb)
        done(thumb)
        return
    task = _decoding.get(picture.digest)
    if task is None or task.get_loop() is not loop:  # not one a closed loop left behind
        task = _decoding[picture.digest] = loop.create_task(_decode(picture))
    task.add_done_callback(lambda t: t.cancelled() or t.exception() or done(t.result()))


async def _decode(picture: Picture) -> QImage:
    import asyncio

    try:
        thumb = await asyncio.to_thread(make_thumb, picture)
        remember(picture, thumb)
        return thumb
    finally:
        if _decoding.get(picture.digest) is asyncio.current_task():
            del _decoding[picture.digest]
