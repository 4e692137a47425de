"""The provider contract that the window, the terminal chat and the Python API all use.

``stream()`` is an async iterator of :class:`TextDelta` events and then exactly one
:class:`Finished`; a failure raises a :class:`~desktop_chat.errors.ProviderError` subclass whose
``partial_text`` keeps whatever had already arrived. Cancelling the task that iterates stops the
request: remote providers close the HTTP stream, the local engine stops within a token.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from desktop_chat.events import Event, Finished, Usage
from desktop_chat.params import GenerationParams


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    detail: str
    latency_s: float | None = None
    models: tuple[str, ...] = ()


@runtime_checkable
class Provider(Protocol):
    """Anything that can stream a reply to a list of ``{"role", "content"}`` messages."""

    name: str

    def stream(
        self, messages: Sequence[dict[str, str]], model: str, params: GenerationParams
    ) -> AsyncIterator[Event]: ...

    async def list_models(self) -> list[str]: ...

    async def health(self) -> Health: ...

    async def aclose(self) -> None: ...


class ReplyClock:
    """Times one reply: time to first token and tokens per second after it."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first_token: float | None = None
        self.last_token: float | None = None
        self.chunks = 0

    def tick(self) -> None:
        now = time.perf_counter()
        if self.first_token is None:
            self.first_token = now
        self.last_token = now
        self.chunks += 1

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
        return Finished(
            finish_reason=finish_reason,
            usage=usage,
            ttft_s=self.ttft_s,
            tokens_per_s=tps,
            total_s=end - self.started,
            model=model,
            provider=provider,
            extra=extra or {},
        )
