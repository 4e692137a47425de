"""The controller's conversation-library actions: open a stored conversation (at a search
hit), flip versions, rename, pin, delete with undo (and for good once the Undo bar is gone),
export and import. Every change the store refuses (a full disk, a lock held by another
program) and every read it cannot do (a damaged page, a disk error) is said in a banner;
nothing on screen is lost. A damaged file the store repaired is said too, with where the
damaged one went. Mixed into ``ChatController``, whose signals and store they use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktop_chat.context import ContextError, read_whole
from desktop_chat.store import StoreError

log = logging.getLogger(__name__)

#: The largest conversation file Import reads (a JSON export with every branch).
IMPORT_LIMIT = 200_000_000


class StoreActions:
    def write(self, change: Callable, *args: Any, **kwargs: Any) -> bool:
        """A change to the store; refused, it is said in a banner (never raised)."""
        try:
            change(*args, **kwargs)
        except StoreError as err:
            log.warning("store change refused: %s", err)
            self.notice.emit(err.message, err.hint)
            return False
        return True

    def read(self, what: Callable, *args: Any, default: Any = None) -> Any:
        """A read of the store; what it cannot read is said in a banner, and ``default``
        comes back instead (never raised)."""
        try:
            return what(*args)
        except StoreError as err:
            log.warning("store read failed: %s", err)
            self.notice.emit(err.message, err.hint)
            return default

    def store_news(self, news: StoreError) -> None:
        """The store found its file damaged after opening: repaired (what was kept, where the
        damaged file went) or not. The chat on show is written again where the repaired copy
        lacks it, and the sidebar shows the copy."""
        log.warning("store: %s", news.message)
        if news.kind == "repaired":
            self.chat.repaired()
            self.history_changed.emit()
        self.notice.emit(news.message, news.hint)

    def store_problem(self, problem: StoreError | None) -> None:
        """The chat on show stopped being saved (``problem``) or is saved again (None). Said
        once the action at hand is done: a new chat's first message is on show by then, not
        the welcome panel the banner would land on."""
        if problem is None:
            said = ("The chat is saved again.", "")
        else:
            said = (problem.message, problem.hint)
        asyncio.get_event_loop().call_soon(self.notice.emit, *said)

    async def open_conversation(self, conversation_id: int, message_id: int = 0) -> int | None:
        """Show a stored conversation; with ``message_id`` (a search hit), the branch that
        holds that message. Returns the message's index to scroll to (None also when it
        could not be read: a banner says why, and the conversation on show stays)."""
        await self.stop_and_wait()
        try:
            return self._open_conversation(conversation_id, message_id)
        except StoreError as err:
            log.warning("could not open conversation %s: %s", conversation_id, err)
            self.notice.emit(err.message, err.hint)
            return None

    def _open_conversation(self, conversation_id: int, message_id: int) -> int | None:
        fresh = bool(message_id) and message_id not in self.store.branch_ids(conversation_id)
        if fresh and not self.write(self.store.show_version, message_id):
            fresh = False  # the branch on show stays; the hit is on another one
        self.chat.open(conversation_id, fresh=fresh)
        info = self.store.conversation(conversation_id)
        self.persona = self.library.persona(info.persona if info else None)
        self.persona_changed.emit(self.persona)
        self.conversation_replaced.emit(self.conversation)
        self.versions_changed.emit()
        self.history_changed.emit()
        self._update_context()
        return self.chat.ids.index(message_id) if message_id in self.chat.ids else None

    async def set_persona(self, name: str) -> None:
        """Use a persona from now on in this conversation; its model, if it names one."""
        self.persona = self.library.persona(name)
        if self.chat.conversation_id is not None:
            self.write(self.store.update_conversation, self.chat.conversation_id,
                       persona=self.persona.name)  # fmt: skip
        self.persona_changed.emit(self.persona)
        self._update_context()
        if self.persona.model:
            from desktop_chat import catalog

            choice = catalog.pick(self.choices, self.persona.model, self.settings, self.discovered)
            if choice is None:
                self.notice.emit(f"The persona's model {self.persona.model} is not available.",
                                 "Edit the persona, or choose a model from the menu.")  # fmt: skip
            elif self.choice is None or choice.key != self.choice.key:
                await self.choose(choice)

    # --- the sidebar's actions -----------------------------------------------------------

    def rename(self, conversation_id: int, title: str) -> None:
        self.write(self.store.update_conversation, conversation_id, title=title.strip())
        self.history_changed.emit()

    def pin(self, conversation_id: int, pinned: bool) -> None:
        self.write(self.store.update_conversation, conversation_id, pinned=int(pinned))
        self.history_changed.emit()

    def delete(self, conversation_id: int) -> str | None:
        """Hide a conversation (Undo brings it back, until the Undo bar is gone: then it is
        removed from the file); returns its title, or None when the store refused."""
        info = self.read(self.store.conversation, conversation_id)
        if not self.write(self.store.delete_conversation, conversation_id):
            return None
        self.spawn(self._purge_later(conversation_id))
        if conversation_id == self.chat.conversation_id:
            self.new_chat()
        self.history_changed.emit()
        return info.title if info else ""

    async def _purge_later(self, conversation_id: int) -> None:
        from desktop_chat import store

        await asyncio.sleep(store.UNDO_S + 0.5)  # the Undo bar (sidebar.UNDO_MS) is gone
        # Only if it is still deleted, and deleted that long ago (not deleted again after an
        # Undo, with a new bar on show).
        if self.write(self.store.purge, store.UNDO_S, conversation_id):
            log.info("deleted conversation %s removed from the file", conversation_id)

    def undelete(self, conversation_id: int) -> None:
        self.write(self.store.undelete, conversation_id)
        self.history_changed.emit()

    def export_text(self, conversation_id: int, kind: str) -> str | None:
        """The conversation as Markdown (its current branch) or JSON (every branch); None when
        it cannot be read (a banner says why)."""
        return self.read(self._export_text, conversation_id, kind)

    def _export_text(self, conversation_id: int, kind: str) -> str:
        import json

        from desktop_chat.store_export import export_conversation, to_markdown

        if kind == "json":
            return json.dumps(
                export_conversation(self.store, conversation_id), ensure_ascii=False, indent=2
            )
        info = self.store.conversation(conversation_id)
        return to_markdown(info.title if info else "", self.store.branch(conversation_id))

    async def import_file(self, path: Path) -> None:
        import json

        from desktop_chat.store_export import import_conversation

        try:
            # Bounded and regular files only: a FIFO or /dev/zero chosen here must not hang
            # or fill the memory.
            raw = await asyncio.to_thread(read_whole, path, IMPORT_LIMIT)
            data = json.loads(raw.decode("utf-8-sig"))
            conversation_id = import_conversation(self.store, data)
        except (ContextError, OSError, ValueError, KeyError, TypeError, StoreError) as err:
            hint = getattr(err, "hint", "") or "Choose a .json file exported from Desktop Chat."
            reason = getattr(err, "message", None) or f"{err}."
            self.notice.emit(f"{Path(path).name} could not be imported. {reason}", hint)
            return
        await self.open_conversation(conversation_id)

    async def show_version(self, index: int, step: int) -> None:
        """‹ and ›: the previous or next version of message ``index`` and what followed it."""
        await self.stop_and_wait()
        try:
            changed = self.chat.show_version(index, step)
        except StoreError as err:
            self.notice.emit(err.message, err.hint)
            return
        if changed:
            self.conversation_replaced.emit(self.conversation)
            self.versions_changed.emit()
            self._update_context()
