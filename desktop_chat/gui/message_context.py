"""What the window's next message is sent with, beside the conversation: the files and images
attached (read, or normalised, off the GUI thread as they are dropped, chosen or pasted, each
refusal said in words) and the meter's count of tokens against the model's window. The
controller holds one (``controller.context``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop_chat.context import ContextError, estimate_tokens, read_file
from desktop_chat.gui.model_host import ModelHost
from desktop_chat.gui.pictures import known_thumb, prepare, remember
from desktop_chat.images import ImageRefused, fit, is_image_name
from desktop_chat.session import ChatSession

log = logging.getLogger(__name__)


class MessageContext(QObject):
    files_changed = Signal(list)
    pictures_changed = Signal(list, list)  # the Pictures attached, the names being prepared
    changed = Signal(int, object, dict)  # tokens used, the window or None, the parts
    notice = Signal(str, str)  # files refused (how many, why each), or the oldest turns left out

    def __init__(
        self, session: ChatSession, models: ModelHost, spawn: Callable, parent: QObject | None
    ) -> None:
        super().__init__(parent)
        self.session, self.models, self._spawn = session, models, spawn
        #: Drops whose files are still being read: a message sent meanwhile waits for them.
        self.reading = 0
        self._trimmed_told: int | None = 0  # the conversation told its oldest turns went
        #: Names of the images being prepared, in the order given (each shows a chip).
        self.preparing: list[str] = []
        self._lock = asyncio.Lock()  # one drop after the other: files and images stay in order
        self._fitting: int | None = None  # the side the attached images are being scaled to

    def attach(self, paths: list[str | Path]) -> None:
        """Read dropped or chosen files off the GUI thread; images (by their name) are
        prepared as images, the rest join the context as text. Counted as being read from
        now, before the read starts: Enter pressed at once must already wait for them."""
        self._take([(p, Path(p).name, is_image_name(str(p))) for p in paths])

    def attach_images(self, sources: list[tuple[object, str]]) -> None:
        """Images (a path, an image file's bytes, a pasted ``QImage``; each with its name)
        normalised off the GUI thread; a chip says so meanwhile, and a message sent
        meanwhile waits for them."""
        self._take([(source, name, True) for source, name in sources])

    def _take(self, items: list[tuple[object, str, bool]]) -> None:
        self.reading += 1
        self.preparing += [name for _, name, image in items if image]
        self._tell_pictures()
        self._spawn(self._read(items))

    async def _read(self, items: list[tuple[object, str, bool]]) -> None:
        """One drop after the other, each in its order; what was refused said in one notice."""
        refused: list[tuple[bool, str]] = []
        try:
            async with self._lock:
                for source, name, image in items:
                    try:
                        if image:  # capped for the model chosen now (image_sizes.py)
                            side = self.session.image_max_side()
                            ready = await asyncio.to_thread(prepare, source, name, side)
                            remember(ready.picture, ready.thumb)
                            self.session.pictures.append(ready.picture)
                        else:
                            self.session.files.add(await asyncio.to_thread(read_file, source))
                    except (ImageRefused, ContextError) as err:
                        refused.append((image, f"{err.message} {err.hint}".strip()))
                    finally:
                        if image:
                            self.preparing.remove(name)
                            self._tell_pictures()
        finally:
            self.reading -= 1
        # Prepared for the model chosen when it began: one chosen meanwhile may read less.
        self._refit()
        self.remove(None)  # files_changed: a message waiting for this drop goes now
        if refused:
            self.notice.emit(_refused(refused), "\n".join(why for _, why in refused))

    def _refit(self) -> None:
        """After a switch to a model that reads smaller images: the attached ones scaled down
        to its size now, off the GUI thread, so that the chips say what will be sent (and the
        turn has nothing left to do). A larger size redoes nothing."""
        side = self.session.image_max_side()
        if side == self._fitting or all(
            max(p.width, p.height) <= side for p in self.session.pictures
        ):
            return
        self._fitting = side
        self.reading += 1  # a message sent meanwhile waits for them, as for a drop
        self._spawn(self._fit(side))

    async def _fit(self, side: int) -> None:
        try:
            async with self._lock:
                pictures = list(self.session.pictures)
                fitted = await asyncio.to_thread(lambda: [fit(p, side) for p in pictures])
                for old, new in zip(pictures, fitted, strict=True):
                    if (thumb := known_thumb(old)) is not None:
                        remember(new, thumb)  # the same picture, smaller: the same thumbnail
                by_digest = {old.digest: new for old, new in zip(pictures, fitted, strict=True)}
                attached = self.session.pictures  # one removed meanwhile stays removed
                attached[:] = [by_digest.get(p.digest, p) for p in attached]
        except Exception:  # the turn scales them again before sending: nothing is lost
            log.exception("attached images not scaled to %d", side)
        finally:
            self.reading -= 1
            if self._fitting == side:
                self._fitting = None
            # Whatever happened, a message waiting for them is looked at again.
            self._tell_pictures()
            self.remove(None)  # files_changed: a message waiting for them goes now

    def remove_picture(self, digest: str) -> None:
        pictures = self.session.pictures
        pictures[:] = [p for p in pictures if p.digest != digest]
        self._tell_pictures()
        self.update()

    def _tell_pictures(self) -> None:
        self.pictures_changed.emit(list(self.session.pictures), list(self.preparing))

    def remove(self, name: str | None) -> None:
        if name is not None:
            self.session.files.remove(name)
        self.files_changed.emit(list(self.session.files.files))
        self.update()

    def update(self, trimmed: tuple[str, str] | None = None) -> None:
        """Count again: the conversation, the persona, the files or the model changed. After a
        reply, ``trimmed`` says why its oldest turns were left out of the request, if they were:
        said once per conversation (each reply's line still counts), with what to do."""
        session = self.session
        if trimmed is not None and self._trimmed_told != session.conversation_id:
            self._trimmed_told = session.conversation_id
            log.info("context full: %s", trimmed[0])
            self.notice.emit(*trimmed)
        parts = {
            "system prompt": estimate_tokens(session.params().system_prompt or ""),
            "history": sum(estimate_tokens(m.content) for m in session.conversation.messages),
            "files": session.files.tokens,
            "images": sum(p.tokens for p in session.pictures)
            + sum(p.tokens for m in session.conversation.messages for p in m.images),
        }
        window = self.models.context_window(session.choice)
        self.changed.emit(sum(parts.values()), window, parts)
        self._refit()


def _refused(refused: list[tuple[bool, str]]) -> str:
    """ "2 files were not added to the context.", "1 image was not attached.", or for both
    kinds "3 files were not added to the message."."""
    n = len(refused)
    images = sum(image for image, _ in refused)
    kind = "image" if images == n else "file"
    count = f"1 {kind} was" if n == 1 else f"{n} {kind}s were"
    if images == n:
        return f"{count} not attached."
    return f"{count} not added to the {'context' if not images else 'message'}."
