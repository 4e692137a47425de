"""A conversation out of the store and back in: JSON with every branch (for import), or
Markdown of the branch on show (for reading). A reply's thinking is in the JSON (``reasoning``),
and in the Markdown only when asked for: a document to read or share is the conversation, and
a reasoning model's thought is often longer than its answer."""

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
        "messages": [_exported(m) for m in messages],
    }


def _exported(m: StoredMessage) -> dict[str, Any]:
    """One message as the JSON export has it; ``reasoning`` only for a reply that thought
    (an export made before thinking was kept reads the same)."""
    out = {
        "id": m.id,
        "parent": m.parent_id,
        "role": m.role,
        "content": m.content,
        "model": m.model,
        "provider": m.provider,
        "params": m.params,
        "meta": m.meta,
        "interrupted": m.interrupted,
        "created": m.created,
    }
    if m.reasoning:
        out["reasoning"] = m.reasoning
    return out


def import_conversation(store: Store, data: dict[str, Any]) -> int:
    """A conversation exported by ``export()``, as a new conversation: all of it in one
    transaction, or nothing (a ``StoreError`` names the part that is wrong)."""
    if not isinstance(data, dict) or data.get("format") != "desktop-chat-conversation":
        raise StoreError(
            "This file is not a Desktop Chat conversation export.",
            "Choose a .json file exported from Desktop Chat.",
        )
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
        new_id = store.new_conversation(
            str(data.get("title") or "Imported"), data.get("model"), data.get("persona")
        )
        ids: dict[Any, int] = {}
        for m in messages:
            meta = dict(m.get("meta") or {})
            # An export from before thinking had its own field kept it in the meta.
            reasoning = m.get("reasoning") or meta.pop("reasoning", "") or ""
            ids[m["id"]] = store.add_message(
                new_id,
                m["role"],
                m["content"],
                parent_id=ids.get(m.get("parent")),
                model=m.get("model"),
                provider=m.get("provider"),
                params=m.get("params"),
                meta=meta,
                interrupted=bool(m.get("interrupted")),
                reasoning=str(reasoning),
            )
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
    if m.get("reasoning") is not None and not isinstance(m["reasoning"], str):
        return "has a “reasoning” (its thinking) that is not a string"
    return ""


def _malformed(what: str) -> StoreError:
    return StoreError(
        what,
        "Nothing was added. Fix that part of the file, or export the "
        "conversation again from Desktop Chat.",
    )


def to_markdown(title: str, messages: Iterable[StoredMessage], *, reasoning: bool = False) -> str:
    """A conversation's current branch as a readable Markdown document; with ``reasoning``, each
    reply's thinking too, quoted above its answer."""
    parts = [f"# {title or 'Conversation'}\n"]
    for m in messages:
        who = {"user": "You", "assistant": m.model or "Assistant", "system": "System"}[m.role]
        text = m.meta.get("display", m.content) if m.role == "user" else m.content
        note = " *(interrupted)*" if m.interrupted else ""
        thought = _quoted(m.reasoning) if reasoning and m.reasoning.strip() else ""
        parts.append(f"## {who}{note}\n\n{thought}{text.rstrip()}\n")
    return "\n".join(parts)


def _quoted(thought: str) -> str:
    """A thought as a Markdown quote headed "Thinking", apart from the answer after it."""
    lines = ["**Thinking**", "", *thought.strip().splitlines()]
    return "\n".join(f"> {line}".rstrip() for line in lines) + "\n\n"
