"""Images from the user (a dropped file, a paste, the API) made ready to send, once, with Pillow.

Every image is decoded, turned upright (EXIF orientation), stripped of all metadata (EXIF, GPS,
ICC, text chunks: a screenshot or a phone photo can say where and when it was taken), shrunk
so that its longest side is at most ``max_side``, and encoded again. A JPEG stays a JPEG (a
photo); everything else becomes PNG (screenshots keep their text sharp). Anything Pillow cannot
read is refused with its name and what to do. CPU-bound: the window calls this off its thread.
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_chat.context import read_whole
from desktop_chat.errors import DesktopChatError
from desktop_chat.picture import Picture

if TYPE_CHECKING:
    from PIL import Image as PILImage

log = logging.getLogger(__name__)

#: The longest side when no model says otherwise; each provider's own is ``image_sizes``'.
DEFAULT_MAX_SIDE = 2048
#: A file bigger than this is refused before it is decoded (a 50 MP PNG is ~150 MB at worst).
FILE_LIMIT = 200 * 1024 * 1024
#: Pixels Pillow may decode: above its default guard (89 MP), below what would exhaust memory.
PIXEL_LIMIT = 250_000_000

SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".heic", ".heif")
_FORMATS = {"PNG", "JPEG", "MPO", "GIF", "WEBP", "HEIF"}


class ImageRefused(DesktopChatError):
    """An image that cannot be sent: names it and says what to do."""


def is_image_name(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


@functools.cache
def _heif_opener() -> None:
    # HEIC (an iPhone's photos) through pi-heif, a dependency; registered once, on first use.
    # pi-heif imports even when its compiled part does not load (it defers that error to the
    # first use), so the registering is tried too: a broken libheif must cost HEIC alone,
    # never the PNGs and JPEGs, and HEIC is then refused by name like any unknown kind.
    try:
        from pi_heif import register_heif_opener

        register_heif_opener()
    except Exception:
        log.warning("pi-heif cannot be used: HEIC images cannot be read", exc_info=True)


def _refused(name: str, why: str = "is not an image that can be read") -> ImageRefused:
    return ImageRefused(
        f"{name} {why}.", "Attach a PNG, JPEG, HEIC, GIF or WebP image, or take a new screenshot."
    )


def normalise(
    source: str | Path | bytes | PILImage.Image | Any,
    *,
    name: str | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
) -> Picture:
    """A ``Picture`` from a path, the bytes of an image file, or a PIL image."""
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = PIXEL_LIMIT
    _heif_opener()
    if isinstance(source, Image.Image):
        image, label, source_format = source, name or "Image", source.format or "PNG"
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            raw, label = bytes(source), name or "Pasted image"
        else:
            path = Path(source).expanduser()
            label = name or path.name
            raw = read_whole(path, FILE_LIMIT)  # a FIFO or a device is refused, never read
        try:
            image = Image.open(io.BytesIO(raw))
            source_format = image.format or ""
            if source_format not in _FORMATS:
                raise _refused(label, f"is a {source_format or 'kind of'} image, not supported")
            image.seek(0)  # a GIF or an animated WebP: its first frame
            image.load()
        except ImageRefused:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageRefused(
                f"{label} is too large to open ({exc}).", "Save a smaller copy and attach that."
            ) from exc
        except Exception as exc:  # any decoder's failure (a plugin's own, too) is a refusal
            log.info("image refused: %s: %s", label, exc)
            raise _refused(label) from exc
    image = ImageOps.exif_transpose(image)  # upright; the orientation tag goes with it
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    # A photo stays a photo: JPEG in, or HEIC (without transparency), is sent as a JPEG; a
    # screenshot or a drawing as a PNG, which keeps it sharp.
    jpeg = source_format in {"JPEG", "MPO"} or (source_format == "HEIF" and "A" not in image.mode)
    if jpeg:
        image = image.convert("RGB")
    elif image.mode not in {"RGB", "RGBA", "L", "LA"}:
        alpha = "transparency" in image.info or "A" in image.mode
        image = image.convert("RGBA" if alpha else "RGB")
    # Pixels only: a fresh image carries no info dict, so no EXIF, GPS, ICC or text chunks.
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    out = io.BytesIO()
    if jpeg:
        clean.save(out, "JPEG", quality=90, optimize=True)
    else:
        clean.save(out, "PNG", optimize=False)
    return Picture(out.getvalue(), "image/jpeg" if jpeg else "image/png", *clean.size, name=label)


#: Pictures scaled down for a model with a smaller cap, by (digest, side): each is scaled once,
#: however many turns send it again. A few, as they are a few megabytes each.
_fitted: OrderedDict[tuple[str, int], Picture] = OrderedDict()
_fitted_lock = threading.Lock()
_FITTED_KEPT = 32


def fit(picture: Picture, max_side: int) -> Picture:
    """``picture`` with its longest side at most ``max_side``: itself when it fits already,
    else scaled down from its normalised bytes (same kind, same name), once per size.
    CPU-bound: called off the GUI thread."""
    if max(picture.width, picture.height) <= max_side:
        return picture
    key = (picture.digest, max_side)
    with _fitted_lock:
        if (done := _fitted.get(key)) is not None:
            _fitted.move_to_end(key)
            return done
    from PIL import Image

    with Image.open(io.BytesIO(picture.data)) as image:
        image.load()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if picture.mime == "image/jpeg":
            image.convert("RGB").save(out, "JPEG", quality=90, optimize=True)
        else:
            image.save(out, "PNG", optimize=False)
        size = image.size
    done = Picture(out.getvalue(), picture.mime, *size, name=picture.name)
    log.info("image %s scaled again to %d×%d for a model that reads less", picture.name, *size)
    with _fitted_lock:
        _fitted[key] = done
        while len(_fitted) > _FITTED_KEPT:
            _fitted.popitem(last=False)
    return done
