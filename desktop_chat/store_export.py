"""A conversation out of the store and back in: JSON with every branch (for import), or
Markdown of the branch on show (for reading)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from desktop_chat.store import (
    MESSAGE_COLUMNS,
    Store,
    StoredMessage,
    StoreError,
    message_from_row,
)


def export_conversation(store: Store, conversation_id: int) -> dict[str, Any]:
    """The whole tree, every branch included, as plain JSON-ready data."""
    info = store.conversation(conversation_id)
    if info is None:
        raise StoreError("That conversation no longer exists.", "Pick another one.")
    rows = store.db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages"
                           " WHERE conversation_id = ? ORDER BY id",
                           (conversation_id,))  # fmt: skip
    messages = [message_from_row(r) for r in rows]
    return {
        "format": "desktop-chat-conversation",
        "version": 1,
        "title": info.title,
        "created": info.created,
        "persona": info.persona,
        "model": info.model,
        "leaf": info.leaf_id,
        "messages": [
            {"id": m.id, "parent": m.parent_id, "role": m.role, "content": m.content,
             "model": m.model, "provider": m.provider, "params": m.params, "meta": m.meta,
             "interrupted": m.interrupted, "created": m.created}
            for m in messages
        ],
    }  # fmt: skip


def import_conversation(store: Store, data: dict[str, Any]) -> int:
    """A conversation exported by ``export()``, as a new conversation."""
    if data.get("format") != "desktop-chat-conversation":
        raise StoreError("This file is not a Desktop Chat conversation export.",
                         "Choose a .json file exported from Desktop Chat.")  # fmt: skip
    new_id = store.new_conversation(data.get("title") or "Imported", data.get("model"),
                                   data.get("persona"))  # fmt: skip
    ids: dict[int, int] = {}
    for m in data.get("messages", []):
        ids[m["id"]] = store.add_message(
            new_id, m["role"], m["content"], parent_id=ids.get(m.get("parent")),
            model=m.get("model"), provider=m.get("provider"), params=m.get("params"),
            meta=m.get("meta"), interrupted=bool(m.get("interrupted")),
        )  # fmt: skip
    leaf = ids.get(data.get("leaf"))
    if leaf is not None:
        store.update_conversation(new_id, leaf_id=leaf)
    return new_id


def to_markdown(title: str, messages: Iterable[StoredMessage]) -> str:
    """A conversation's current branch as a readable Markdown document."""
    parts = [f"# {title or 'Conversation'}\n"]
    for m in messages:
        who = {"user": "You", "assistant": m.model or "Assistant", "system": "System"}[m.role]
        text = m.meta.get("display", m.content) if m.role == "user" else m.content
        note = " *(interrupted)*" if m.interrupted else ""
        parts.append(f"## {who}{note}\n\n{text.rstrip()}\n")
    return "\n".join(parts)
