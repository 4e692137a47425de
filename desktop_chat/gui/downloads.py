"""A model download from the Hugging Face hub, with byte progress and Cancel (what arrived is
kept; the next download resumes from it); the model is offered and chosen once it is in."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from desktop_chat.errors import DesktopChatError


class Downloads(QObject):
    """One download at a time, for the controller that offers the models (its parent)."""

    progress = Signal(object)  # hub.DownloadProgress
    ended = Signal(str, str)  # "" on success, else message and hint

    _relay = Signal(object)  # from the download's worker threads

    def __init__(self, controller) -> None:
        super().__init__(controller)
        self.controller = controller
        self._cancel: threading.Event | None = None
        self._relay.connect(self._progress)

    async def download(self, repo: str) -> Path | None:
        """Download (or find in the cache) an MLX model, then switch to it."""
        from desktop_chat import catalog
        from desktop_chat.hub import download
        from desktop_chat.models import local_choice
        from desktop_chat.platform import app_nap

        repo = repo.strip()
        self._cancel = cancel = threading.Event()
        try:
            with app_nap.activity("Downloading a model"):  # full speed with the window hidden
                folder = Path(await asyncio.to_thread(download, repo, self._relay.emit, cancel))
        except DesktopChatError as err:
            self.ended.emit(err.message, err.hint)
            return None
        finally:
            self._cancel = None
        self.ended.emit("", "")
        c = self.controller
        await c.refresh()
        choice = local_choice(folder, repo)
        await c.choose(catalog.find(c.models.choices, choice.key) or choice)
        return folder

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    @Slot(object)
    def _progress(self, progress) -> None:
        self.progress.emit(progress)
