"""The sidebar's actions in the main window: the conversations listed and searched, one opened
(at a search hit), versions flipped, rename, pin, delete with Undo (and for good once the Undo
bar is gone), export and import; and the composer's drafts, which follow the conversation on
show. What the store refuses or cannot read is said in a banner (``with_store``); nothing on
screen is lost."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Slot

log = logging.getLogger(__name__)

#: The largest conversation file Import reads (a JSON export with every branch).
IMPORT_LIMIT = 200_000_000


class HistoryPanel(QObject):
    """Owns the sidebar's slots; changes the store only through the controller."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.sidebar = window.sidebar
        self.controller = None
        self.drafts = None  # composer.DraftKeeper, once attached

    def attach(self, controller) -> None:
        self.controller = c = controller
        sb = self.sidebar
        sb.open_requested.connect(self.open_conversation)
        sb.new_requested.connect(self.window.new_chat)
        sb.search_changed.connect(self.search)
        sb.rename_requested.connect(self.rename)
        sb.pin_requested.connect(self.pin)
        sb.delete_requested.connect(self.delete_conversation)
        sb.undo_requested.connect(self.undelete)
        sb.export_requested.connect(self.export_conversation)
        sb.import_requested.connect(self.import_conversation)
        self.window.view.version_requested.connect(self.show_version)
        c.history_changed.connect(self.refresh_sidebar)
        c.history_listed.connect(self._show_listed)
        c.versions_changed.connect(self._versions_changed)
        self.refresh_sidebar()
        self._keep_drafts()

    def _keep_drafts(self) -> None:
        """What is typed in the composer is kept per conversation: it survives a crash, a
        quit and opening another conversation (``drafts``)."""
        from desktop_chat.drafts import Drafts
        from desktop_chat.gui.composer import DraftKeeper

        c = self.controller
        edit = self.window.composer.edit
        self.drafts = DraftKeeper(edit, c.with_store(Drafts), self._draft_key(), self.window)
        c.conversation_replaced.connect(self._draft_follows)
        c.user_added.connect(self._draft_sent)
        c.closing.connect(self.drafts.save_now)

    def _draft_key(self) -> str:
        from desktop_chat.drafts import key_for

        return key_for(self.controller.conversation_id)

    @Slot(object)
    def _draft_follows(self, _conversation) -> None:
        self.drafts.switch(self._draft_key())

    @Slot(int, object)
    def _draft_sent(self, _index: int, _message) -> None:
        self.drafts.sent(self._draft_key())  # a new chat has its id by now

    # --- the list --------------------------------------------------------------------------

    @Slot()
    def refresh_sidebar(self) -> None:
        found = self.controller.conversations()
        if found is not None:  # else a banner says why; the list stays as it was
            self.sidebar.show_conversations(found, self.controller.conversation_id)

    @Slot(object)
    def _show_listed(self, found: list) -> None:
        self.sidebar.show_conversations(found, self.controller.conversation_id)

    @Slot()
    def _versions_changed(self) -> None:
        self.window.view.show_versions(self.controller.versions)

    @Slot()
    def find(self) -> None:
        splitter = self.window.splitter
        splitter.setSizes([max(240, splitter.sizes()[0]), splitter.sizes()[1]])
        self.sidebar.focus_search()

    @Slot(str)
    def search(self, text: str) -> None:
        if text.strip():
            self.sidebar.show_hits(self.controller.search(text))
        else:
            self.refresh_sidebar()

    @Slot(int, int)
    def open_conversation(self, conversation_id: int, message_id: int = 0) -> None:
        self.controller.spawn(self._open(conversation_id, message_id))

    async def _open(self, conversation_id: int, message_id: int) -> None:
        index = await self.controller.open_conversation(conversation_id, message_id)
        if index is not None:
            self.window.view.scroll_to_index(index)

    @Slot(int, int)
    def show_version(self, index: int, step: int) -> None:
        self.controller.spawn(self.controller.show_version(index, step))

    # --- what the sidebar's menu does ------------------------------------------------------

    @Slot(int, str)
    def rename(self, conversation_id: int, title: str) -> None:
        self._change(conversation_id, title=title.strip())

    @Slot(int, bool)
    def pin(self, conversation_id: int, pinned: bool) -> None:
        self._change(conversation_id, pinned=int(pinned))

    def _change(self, conversation_id: int, **columns) -> None:
        self.controller.with_store(lambda s: s.update_conversation(conversation_id, **columns))
        self.refresh_sidebar()

    @Slot(int)
    def delete_conversation(self, conversation_id: int) -> None:
        """Hidden at once; Undo brings it back until the Undo bar is gone, and then it is
        removed from the file."""
        c = self.controller
        info = c.with_store(lambda s: s.conversation(conversation_id))
        if c.with_store(lambda s: s.delete_conversation(conversation_id), default=False) is False:
            return  # refused: a banner says why, and there is nothing to undo
        c.spawn(self._purge_later(conversation_id))
        if conversation_id == c.conversation_id:
            c.new_chat()
        self.refresh_sidebar()
        self.sidebar.show_deleted(conversation_id, info.title if info else "")

    async def _purge_later(self, conversation_id: int) -> None:
        import asyncio  # here, not at the top: not before the window's first frame

        from desktop_chat import store

        await asyncio.sleep(store.UNDO_S + 0.5)  # the sidebar's Undo bar is gone
        # Only if it is still deleted, and deleted that long ago (not deleted again after an
        # Undo, with a new bar on show).
        if self.controller.with_store(lambda s: s.purge(store.UNDO_S, conversation_id)):
            log.info("deleted conversation %s removed from the file", conversation_id)
            from desktop_chat.gui import prompt_cache_files

            # What a local model had read of it goes too, from memory and from the disk.
            await prompt_cache_files.forget(self.controller.models, conversation_id)

    @Slot(int)
    def undelete(self, conversation_id: int) -> None:
        self.controller.with_store(lambda s: s.undelete(conversation_id))
        self.refresh_sidebar()

    @Slot(int, str)
    def export_conversation(self, conversation_id: int, kind: str) -> None:
        # Read before asking where: one that cannot be read is said now, not after the panel.
        exported = self.controller.with_store(exported_as, conversation_id, kind)
        if exported is not None:
            title, text = exported
            name = "".join(ch for ch in title if ch.isalnum() or ch in " -_").strip()
            self.window.save_text(f"{name or 'Conversation'}.{kind}", lambda: text)

    @Slot()
    def import_conversation(self) -> None:
        path = self.ask_open_path("Import a conversation", "Conversations (*.json)")
        if path:
            self.controller.spawn(self._import(Path(path)))

    async def _import(self, path: Path) -> None:
        import asyncio
        import json

        from desktop_chat.context import ContextError, read_whole

        try:
            # Bounded and regular files only: a FIFO or /dev/zero chosen here must not hang
            # or fill the memory.
            raw = await asyncio.to_thread(read_whole, path, IMPORT_LIMIT)
            data = json.loads(raw.decode("utf-8-sig"))
        except (ContextError, OSError, ValueError) as err:
            self.controller.notice.emit(*_not_imported(path.name, err))
            return
        conversation_id = self.controller.with_store(_imported, path.name, data)
        if conversation_id is not None:
            await self.controller.open_conversation(conversation_id)

    def ask_open_path(self, title: str, filter_: str) -> str:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self.window, title, "", filter_)
        return path


def exported_as(store, conversation_id: int, kind: str) -> tuple[str, str]:
    """(title, text): the conversation as Markdown (its current branch) or JSON (every
    branch)."""
    import json

    from desktop_chat.store_export import export_conversation, to_markdown

    info = store.conversation(conversation_id)
    title = info.title if info else ""
    if kind == "json":
        data = export_conversation(store, conversation_id)
        return title, json.dumps(data, ensure_ascii=False, indent=2)
    return title, to_markdown(title, store.branch(conversation_id))


def _imported(store, name: str, data) -> int:
    """``data`` read from the file ``name``, as a new conversation (all of it, or nothing)."""
    from desktop_chat.store_export import import_conversation
    from desktop_chat.store_files import StoreError

    try:
        return import_conversation(store, data)
    except (ValueError, KeyError, TypeError, StoreError) as err:
        raise StoreError(*_not_imported(name, err)) from err


def _not_imported(name: str, err: Exception) -> tuple[str, str]:
    hint = getattr(err, "hint", "") or "Choose a .json file exported from Desktop Chat."
    reason = getattr(err, "message", None) or f"{err}."
    return f"{name} could not be imported. {reason}", hint
