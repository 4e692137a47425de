"""One turn of a chat: the user's message in, the provider's events out, the reply kept.

The user's message joins the conversation before anything is sent, so a failure never loses
it; a reply that stops mid-way (error, Stop, Ctrl+C) is kept with ``interrupted`` set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from desktop_chat.conversation import Conversation
from desktop_chat.errors import ProviderError
from desktop_chat.events import Event, Finished, TextDelta
from desktop_chat.model_names import model_name
from desktop_chat.params import GenerationParams
from desktop_chat.providers.base import Provider


async def run_turn(
    provider: Provider,
    conversation: Conversation,
    prompt: str | None,
    model: str,
    params: GenerationParams,
    **meta: object,
) -> AsyncIterator[Event]:
    """``prompt=None`` answers the conversation's last user message again (regenerate,
    retry); ``meta`` is kept on the user's message (what the window showed, attached files)."""
    if prompt is not None:
        conversation.add_user(prompt, **meta)
    messages = conversation.to_api(system_prompt=params.system_prompt)
    parts: list[str] = []
    finished = False
    try:
        async with aclosing(provider.stream(messages, model, params)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                elif isinstance(event, Finished):
                    finished = True
                    # Kept (and shown) by the model's name, not the path a server knows it by.
                    conversation.add_assistant(
                        "".join(parts), **{**event.as_metadata(), "model": model_name(event.model)}
                    )
                yield event
    except ProviderError as err:
        partial = err.partial_text or "".join(parts)
        if partial:
            conversation.add_assistant(
                partial,
                model=model_name(model),
                provider=provider.name,
                interrupted=True,
                error=str(err),
            )
        raise
    finally:
        # Stopped by the user (task cancelled or iteration abandoned): keep what arrived.
        if not finished and parts and not _has_reply(conversation):
            conversation.add_assistant(
                "".join(parts), model=model_name(model), provider=provider.name, interrupted=True
            )


def _has_reply(conversation: Conversation) -> bool:
    return bool(conversation.messages) and conversation.messages[-1].role == "assistant"
