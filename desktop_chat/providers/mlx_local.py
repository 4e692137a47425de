"""The local MLX engine behind the same async contract as the remote providers.

The engine's thread calls back with events; they cross into the asyncio loop with
``call_soon_threadsafe``. Cancelling the consuming task sets the stop flag, which the engine
checks once per token and once per prefill step.

Tools (``stream(..., tools=[...])``) reach the chat template of a model that can call them
(``ModelInfo.tools``); another model is not offered them, and the tool calls and results of
earlier turns are folded into its history as text it can read (``tool_history``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from desktop_chat.engine import MlxEngine
from desktop_chat.errors import DesktopChatError, ProviderError
from desktop_chat.events import Event, Finished
from desktop_chat.params import GenerationParams
from desktop_chat.providers import image_parts, tool_history
from desktop_chat.providers.base import CONVERSATION, Health
from desktop_chat.reasoning import ReplyParts

_DONE = object()


class MlxLocalProvider:
    name = "mlx"
    #: It takes ``tools=``; only a model that can call them is offered them.
    takes_tools = True

    def __init__(
        self, engine: MlxEngine, model_dir: str | Path, context_tokens: int | None = None
    ) -> None:
        self.engine = engine
        self.model_dir = Path(model_dir)
        #: ``[app] local_context_tokens``: the context the model is loaded (and memory-checked)
        #: for; a longer conversation grows it on the engine's thread, checked again each time.
        self.context_tokens = context_tokens

    async def ensure_loaded(self) -> None:
        info = self.engine.info
        if info is None or info.path != str(self.model_dir):
            await asyncio.wrap_future(self.engine.load(self.model_dir, self.context_tokens))

    async def stream(
        self,
        messages: Sequence[dict[str, Any]],
        model: str,
        params: GenerationParams,
        *,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[Event]:
        await self.ensure_loaded()
        info = self.engine.info
        if info is not None and not info.tools:
            # A model that cannot call tools: none offered, and earlier turns' calls (made with
            # another model) read as text, which every template can render.
            tools, messages = None, tool_history.as_text(messages)
        if info is not None and not info.vision and not image_parts.newest_has_images(messages):
            # A text model after a turn with an image (the model was changed since): it reads a
            # note where each image was. Images in the message asked about are refused by the
            # engine, with a sentence, before it reads anything.
            messages = image_parts.without_images(messages)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def forward(item) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, item)
            except RuntimeError:  # the loop closed while the engine finished a token
                stop.set()

        future = self.engine.generate(
            messages, params, forward, stop, self.context_tokens, CONVERSATION.get(), tools
        )
        future.add_done_callback(lambda _f: forward(_DONE))
        reply = ReplyParts()  # the answer so far, without its thinking, kept on a failure
        finished = False
        try:
            while (item := await events.get()) is not _DONE:
                reply.add(item)
                finished = finished or isinstance(item, Finished)
                yield item
            error = future.exception()
            if isinstance(error, DesktopChatError):
                if isinstance(error, ProviderError) and reply.text:
                    error.partial_text = reply.text
                raise error
            if error is not None:
                raise ProviderError(
                    f"The local model failed: {type(error).__name__}: {error}",
                    "Retry; if it keeps failing, reload the model.",
                    partial_text=reply.text,
                ) from error
        finally:
            stop.set()  # Stop pressed, task cancelled, or consumer gone: the engine stops too

    async def list_models(self) -> list[str]:
        return [self.model_dir.name]

    async def health(self) -> Health:
        info = self.engine.info
        loaded = info is not None and info.path == str(self.model_dir)
        return Health(True, "loaded" if loaded else "not loaded yet", 0.0, (self.model_dir.name,))

    async def aclose(self) -> None:
        """The engine belongs to whoever made it; closing this provider leaves it running."""
