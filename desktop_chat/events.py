"""What a provider streams: the answer's text deltas (after its thinking's, for a reasoning
model), then one ``Finished`` with the reply's figures; before any of them, a ``Retrying`` for
each new attempt. A model that asks for tools ends its stream with one ``ToolCallRequest``
just before ``Finished`` (``finish_reason`` "tool_calls"); a session's turn runs the calls,
says each result (``ToolResultEvent``) and asks again, so its clients see one ``Finished``,
the reply's last."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: True when the server did not report usage and the numbers were counted here.
    estimated: bool = False
    #: Of ``completion_tokens``, those spent thinking (as OpenAI counts them); None for a
    #: reply with no thinking. Counted one per piece when the server does not say.
    reasoning_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's thinking, before the answer: shown apart, never part of the
    answer's text, never sent back to the model.

    ``was_answer``: this thought is the text streamed so far as the answer (every
    ``TextDelta`` before it): the stream began inside a thought that only its closing marker
    showed (``reasoning.ReplyParser``). Take that text out of the answer; the answer starts
    again after this event."""

    text: str
    was_answer: bool = False


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """The model's turn ended asking for tools: ``calls`` (``tools.ToolCall``: id, name, the
    arguments' JSON text), in the order it sent them, each whole. ``round``: 1 for the reply's
    first request, counted by the session (a provider leaves it 1)."""

    calls: tuple  # of desktop_chat.tools.ToolCall (a floor above this one)
    round: int = 1


@dataclass(frozen=True, slots=True)
class ToolResultEvent:
    """One call's result, after the user approved (or denied) it and it ran: what the model
    reads next (``tools.ToolResult``: call_id, name, content, is_error, seconds)."""

    result: object  # a desktop_chat.tools.ToolResult
    round: int = 1


@dataclass(frozen=True, slots=True)
class Retrying:
    """Before any text: the last attempt failed in a way worth retrying (no connection, 429,
    5xx); attempt ``attempt`` of ``of`` starts after ``delay_s``. Clients say so."""

    attempt: int
    of: int
    delay_s: float
    #: Why the last attempt failed, one sentence (already redacted, as every error is).
    reason: str

    def note(self, limit: int = 90) -> str:
        """ "retrying (2 of 3) in 0.5 s: acme had a server error (503: overloaded)." """
        reason = self.reason if len(self.reason) <= limit else self.reason[: limit - 1] + "…"
        wait = f"{self.delay_s:.1f}" if self.delay_s < 10 else f"{self.delay_s:.0f}"
        return f"retrying ({self.attempt} of {self.of}) in {wait} s: {reason}"


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of a successful reply."""

    finish_reason: str | None
    usage: Usage
    #: Seconds from sending the request to the first token (thinking or answer).
    ttft_s: float | None
    #: Completion tokens per second, measured from the first token to the last.
    tokens_per_s: float | None
    #: Seconds from sending the request to the end of the reply.
    total_s: float
    model: str
    provider: str
    #: Figures only some providers know: the local engine's prompt tok/s, peak memory, cached
    #: prompt tokens, how many of the oldest messages were left out to fit the context, the
    #: context it held, and what kept it from growing ("memory" or "window").
    extra: dict[str, float | int | str] = field(default_factory=dict)
    #: Seconds from sending the request to the answer's first text, after any thinking.
    answer_ttft_s: float | None = None

    @property
    def dropped_messages(self) -> int:
        return int(self.extra.get("dropped_messages", 0))

    def context_note(self) -> tuple[str, str] | None:
        """When the oldest messages were left out of this reply: what happened and what to do
        (message, hint); None when the whole conversation was read."""
        dropped = self.dropped_messages
        if not dropped:
            return None
        held = int(self.extra.get("context_tokens", 0))
        left = (
            "Its oldest message was left out of this reply; it stays in the chat."
            if dropped == 1
            else f"Its {dropped} oldest messages were left out of this reply; they stay in the "
            "chat."
        )
        new_chat = "Start a new chat to give the model the whole conversation"
        if self.extra.get("context_limit") == "memory":
            return (
                f"This conversation no longer fits in memory: {self.model} can hold "
                f"{held:,} tokens of it on this machine. {left}",
                f"{new_chat}, or choose a smaller (4-bit) model.",
            )
        window = f"{self.model}'s {held:,}-token window" if held else "the model's window"
        return (
            f"This conversation is longer than {window}. {left}",
            f"{new_chat}, or choose a model with a longer window.",
        )

    def as_metadata(self) -> dict[str, object]:
        usage: dict[str, object] = {
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "total_tokens": self.usage.total_tokens,
            "estimated": self.usage.estimated,
        }
        meta: dict[str, object] = {
            "model": self.model,
            "provider": self.provider,
            "finish_reason": self.finish_reason,
            "usage": usage,
            "ttft_s": self.ttft_s,
            "tokens_per_s": self.tokens_per_s,
            "total_s": self.total_s,
            **self.extra,
        }
        # Only a reply that thought has these figures: a plain reply's stay as they were.
        if self.usage.reasoning_tokens is not None:
            usage["reasoning_tokens"] = self.usage.reasoning_tokens
            meta["answer_ttft_s"] = self.answer_ttft_s
        return meta


class ReplyClock:
    """Times one reply: time to first token, to the answer's first token after any thinking,
    and tokens per second after the first; counts the pieces of each."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first_token: float | None = None
        self.first_answer: float | None = None
        self.last_token: float | None = None
        self.chunks = 0
        self.reasoning_chunks = 0

    def tick(self, kind: str = "answer") -> None:
        """One piece arrived, of the ``kind`` ``"answer"``, ``"reasoning"``, ``"held"``
        (a marker's first characters, held until the next piece says what they are) or
        ``"tool"`` (a piece of a tool call)."""
        now = time.perf_counter()
        if self.first_token is None:
            self.first_token = now
        if kind == "reasoning":
            self.reasoning_chunks += 1
        elif kind == "answer" and self.first_answer is None:
            self.first_answer = now
        self.last_token = now
        self.chunks += 1

    def answer_was_thought(self) -> None:
        """A ``ReasoningDelta(was_answer=True)``: every piece so far was thinking."""
        self.reasoning_chunks, self.first_answer = self.chunks, None

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.started

    def finish(
        self,
        *,
        finish_reason: str | None,
        usage: Usage,
        model: str,
        provider: str,
        extra: dict[str, float | int] | None = None,
    ) -> Finished:
        end = time.perf_counter()
        tokens = usage.completion_tokens or 0
        tps = None
        if self.first_token is not None and tokens > 1:
            # The first token's time belongs to the prompt (prefill), so count the ones after it.
            span = (self.last_token or end) - self.first_token
            tps = (tokens - 1) / span if span > 0 else None
        if usage.reasoning_tokens is None and self.reasoning_chunks:
            usage = replace(usage, reasoning_tokens=self.reasoning_chunks)
        answer = None if self.first_answer is None else self.first_answer - self.started
        return Finished(
            finish_reason=finish_reason,
            usage=usage,
            ttft_s=self.ttft_s,
            tokens_per_s=tps,
            total_s=end - self.started,
            model=model,
            provider=provider,
            extra=extra or {},
            answer_ttft_s=answer,
        )


Event = TextDelta | ReasoningDelta | Retrying | ToolCallRequest | ToolResultEvent | Finished
