"""A conversation out of the store and back in: JSON with every branch (for import), or
Markdown of the branch on show (for reading)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from desktop_chat.store import Store, StoredMessage, StoreError


def export_conversation(store: Store, conversation_id: int) -> dict[str, Any]:
    """The whole tree, every branch included, as plain JSON-ready data."""
    info = store.conversation(conversation_id)
    if info is None:
        raise StoreError("That conversation no longer exists.", "Pick another one.")
    messages = store.messages(conversation_id)
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
    """A conversation exported by ``export()``, as a new conversation: all of it in one
    transaction, or nothing (a ``StoreError`` names the part that is wrong)."""
    if not isinstance(data, dict) or data.get("format") != "desktop-chat-conversation":
        raise StoreError("This file is not a Desktop Chat conversation export.",
                         "Choose a .json file exported from Desktop Chat.")  # fmt: skip
    messages = data.get("messages", [])
    if not isinstance(messages, list):
        raise _malformed("Its “messages” is not a list.")
    known: set[Any] = set()
    for number, m in enumerate(messages, start=1):
        problem = _check(m, known)
        if problem:
            raise _malformed(f"Message {number} of {len(messages)} {problem}.")
        known.add(m["id"])
    with store.transaction():  # a failure half-way leaves no half conversation behind
        new_id = store.new_conversation(str(data.get("title") or "Imported"), data.get("model"),
                                        data.get("persona"))  # fmt: skip
        ids: dict[Any, int] = {}
        for m in messages:
            ids[m["id"]] = store.add_message(
                new_id, m["role"], m["content"], parent_id=ids.get(m.get("parent")),
                model=m.get("model"), provider=m.get("provider"), params=m.get("params"),
                meta=m.get("meta"), interrupted=bool(m.get("interrupted")),
            )  # fmt: skip
        leaf = ids.get(data.get("leaf"))
        if leaf is not None:
            store.update_conversation(new_id, leaf_id=leaf)
    return new_id


def _check(m: Any, known: set[Any]) -> str:
    """What is wrong with one exported message ("" when nothing is)."""
    if not isinstance(m, dict):
        return "is not an object"
    if "id" not in m or isinstance(m["id"], (dict, list)):
        return "has no “id”"
    if m.get("role") not in ("user", "assistant", "system"):
        return f"has the role {m.get('role')!r} (user, assistant or system expected)"
    if not isinstance(m.get("content"), str):
        return "has no text: its “content” is not a string"
    if m.get("parent") is not None and m["parent"] not in known:
        return f"answers a message that comes after it or is not there ({m['parent']!r})"
    for name in ("params", "meta"):
        if m.get(name) is not None and not isinstance(m[name], dict):
            return f"has a “{name}” that is not an object"
    return ""


def _malformed(what: str) -> StoreError:
    return StoreError(what, "Nothing was added. Fix that part of the file, or export the "
                            "conversation again from Desktop Chat.")  # fmt: skip


def to_markdown(title: str, messages: Iterable[StoredMessage]) -> str:
    """A conversation's current branch as a readable Markdown document."""
    parts = [f"# {title or 'Conversation'}\n"]
    for m in messages:
        who = {"user": "You", "assistant": m.model or "Assistant", "system": "System"}[m.role]
        text = m.meta.get("display", m.content) if m.role == "user" else m.content
        note = " *(interrupted)*" if m.interrupted else ""
        parts.append(f"## {who}{note}\n\n{text.rstrip()}\n")
    return "\n".join(parts)
