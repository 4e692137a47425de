"""The provider contract that the window, the terminal chat and the Python API all use.

``stream()`` is an async iterator of :class:`TextDelta` events and then exactly one
:class:`Finished`; a failure raises a :class:`~desktop_chat.errors.ProviderError` subclass whose
``partial_text`` keeps whatever had already arrived. Cancelling the task that iterates stops the
request: remote providers close the HTTP stream, the local engine stops within a token.

A provider whose ``takes_tools`` is True also takes ``tools=`` (the OpenAI ``tools`` list):
a reply that asks for them ends with one ``ToolCallRequest`` before its ``Finished``. The
session offers tools to no other provider, so one without them needs nothing new.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from desktop_chat.events import Event
from desktop_chat.params import GenerationParams

#: The conversation a reply is asked for (its store id as text), set by the session around a
#: turn's ``stream()``: the local engine keeps each conversation's prompt cache by it. A
#: context variable, not an argument: no remote provider has a use for it.
CONVERSATION: ContextVar[str | None] = ContextVar("conversation", default=None)


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
