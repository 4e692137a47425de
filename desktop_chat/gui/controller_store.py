"""The controller's conversation-library actions: open a stored conversation (at a search
hit), flip versions, rename, pin, delete with undo, export and import. Mixed into
``ChatController``, whose signals and store they use."""

from __future__ import annotations

import asyncio
from pathlib import Path


class StoreActions:
    async def open_conversation(self, conversation_id: int, message_id: int = 0) -> int | None:
        """Show a stored conversation; with ``message_id`` (a search hit), the branch that
        holds that message. Returns the message's index to scroll to."""
        await self.stop_and_wait()
        fresh = bool(message_id) and message_id not in self.store.branch_ids(conversation_id)
        if fresh:
            self.store.show_version(message_id)
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
            self.store.update_conversation(self.chat.conversation_id, persona=self.persona.name)
        self.persona_changed.emit(self.persona)
        self._update_context()
        if self.persona.model:
            from desktop_chat import catalog

            choice = catalog.find(self.choices, self.persona.model) or catalog.from_spec(
                self.persona.model, self.settings, self.discovered
            )
            if choice is None:
                self.notice.emit(f"The persona's model {self.persona.model} is not available.",
                                 "Edit the persona, or choose a model from the menu.")  # fmt: skip
            elif self.choice is None or choice.key != self.choice.key:
                await self.choose(choice)

    # --- the sidebar's actions -----------------------------------------------------------

    def rename(self, conversation_id: int, title: str) -> None:
        self.store.update_conversation(conversation_id, title=title.strip())
        self.history_changed.emit()

    def pin(self, conversation_id: int, pinned: bool) -> None:
        self.store.update_conversation(conversation_id, pinned=int(pinned))
        self.history_changed.emit()

    def delete(self, conversation_id: int) -> str:
        """Hide a conversation (Undo brings it back); returns its title."""
        info = self.store.conversation(conversation_id)
        self.store.delete_conversation(conversation_id)
        if conversation_id == self.chat.conversation_id:
            self.new_chat()
        self.history_changed.emit()
        return info.title if info else ""

    def undelete(self, conversation_id: int) -> None:
        self.store.undelete(conversation_id)
        self.history_changed.emit()

    def export_text(self, conversation_id: int, kind: str) -> str:
        """The conversation as Markdown (its current branch) or JSON (every branch)."""
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

        from desktop_chat.store import StoreError
        from desktop_chat.store_export import import_conversation

        try:
            text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
            data = json.loads(text)
            conversation_id = import_conversation(self.store, data)
        except (OSError, ValueError, KeyError, TypeError, StoreError) as err:
            hint = getattr(err, "hint", "") or "Choose a .json file exported from Desktop Chat."
            self.notice.emit(f"{Path(path).name} could not be imported "
                             f"({getattr(err, 'message', err)}).", hint)  # fmt: skip
            return
        await self.open_conversation(conversation_id)

    async def show_version(self, index: int, step: int) -> None:
        """‹ and ›: the previous or next version of message ``index`` and what followed it."""
        await self.stop_and_wait()
        if self.chat.show_version(index, step):
            self.conversation_replaced.emit(self.conversation)
            self.versions_changed.emit()
            self._update_context()
