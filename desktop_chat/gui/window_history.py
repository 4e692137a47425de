"""The main window's side of the conversation store: the sidebar's list and search, opening
a conversation at a hit, versions, delete, export and import. Mixed into ``MainWindow``."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QFileDialog


class HistoryPanel:
    def keep_drafts(self) -> None:
        """What is typed in the composer is kept per conversation: it survives a crash, a
        quit and opening another conversation (``drafts``)."""
        from desktop_chat.drafts import Drafts
        from desktop_chat.gui.composer import DraftKeeper

        c = self.controller
        self.drafts = DraftKeeper(self.composer.edit, Drafts(c.store), self._draft_key(), self)
        c.conversation_replaced.connect(self._draft_follows)
        c.user_added.connect(self._draft_sent)
        c.closing.connect(self.drafts.save_now)

    def _draft_key(self) -> str:
        from desktop_chat.drafts import key_for

        return key_for(self.controller.chat.conversation_id)

    @Slot(object)
    def _draft_follows(self, _conversation) -> None:
        self.drafts.switch(self._draft_key())

    @Slot(int, object)
    def _draft_sent(self, _index: int, _message) -> None:
        self.drafts.sent(self._draft_key())  # a new chat has its id by now

    @Slot()
    def refresh_sidebar(self) -> None:
        c = self.controller
        found = c.read(c.store.conversations)
        if found is not None:  # else a banner says why; the list stays as it was
            self.sidebar.show_conversations(found, c.chat.conversation_id)

    @Slot()
    def _versions_changed(self) -> None:
        self.view.show_versions(self.controller.chat.versions)

    @Slot()
    def find(self) -> None:
        self.splitter.setSizes([max(240, self.splitter.sizes()[0]), self.splitter.sizes()[1]])
        self.sidebar.focus_search()

    @Slot(str)
    def search(self, text: str) -> None:
        if text.strip():
            c = self.controller
            self.sidebar.show_hits(c.read(c.store.search, text, default=[]))
        else:
            self.refresh_sidebar()

    @Slot(int, int)
    def open_conversation(self, conversation_id: int, message_id: int = 0) -> None:
        self.controller.spawn(self._open(conversation_id, message_id))

    async def _open(self, conversation_id: int, message_id: int) -> None:
        index = await self.controller.open_conversation(conversation_id, message_id)
        if index is not None:
            self.view.scroll_to_index(index)

    @Slot(int, int)
    def show_version(self, index: int, step: int) -> None:
        self.controller.spawn(self.controller.show_version(index, step))

    @Slot(int)
    def delete_conversation(self, conversation_id: int) -> None:
        title = self.controller.delete(conversation_id)
        if title is not None:  # None: the store refused, and a banner says why
            self.sidebar.show_deleted(conversation_id, title)

    @Slot(int, str)
    def export_conversation(self, conversation_id: int, kind: str) -> None:
        c = self.controller
        info = c.read(c.store.conversation, conversation_id)
        # Read before asking where: one that cannot be read is said now, not after the panel.
        text = c.export_text(conversation_id, kind)
        if text is None:
            return
        name = "".join(ch for ch in (info.title if info else "") if ch.isalnum() or ch in " -_")
        self.save_text(f"{name.strip() or 'Conversation'}.{kind}", lambda: text)

    @Slot()
    def import_conversation(self) -> None:
        path = self.ask_open_path("Import a conversation", "Conversations (*.json)")
        if path:
            self.controller.spawn(self.controller.import_file(Path(path)))

    def ask_open_path(self, title: str, filter_: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self, title, "", filter_)
        return path
