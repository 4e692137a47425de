"""A conversation out of the store and back in: JSON with every branch (for import), or
Markdown of the branch on show (for reading). A reply's tool calls and their results are in the
JSON (``tool_calls``: its rounds, as ``Message.tool_rounds`` has them). A reply's thinking is
in the JSON (``reasoning``),
and in the Markdown only when asked for: a document to read or share is the conversation, and
a reasoning model's thought is often longer than its answer.

A user's images are in the JSON, whole: ``images``, a list of ``{"name", "mime", "width",
"height", "data"}`` with ``data`` the file's bytes in base64 (one file carries the whole
conversation). Imported ones are checked with Pillow; one that still carries metadata (EXIF,
GPS, ICC, text: a file not written by Desktop Chat) is normalised again on the way in. The
Markdown names each image in a line of its own, "*[Image: name, W×H]*": a document to read or
share, with no file of the data folder to point at and no megabytes of base64.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterable
from typing import Any

from desktop_chat.picture import Picture
from desktop_chat.store import Store, StoredMessage, StoreError

#: What Pillow reports of an image Desktop Chat wrote (a JPEG's JFIF header): nothing personal.
_HARMLESS_INFO = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}
_MIMES = {"image/png": "PNG", "image/jpeg": "JPEG"}


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
    if m.tool_calls:
        out["tool_calls"] = m.tool_calls
    if m.images:
        out["images"] = [
            {
                "name": p.name,
                "mime": p.mime,
                "width": p.width,
                "height": p.height,
                "data": base64.b64encode(p.data).decode("ascii"),
            }
            for p in m.images
        ]
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
    pictures: list[list[Picture]] = []
    for number, m in enumerate(messages, start=1):
        problem = _check(m, known)
        if not problem:
            found = _pictures(m.get("images") or [])
            problem, found = (found, []) if isinstance(found, str) else ("", found)
            pictures.append(found)
        if problem:
            raise _malformed(f"Message {number} of {len(messages)} {problem}.")
        known.add(m["id"])
    with store.transaction():  # a failure half-way leaves no half conversation behind
        new_id = store.new_conversation(
            str(data.get("title") or "Imported"), data.get("model"), data.get("persona")
        )
        ids: dict[Any, int] = {}
        for m, images in zip(messages, pictures, strict=True):
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
                images=images,
                tool_calls=m.get("tool_calls") or (),
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
    calls = m.get("tool_calls")
    if calls is not None and not (
        isinstance(calls, list) and all(isinstance(c, dict) for c in calls)
    ):
        return "has a “tool_calls” that is not a list of tool rounds"
    if m.get("reasoning") is not None and not isinstance(m["reasoning"], str):
        return "has a “reasoning” (its thinking) that is not a string"
    if m.get("images") is not None and not isinstance(m["images"], list):
        return "has “images” that are not a list"
    return ""


def _pictures(entries: list[Any]) -> list[Picture] | str:
    """The images of one exported message, or what is wrong with them."""
    found = []
    for number, entry in enumerate(entries, start=1):
        picture = _picture(entry) if isinstance(entry, dict) else None
        if picture is None:
            return f"has an image ({number} of {len(entries)}) that cannot be read"
        found.append(picture)
    return found


def _picture(entry: dict[str, Any]) -> Picture | None:
    """One exported image, checked: bytes that Pillow reads as the kind it says it is."""
    from PIL import Image

    name, mime = str(entry.get("name") or "Image"), entry.get("mime")
    try:
        data = base64.b64decode(str(entry.get("data", "")), validate=True)
        with Image.open(io.BytesIO(data)) as image:
            kind, size, info = image.format, image.size, set(image.info)
            exif = bool(image.getexif())
            image.load()  # the whole of it decodes, not only its header
    except (binascii.Error, ValueError, OSError, SyntaxError, EOFError):
        return None
    if _MIMES.get(str(mime)) != kind or exif or info - _HARMLESS_INFO:
        from desktop_chat.images import ImageRefused, normalise

        try:
            return normalise(data, name=name)  # not as Desktop Chat writes it: made so now
        except ImageRefused:
            return None
    return Picture(data, str(mime), *size, name=name)


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
        images = "".join(
            f"*[Image: {p.name or 'image'}, {p.width}×{p.height}]*\n\n" for p in m.images
        )
        calls = _tool_lines(m.tool_calls)
        parts.append(f"## {who}{note}\n\n{thought}{images}{calls}{text.rstrip()}\n")
    return "\n".join(parts)


#: The most of a tool's result the Markdown shows (the JSON keeps all of it).
_RESULT_CHARS = 200


def _tool_lines(rounds: list[dict[str, Any]]) -> str:
    """A reply's tool calls, one line each above its answer: the tool, its arguments, and the
    start of what it answered (or that it failed)."""
    lines = []
    for step in rounds:
        results = {r.get("call_id"): r for r in step.get("results", ())}
        for call in step.get("calls", ()):
            name = f"{call['server']} · {call['name']}" if call.get("server") else call["name"]
            result = results.get(call.get("id"), {})
            said = " ".join(str(result.get("content", "")).split())
            if len(said) > _RESULT_CHARS:
                said = said[: _RESULT_CHARS - 1] + "…"
            verb = "failed" if result.get("is_error") else "→"
            lines.append(f"*[Tool: {name} `{call.get('arguments') or '{}'}` {verb} {said}]*\n\n")
    return "".join(lines)


def _quoted(thought: str) -> str:
    """A thought as a Markdown quote headed "Thinking", apart from the answer after it."""
    lines = ["**Thinking**", "", *thought.strip().splitlines()]
    return "\n".join(f"> {line}".rstrip() for line in lines) + "\n\n"
