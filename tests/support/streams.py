"""A provider's events for one question, gathered, and a reply's thought and answer joined."""

from __future__ import annotations

import asyncio

from desktop_chat.params import GenerationParams
from desktop_chat.reasoning import ReplyParts

MESSAGES = [{"role": "user", "content": "hi"}]


def stream_events(provider, params=GenerationParams(), messages=MESSAGES, model: str = "m"):
    async def go():
        try:
            return [e async for e in provider.stream(messages, model, params)]
        finally:
            await provider.aclose()

    return asyncio.run(go())


def joined(events) -> tuple[str, str]:
    """(thought, answer) as the events give them."""
    parts = ReplyParts()
    for event in events:
        parts.add(event)
    return parts.reasoning, parts.text
