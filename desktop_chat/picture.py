"""An image in a message: plain data that every front end, the store and the providers share.

The bytes are already normalised (see ``images.normalise``): orientation applied, metadata
stripped, size capped, re-encoded. Nothing here decodes them; Pillow stays out of this floor.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Picture:
    """One normalised image. ``digest`` (sha256 of ``data``) is how the store keeps it once."""

    data: bytes = field(repr=False)
    mime: str  # "image/png" or "image/jpeg"
    width: int
    height: int
    name: str = ""  # what the user called it (a file name, "Pasted image"): shown, never sent
    digest: str = ""
    #: The data URL, made once: every later turn sends the image again, and base64 of a 6 MB
    #: screenshot is ~10 ms of the window's thread.
    _url: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.digest:  # frozen: set once, here
            object.__setattr__(self, "digest", hashlib.sha256(self.data).hexdigest())

    def data_url(self) -> str:
        if not self._url:  # frozen: set once, here
            url = f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"
            object.__setattr__(self, "_url", url)
        return self._url

    def to_api(self) -> dict:
        """The OpenAI content part."""
        return {"type": "image_url", "image_url": {"url": self.data_url()}}

    @property
    def tokens(self) -> int:
        """An estimate of what the image costs a model, by OpenAI's published rule for
        detail "high": fit in 2048×2048, shortest side to 768, then 170 a 512-pixel tile + 85.
        Other providers differ, but the order of magnitude is what a user needs to see."""
        w, h = self.width, self.height
        if not w or not h:
            return 85
        scale = min(1.0, 2048 / max(w, h))
        w, h = w * scale, h * scale
        scale = min(1.0, 768 / min(w, h))
        w, h = w * scale, h * scale
        return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)
