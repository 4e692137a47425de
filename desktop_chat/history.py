"""A conversation kept in the store as it happens: the user's message is saved before it is
sent, a streaming reply at least once a second, and the finished reply at the end. Editing and
regenerating continue from an earlier message, so they make branches; nothing is overwritten.

Used by the window, the terminal chat and the Python API alike.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import aclosing

from desktop_chat.conversation import Conversation, Message
from desktop_chat.events import Event, TextDelta
from desktop_chat.params import GenerationParams
from desktop_chat.providers.base import Provider
from desktop_chat.session import run_turn
from desktop_chat.store import Store, StoredMessage

#: Seconds between two saves of a streaming reply.
SAVE_EVERY_S = 1.0
_TITLE_CHARS = 48


def title_from(text: str) -> str:
    """The first line of the first question, cut at a word near 48 characters."""
    line = " ".join(text.strip().split("\n", 1)[0].split())
    if len(line) <= _TITLE_CHARS:
        return line or "New chat"
    cut = line[:_TITLE_CHARS].rsplit(" ", 1)[0]
    return (cut or line[:_TITLE_CHARS]) + "…"


def _message(stored: StoredMessage) -> Message:
    meta = dict(stored.meta)
    if stored.role == "assistant":
        meta.setdefault("model", stored.model)
        meta.setdefault("provider", stored.provider)
    if stored.interrupted:
        meta["interrupted"] = True
    return Message(stored.role, stored.content, meta)  # type: ignore[arg-type]


class StoredChat:
    """The in-memory ``Conversation`` (what the model sees) and its rows in the store."""

    def __init__(self, store: Store, external_id: str | None = None) -> None:
        self.store = store
        #: A name of the caller's (a ChatManager id) the conversation is kept under.
        self.external_id = external_id
        self.conversation = Conversation()
        self.conversation_id: int | None = None
        #: The store id of each message in ``conversation.messages``.
        self.ids: list[int] = []
        self._reply_id: int | None = None
        #: The conversation the reply belongs to, as it was when the reply started: ⌘N,
        #: opening or deleting a chat mid-reply shows another one, and the reply must still
        #: end in its own (not delete itself from the one now on show).
        self._reply_home: tuple[Conversation, int, list[int]] | None = None
        self._saved_at = 0.0
        #: Recently open conversations, kept while the store says they have not changed:
        #: switching back to a long one then costs nothing to load.
        self._recent: dict[int, tuple[tuple, Conversation, list[int]]] = {}

    # --- which conversation --------------------------------------------------------------

    def _keep(self) -> None:
        """Remember the conversation being left, as it stands in the store now."""
        cid = self.conversation_id
        if cid is not None and self._reply_id is None:
            self._recent[cid] = (self.store.stamp(cid), self.conversation, self.ids)
            while len(self._recent) > 4:
                self._recent.pop(next(iter(self._recent)))

    def new(self) -> None:
        """A new chat; its row is created with its first message."""
        self._keep()
        self.conversation = Conversation()
        self.conversation_id = None
        self.ids = []

    def open(self, conversation_id: int, fresh: bool = False) -> None:
        """Show a conversation's current branch; ``fresh`` after its branch was changed in the
        store (another version shown), when nothing kept may be reused."""
        if fresh:
            self._recent.pop(conversation_id, None)
        else:
            self._keep()
        kept = self._recent.pop(conversation_id, None)
        if kept is not None and kept[0] == self.store.stamp(conversation_id):
            _, self.conversation, self.ids = kept
            self.conversation_id = conversation_id
            return
        branch = self.store.branch(conversation_id)
        self.conversation = Conversation(messages=[_message(m) for m in branch])
        self.conversation_id = conversation_id
        self.ids = [m.id for m in branch]

    def _ensure_row(self, model: str | None) -> int:
        if self.conversation_id is None:
            self.conversation_id = self.store.new_conversation(
                model=model, external_id=self.external_id
            )
            self.external_id = None  # a later new() starts an ordinary conversation
        return self.conversation_id

    # --- turns ---------------------------------------------------------------------------

    def add_user(self, content: str, model: str | None = None, **meta) -> Message:
        conv = self._ensure_row(model)
        parent = self.ids[-1] if self.ids else None
        message = self.conversation.add_user(content, **meta)
        self.ids.append(self.store.add_message(conv, "user", content, parent_id=parent,
                                               meta=meta))  # fmt: skip
        if len(self.ids) == 1:
            self.store.update_conversation(conv, title=title_from(meta.get("display", content)))
        return message

    def truncate(self, index: int) -> None:
        """Continue from before message ``index`` (edit, regenerate): the store keeps the old
        branch; the next message becomes its sibling."""
        self.conversation.truncate(index)
        del self.ids[index:]

    def reply_started(self, model: str | None, provider: str | None,
                      params: dict | None = None) -> None:  # fmt: skip
        """A row for the reply (with the parameters it is asked with), empty and marked
        interrupted until it completes."""
        conv = self._ensure_row(model)
        parent = self.ids[-1] if self.ids else None
        self._reply_id = self.store.add_message(conv, "assistant", "", parent_id=parent,
                                                model=model, provider=provider, params=params,
                                                interrupted=True)  # fmt: skip
        self._reply_home = (self.conversation, conv, self.ids)
        self._saved_at = 0.0

    def reply_progress(self, parts: list[str]) -> bool:
        """Save the reply so far if a second has passed since the last save. Takes the pieces
        and joins them only then: this runs for every token."""
        now = time.monotonic()
        if self._reply_id is None or now - self._saved_at < SAVE_EVERY_S:
            return False
        self.store.update_message(self._reply_id, "".join(parts), interrupted=True)
        self._saved_at = now
        return True

    async def stream(
        self, provider: Provider, model: str, params: GenerationParams
    ) -> AsyncIterator[Event]:
        """Answer the last user message into the reply row ``reply_started`` made: the
        provider's events, the reply saved at least once a second, then stored whole (or kept,
        interrupted) however the turn ends."""
        parts: list[str] = []
        conversation = self._reply_home[0] if self._reply_home else self.conversation
        try:
            turn = run_turn(provider, conversation, None, model, params)
            async with aclosing(turn) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        parts.append(event.text)
                        self.reply_progress(parts)
                    yield event
        finally:
            self.reply_ended()

    def reply_ended(self) -> None:
        """The turn is over: store the reply as the conversation holds it (finished, stopped
        with its partial text, or failed), or drop the empty row if nothing arrived."""
        reply_id, self._reply_id = self._reply_id, None
        home, self._reply_home = self._reply_home, None
        if reply_id is None or home is None:
            return
        conversation, conversation_id, ids = home
        messages = conversation.messages
        if len(messages) > len(ids) and messages[-1].role == "assistant":
            last = messages[-1]
            meta = {k: v for k, v in last.meta.items() if k not in ("model", "provider")}
            self.store.update_message(reply_id, last.content, interrupted=last.interrupted,
                                      meta=meta, model=last.meta.get("model"),
                                      provider=last.meta.get("provider"))  # fmt: skip
            ids.append(reply_id)
        else:
            self.store.db.execute("DELETE FROM messages WHERE id = ?", (reply_id,))
            self.store.update_conversation(conversation_id, leaf_id=ids[-1] if ids else None)

    # --- versions ------------------------------------------------------------------------

    def versions(self, index: int) -> tuple[int, int]:
        """(position from 1, count) of message ``index`` among its versions."""
        if index >= len(self.ids):
            return 1, 1
        ids = self.store.versions(self.ids[index])
        return ids.index(self.ids[index]) + 1, len(ids)

    def show_version(self, index: int, step: int) -> bool:
        """Show the previous (-1) or next (+1) version of message ``index``."""
        ids = self.store.versions(self.ids[index])
        here = ids.index(self.ids[index])
        if not 0 <= here + step < len(ids):
            return False
        self.store.show_version(ids[here + step])
        self.open(self.conversation_id, fresh=True)
        return True


async def run_stored_turn(
    chat: StoredChat,
    provider: Provider,
    prompt: str,
    model: str,
    params: GenerationParams,
    label: str | None = None,
    **meta: object,
) -> AsyncIterator[Event]:
    """``session.run_turn`` with the turn kept in the store as it happens."""
    chat.add_user(prompt, label or model, **meta)
    chat.reply_started(label or model, provider.name, params.to_dict())
    async with aclosing(chat.stream(provider, model, params)) as events:
        async for event in events:
            yield event
