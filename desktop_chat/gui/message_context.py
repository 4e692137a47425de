"""What the window's next message is sent with, beside the conversation: the files attached (read
off the GUI thread as they are dropped or chosen, each refusal said in words) and the meter's
count of tokens against the model's window. The controller holds one (``controller.context``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop_chat.context import ContextError, estimate_tokens, read_file
from desktop_chat.gui.model_host import ModelHost
from desktop_chat.session import ChatSession

log = logging.getLogger(__name__)


class MessageContext(QObject):
    files_changed = Signal(list)
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

    def attach(self, paths: list[str | Path]) -> None:
        """Read dropped or chosen files off the GUI thread. Counted as being read from now,
        before the read starts: Enter pressed at once must already wait for them."""
        self.reading += 1
        self._spawn(self._read(paths))

    async def _read(self, paths: list[str | Path]) -> None:
        refused: list[str] = []
        try:
            for path in paths:
                try:
                    self.session.files.add(await asyncio.to_thread(read_file, path))
                except ContextError as err:
                    refused.append(f"{err.message} {err.hint}".strip())
        finally:
            self.reading -= 1
        self.remove(None)
        if refused:
            count = "1 file was" if len(refused) == 1 else f"{len(refused)} files were"
            self.notice.emit(f"{count} not added to the context.", "\n".join(refused))

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
        }
        window = self.models.context_window(session.choice)
        self.changed.emit(sum(parts.values()), window, parts)
