"""Messages and conversations: plain data that every front end shares."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from desktop_chat.picture import Picture

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")


@dataclass(slots=True)
class Message:
    """One turn. ``meta`` holds what is not sent to the model: stats, the model, a partial flag.
    ``images`` (a user's turn only) are sent with the text, as content parts.

    ``tool_rounds`` (a reply's only): the tools it called before its answer, one round per
    request that ended asking for tools, in order, each as plain JSON data::

        {"text": what it said first, "calls": [{"id", "name", "arguments"}],
         "results": [{"call_id", "name", "content", "is_error", "seconds"}]}

    Sent back in later turns as the assistant's ``tool_calls`` message and a ``tool`` message
    per result, then the answer (``api_messages``)."""

    role: Role
    content: str
    meta: dict[str, Any] = field(default_factory=dict)
    images: list[Picture] = field(default_factory=list)
    tool_rounds: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {self.role!r}")
        if not isinstance(self.content, str):
            raise ValueError("message content must be text")

    @property
    def interrupted(self) -> bool:
        """True for an assistant reply that stopped mid-way (its text is partial)."""
        return bool(self.meta.get("interrupted"))

    def to_api(self) -> dict[str, Any]:
        if not self.images:
            return {"role": self.role, "content": self.content}
        text = [{"type": "text", "text": self.content}] if self.content else []
        return {"role": self.role, "content": text + [p.to_api() for p in self.images]}

    def api_messages(self) -> list[dict[str, Any]]:
        """The wire form of the whole turn: for a reply that called tools, each round's
        assistant message with its ``tool_calls`` and the ``tool`` messages answering them,
        then the answer (none when a Stop mid-call left it empty); for any other turn,
        ``[to_api()]``."""
        if not self.tool_rounds:
            return [self.to_api()]
        answer = [self.to_api()] if self.content or self.images else []
        return tool_messages(self.tool_rounds) + answer


@dataclass(slots=True)
class Conversation:
    """A system prompt and the turns after it. The system prompt is kept apart so that clearing
    the history, or trimming it to fit a context window, can never drop it."""

    system_prompt: str = ""
    messages: list[Message] = field(default_factory=list)

    def add(self, role: Role, content: str, **meta: Any) -> Message:
        message = Message(role, content, dict(meta))
        self.messages.append(message)
        return message

    def add_user(self, content: str, images: list[Picture] | None = None, **meta: Any) -> Message:
        message = self.add("user", content, **meta)
        message.images = list(images or ())
        return message

    def add_assistant(self, content: str, **meta: Any) -> Message:
        return self.add("assistant", content, **meta)

    def truncate(self, index: int) -> list[Message]:
        """Drop the turns from ``index`` on (edit and resend, regenerate); returns them."""
        dropped = self.messages[index:]
        del self.messages[index:]
        return dropped

    def clear(self) -> None:
        """Forget the turns, keep the system prompt."""
        self.messages.clear()

    def to_api(self, system_prompt: str | None = None) -> list[dict[str, Any]]:
        """The wire form: system prompt first (an override wins), then every turn."""
        system = self.system_prompt if system_prompt is None else system_prompt
        head = [{"role": "system", "content": system}] if system else []
        return head + [part for m in self.messages for part in m.api_messages()]

    def history(self) -> list[dict[str, Any]]:
        """A copy of the turns as ``{"role", "content"}`` dicts, system prompt included."""
        return copy.deepcopy(self.to_api())


def tool_messages(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool rounds (``Message.tool_rounds``) as the messages a request carries: each round's
    assistant message (its text, or null as OpenAI has it, and its calls), then one ``tool``
    message per result, in the calls' order."""
    out: list[dict[str, Any]] = []
    for step in rounds:
        calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c.get("arguments") or "{}"},
            }
            for c in step.get("calls", ())
        ]
        out.append({"role": "assistant", "content": step.get("text") or None, "tool_calls": calls})
        out += [
            {"role": "tool", "tool_call_id": r["call_id"], "content": r.get("content", "")}
            for r in step.get("results", ())
        ]
    return out
