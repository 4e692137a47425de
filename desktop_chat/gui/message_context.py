"""What the window's next message is sent with, beside the conversation: the files attached (read
off the GUI thread as they are dropped or chosen, each refusal said in words) and the meter's
count of tokens against the model's window. The controller holds one (``controller.context``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop_chat.context import ContextError, estimate_tokens, read_file
from desktop_chat.gui.model_host import ModelHost
from desktop_chat.session import ChatSession


class MessageContext(QObject):
    files_changed = Signal(list)
    changed = Signal(int, object, dict)  # tokens used, the window or None, the parts
    notice = Signal(str, str)  # files refused: how many, and why each

    def __init__(
        self, session: ChatSession, models: ModelHost, spawn: Callable, parent: QObject | None
    ) -> None:
        super().__init__(parent)
        self.session, self.models, self._spawn = session, models, spawn
        #: Drops whose files are still being read: a message sent meanwhile waits for them.
        self.reading = 0

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

    def update(self) -> None:
        """Count again: the conversation, the persona, the files or the model changed."""
        session = self.session
        parts = {
            "system prompt": estimate_tokens(session.params().system_prompt or ""),
            "history": sum(estimate_tokens(m.content) for m in session.conversation.messages),
            "files": session.files.tokens,
        }
        window = self.models.context_window(session.choice)
        self.changed.emit(sum(parts.values()), window, parts)
