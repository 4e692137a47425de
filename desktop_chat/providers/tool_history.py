"""Earlier tool calls in a conversation, made readable for a model that cannot call tools.

A reply that called tools is sent back as an assistant message with ``tool_calls``, a ``tool``
message per result, then the answer (``conversation.tool_messages``). A model without tools
(the user changed models since) has a chat template that knows neither: it may render their
empty content as "None", or refuse the role. It reads them instead as one assistant message
that says what was called and what came back, then the answer, so the turns still alternate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def as_text(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation with each reply's tool rounds folded into its text; a conversation
    without any comes back as the very same messages."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []  # the current reply's rounds, as lines
    names: dict[str, str] = {}  # call id -> tool name
    for message in messages:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            if text := _text(message):
                pending.append(text)
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                name = str(function.get("name", ""))
                names[str(call.get("id", ""))] = name
                pending.append(f"[Called the tool {name} with {function.get('arguments') or '{}'}]")
            continue
        if role == "tool":
            name = names.get(str(message.get("tool_call_id", "")), "the tool")
            pending.append(f"[{name} returned: {_text(message)}]")
            continue
        if pending:
            if role == "assistant":  # the answer after the calls
                answer = _text(message)
                message = {
                    **message,
                    "content": "\n\n".join([*pending, answer] if answer else pending),
                }
            else:  # the reply ended with its calls (stopped): they are its whole text
                out.append({"role": "assistant", "content": "\n\n".join(pending)})
            pending = []
        out.append(message)
    if pending:
        out.append({"role": "assistant", "content": "\n\n".join(pending)})
    return out


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts: their text
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""
