"""The Python API: ``LLMChat``, ``LLMConfig``, ``ChatManager``, ``ChatResponse``.

The async classes are the real thing; the sync ones run them on one background event loop
thread, so they also work inside Jupyter or another running loop.

    chat = LLMChat(base_url="http://127.0.0.1:8080/v1", model="tiny")
    print(chat.ask("What is the capital of France?"))
    for piece in chat.chat("And of Italy?", stream=True):
        print(piece, end="")

Images go with a question as paths, the bytes of an image file, or PIL images (one, or a
list): ``chat.ask("What is in this?", images=["shot.png"])``. Each is normalised first
(upright, metadata stripped, size capped); one that cannot be read raises ``ImageRefused``
with its name, and nothing is sent.

A reasoning model's thinking is never in the text: ``ChatResponse.reasoning`` holds it, and a
stream gives it only when asked (``include_reasoning=True``: the pieces are then the core's
``ReasoningDelta`` and ``TextDelta`` events, each with its ``text``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from desktop_chat.conversation import Conversation
from desktop_chat.errors import DesktopChatError
from desktop_chat.events import ReasoningDelta, TextDelta
from desktop_chat.params import REASONING, SAMPLING, GenerationParams
from desktop_chat.picture import Picture
from desktop_chat.providers.base import Health, Provider
from desktop_chat.session import ChatSession, Turn, opened_choice
from desktop_chat.tools import Toolbox

log = logging.getLogger(__name__)

#: The options ``LLMConfig`` and one call take: every ``GenerationParams`` field but the system
#: prompt, the sampling ones and a reasoning model's thinking switches (``LLMConfig`` spells
#: each out, with pywayne's defaults; a test checks that none is missing).
_PARAM_NAMES = SAMPLING + REASONING
#: A piece of a stream asked ``include_reasoning=True``.
Piece = ReasoningDelta | TextDelta
#: What ``images=`` takes: a path, the bytes of an image file, a PIL image or a ``Picture``;
#: or a list of them.
Images = Any


#: pywayne's documented defaults, so code written for it behaves the same here.
DEFAULT_MODEL = "deepseek-chat"
DEFAULT_SYSTEM_PROMPT = "你是一个严谨的助手"


@dataclass(slots=True)
class LLMConfig:
    """Everything needed to talk to one model. ``base_url=None`` resolves ``model`` through the
    user's settings (an alias or ``provider:model``, keys from the keychain).

    The defaults are pywayne's documented ones. ``max_tokens`` is 2048, the figure its
    ``LLMChat`` documents (its ``LLMConfig`` example shows 8192: pass that if you relied on it).
    """

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never in repr, str or logs
    model: str = DEFAULT_MODEL
    temperature: float | None = 0.7
    max_tokens: int | None = 2048
    top_p: float | None = 1.0
    top_k: int | None = None
    frequency_penalty: float | None = 0.0
    presence_penalty: float | None = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    #: Seconds to wait for the server before giving up on a request.
    request_timeout: float = 120.0
    provider_name: str = "openai"
    #: Send the key over plain http to another machine (a trusted LAN server, e.g. Ollama on
    #: another Mac). Off by default: the key would cross the network in the clear.
    allow_insecure_key: bool = False
    #: A reasoning model's switches (last: pywayne's positional order stays). ``think``: it
    #: thinks first (True) or answers at once (False), for models whose chat template has the
    #: switch; ``reasoning_effort``: how hard it thinks (``params.EFFORTS``: "low", "high"…).
    #: None leaves each to the model.
    think: bool | None = None
    reasoning_effort: str | None = None

    def params(self) -> GenerationParams:
        return GenerationParams(**{n: getattr(self, n) for n in _PARAM_NAMES})

    def to_dict(self, *, include_key: bool = True) -> dict[str, Any]:
        """Plain data that round-trips: ``LLMChat(**config.to_dict())`` talks to the same
        server with the same key (pywayne's documented pattern). ``include_key=False`` for a
        dump that goes somewhere else; ``repr`` never shows the key either way."""
        data = dataclasses.asdict(self)
        data["stop"] = list(self.stop)
        if not include_key:
            data["api_key"] = None
        return data


@dataclass(slots=True)
class ChatResponse:
    """A reply that never raises: ``success`` or an ``error`` sentence; figures in ``metadata``;
    a reasoning model's thinking in ``reasoning`` ("" when it did not think), never in
    ``content``."""

    content: str
    success: bool = True
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reasoning: str = ""

    @property
    def is_error(self) -> bool:
        return not self.success

    def __str__(self) -> str:
        return self.content if self.success else f"Error: {self.error}"


def _config_from(config: LLMConfig | None, kwargs: dict[str, Any]) -> LLMConfig:
    base = config or LLMConfig()
    unknown = set(kwargs) - {f.name for f in dataclasses.fields(LLMConfig)}
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    if "stop" in kwargs and isinstance(kwargs["stop"], str):
        kwargs["stop"] = (kwargs["stop"],)
    elif isinstance(kwargs.get("stop"), list):  # as to_dict() writes it
        kwargs["stop"] = tuple(kwargs["stop"])
    cfg = dataclasses.replace(base, **kwargs)
    cfg.params()  # validate ranges now, with a clear ValueError, not at the first request
    return cfg


class AsyncLLMChat:
    """One conversation with one model, async."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        *,
        config: LLMConfig | None = None,
        provider: Provider | None = None,
        stream: bool = True,
        session: ChatSession | None = None,
        tools: Iterable[Any] | None = None,
        mcp_servers: Iterable[Any] | None = None,
        approve: Any = None,
        **options: Any,
    ) -> None:
        """``session``: one with a store, to keep the conversation in (the window and
        ``llmchat`` see it); ``ChatManager(store=True)`` passes one per chat id.

        ``tools``: Python functions (their schema from signature and docstring) or ``Tool``s
        the model may call; ``mcp_servers``: names of ``[mcp.servers.NAME]`` in config.toml,
        or dicts of the same keys with a ``name``; ``approve(tool, arguments)``, sync or async,
        answers each call with an ``Approval`` (or True/False). Without it the caller's own
        functions run and MCP servers are refused (``ToolError``, here)."""
        from desktop_chat.api_tools import ChatTools

        self.tools = ChatTools(tools, mcp_servers, approve)
        given = {
            k: v
            for k, v in (("base_url", base_url), ("api_key", api_key), ("model", model))
            if v is not None
        }
        self.config = _config_from(config, {**given, **options})
        self.stream = stream
        self._provider = provider
        self._given = provider  # the caller's own: kept whatever the config becomes
        self._model = self.config.model
        self._params: GenerationParams | None = None
        self._choice: Any = None
        #: ``image_max_side`` from the user's settings for this model (its provider's, else
        #: ``[app]``'s), when the model was found through them; None: by its host.
        self._image_side: int | None = None
        self._owned: Any = None
        #: (provider, engine) that served an earlier config, closed once no request uses them.
        self._retired: list[tuple[Any, Any]] = []
        #: Requests under way; a chat dropped meanwhile is closed when the last one ends.
        self._busy = 0
        self._close_when_idle = False
        self._closing: set[asyncio.Task] = set()
        #: The loop this chat's requests run on, when a sync ``LLMChat`` owns it.
        self.home_loop: asyncio.AbstractEventLoop | None = None
        #: The conversation that ``chat`` continues; ``ask`` asks in one of its own.
        self.session = plain_session(session, self.config.system_prompt)
        self.last_activity = time.monotonic()

    # --- history -------------------------------------------------------------------------

    @property
    def history(self) -> list[dict[str, str]]:
        return self.conversation.history()

    @property
    def conversation(self) -> Conversation:
        return self.session.conversation

    @property
    def system_prompt(self) -> str:
        return self.conversation.system_prompt

    def clear_history(self) -> None:
        """A new conversation, with the same system prompt (a stored one stays saved)."""
        self.session.new()
        self.conversation.system_prompt = self.config.system_prompt

    def update_system_prompt(self, prompt: str) -> None:
        self.conversation.system_prompt = prompt
        self.config.system_prompt = prompt
        if self._params is not None:  # the parameters made for the first turn carry it too
            self._params = self._params.replace(system_prompt=prompt or None)

    # --- the provider ----------------------------------------------------------------------

    def _ensure_provider(self) -> tuple[Provider, str, GenerationParams]:
        if self._provider is None or self._params is None:
            provider, model, params, owned, side = _build_provider(self.config, self._provider)
            self._provider, self._model, self._params = provider, model, params
            self._image_side = side
            self._choice = opened_choice(provider, model, model)
            if owned is not None:  # rebuilt params over a kept provider keep its engine too
                self._owned = owned
        return self._provider, self._model, self._params

    def reconfigure(self, config: LLMConfig) -> None:
        """New settings, same conversation (``ChatManager.get_chat(id, config=…)``). When the
        model's server, key or local model changes, what served the old one is closed before
        the next request."""
        new = _config_from(config, {})
        if new == self.config:
            return
        if self._given is None and _served_by(new) != _served_by(self.config):
            self._retired.append((self._provider, self._owned))
            self._provider = self._owned = None
            self.soon(self._settle())  # closed now, unless a request still uses it
        self.config = new
        self._params = None
        if new.system_prompt != self.conversation.system_prompt:
            self.update_system_prompt(new.system_prompt)

    @property
    def busy(self) -> bool:
        """A request is under way: the chat is not idle, whatever ``last_activity`` says."""
        return self._busy > 0

    async def release(self) -> None:
        """Close now, or as soon as the requests under way end (``ChatManager`` dropping it:
        a reply streaming in another task is not cut)."""
        self._close_when_idle = True
        await self._settle()

    def soon(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task | None:
        """Run closing work from sync code: on the chat's own loop (the sync face's thread),
        as a task of the running loop (returned), or, with neither, to the end at once."""
        if self.home_loop is not None:
            asyncio.run_coroutine_threadsafe(coro, self.home_loop).result()
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            task = loop.create_task(coro)
            self._closing.add(task)  # a strong reference until it is done
            task.add_done_callback(self._closing.discard)
            return task
        try:
            asyncio.run(coro)
        except Exception:  # a client made on a loop now gone: nothing more can be done
            log.debug("closing a chat's connection failed", exc_info=True)
        return None

    async def _settle(self) -> None:
        if self._busy:
            return
        if self._close_when_idle:
            self._close_when_idle = False
            await self.aclose()
        else:
            await self._close_retired()

    async def _close_retired(self) -> None:
        while self._retired:
            provider, owned = self._retired.pop()
            if provider is not None:
                await provider.aclose()
            if owned is not None:
                await asyncio.to_thread(owned.close)

    async def aclose(self) -> None:
        await self._close_retired()
        await self.tools.aclose()  # the MCP servers it started
        if self._provider is not None:
            await self._provider.aclose()
        if self._owned is not None:  # a local engine: unload and end its thread
            await asyncio.to_thread(self._owned.close)
            self._owned = None
            self._provider = self._params = None  # its engine is gone: a new one if used again

    # --- asking ----------------------------------------------------------------------------

    def ask(
        self,
        prompt: str,
        stream: bool = False,
        *,
        include_reasoning: bool = False,
        images: Images = None,
    ) -> Awaitable[str] | AsyncIterator[str] | AsyncIterator[Piece]:
        """One turn, no history: `await ask(p)`, or `async for t in ask(p, stream=True)`.
        ``include_reasoning``: the stream gives the thinking too, as ``Piece`` events.
        ``images``: sent with the prompt (see ``Images``)."""
        session = self._session(history=False)
        return self._reply(prompt, session, stream, include_reasoning, images)

    def chat(
        self,
        prompt: str,
        stream: bool | None = None,
        *,
        include_reasoning: bool = False,
        images: Images = None,
    ) -> Awaitable[str] | AsyncIterator[str] | AsyncIterator[Piece]:
        """A turn that joins the history (its answer; the thinking is never sent back), with
        its ``images`` (sent again with the history in later turns)."""
        stream = self.stream if stream is None else stream
        session = self._session(history=True)
        return self._reply(prompt, session, stream, include_reasoning, images)

    def _session(self, history: bool) -> ChatSession:
        """The chat's own session, or (no history) one in memory for this turn alone, asked
        with the same model and parameters."""
        if history:
            return self.session
        return plain_session(system_prompt=self.system_prompt)

    def _reply(
        self,
        prompt: str,
        session: ChatSession,
        stream: bool,
        reasoning: bool = False,
        images: Images = None,
    ):
        if reasoning and not stream:
            raise ValueError(
                "include_reasoning=True streams the thinking apart from the answer: use it "
                "with stream=True, or read the thinking from ask_response(...).reasoning."
            )
        if stream:
            return self._pieces(prompt, session, reasoning=reasoning, images=images)
        return self._text(prompt, session, images)

    async def _text(self, prompt: str, session: ChatSession, images: Images = None) -> str:
        async with aclosing(self._pieces(prompt, session, whole=True, images=images)) as reply:
            async for text in reply:
                return text
        return ""

    async def _pieces(
        self,
        prompt: str,
        session: ChatSession,
        whole: bool = False,
        reasoning: bool = False,
        images: Images = None,
    ) -> AsyncIterator[Any]:
        """The answer's pieces as they arrive; ``whole``: its text once, when it is done;
        ``reasoning``: the thinking's and the answer's events (``Piece``) instead."""
        self.last_activity = time.monotonic()
        prompt = _check_prompt(prompt)
        await self._close_retired()  # first: a model replaced is closed before one opens
        # A bad one raises here: nothing is sent.
        pictures = await pictures_from(images, self._image_cap(session))
        await self._arm(session)
        provider = self._ready(session)
        self._busy += 1
        try:
            turn = session.send(prompt, images=pictures)
            # aclosing: when the caller stops early, the turn's cleanup (keeping the partial
            # reply, closing the HTTP stream) runs now, not whenever the loop finalizes it.
            async with aclosing(turn.events(provider)) as events:
                async for event in events:
                    if whole:
                        continue
                    if isinstance(event, TextDelta):
                        yield event if reasoning else event.text
                    elif reasoning and isinstance(event, ReasoningDelta):
                        yield event
            if problem := self._not_saved(session):  # the reply stands; the caller is told
                from desktop_chat.store_files import StoreWarning

                warnings.warn(problem, StoreWarning, stacklevel=2)
            if whole:
                yield turn.text
        finally:
            self._busy -= 1
            self.last_activity = time.monotonic()
            await self._settle()

    async def _arm(self, session: ChatSession) -> None:
        """``session`` offering this chat's tools (its MCP servers started the first time)."""
        if self.tools:
            session.tools = await self.tools.toolbox()
            session.approve = self.tools.approve

    def _image_cap(self, session: ChatSession) -> int:
        """The longest side of an image for this chat's model; its turns scale to it too."""
        self._ensure_provider()
        session.set_model(self._choice)
        session.image_side = self._image_side
        return session.image_max_side()

    def _ready(self, session: ChatSession) -> Provider:
        """The provider, and ``session`` asking its model with this chat's parameters."""
        provider, _, params = self._ensure_provider()
        session.set_model(self._choice)
        session.image_side = self._image_side
        session.flags = params
        return provider

    async def ask_response(
        self,
        prompt: str,
        *,
        history: bool = False,
        system_prompt: str | None = None,
        images: Images = None,
        **options: Any,
    ) -> ChatResponse:
        """Like ``ask`` (or ``chat`` with ``history=True``) but returns a ``ChatResponse``.
        ``system_prompt`` and sampling options (``temperature=``, ``max_tokens=``…) apply to
        this call only. An image that cannot be read is a failed response that names it
        (``error_type`` "ImageRefused"), and nothing is sent."""
        session = self._session(history)
        await self._close_retired()
        try:
            prompt = _check_prompt(prompt)
            pictures = await pictures_from(images, self._image_cap(session))
            await self._arm(session)
            provider = self._ready(session)
            call = call_params(GenerationParams(), system_prompt, options)
        except DesktopChatError as err:
            return ChatResponse("", False, str(err), {"error_type": type(err).__name__})
        except ValueError as err:
            return ChatResponse("", False, str(err), {"error_type": "ValueError"})
        self._busy += 1
        try:
            turn = session.send(prompt, call=call, images=pictures)
            return self._saving_said(await response_from(turn, provider), session)
        finally:
            self._busy -= 1
            self.last_activity = time.monotonic()
            await self._settle()

    def _not_saved(self, session: ChatSession) -> str:
        """Why the stored conversation is not all saved ("" when it is, or is not stored)."""
        if session is not self.session:
            return ""
        return str(session.chat.problem or "")

    def _saving_said(self, response: ChatResponse, session: ChatSession) -> ChatResponse:
        """The reply (or its error) stands; that it was not saved is said beside it."""
        if problem := self._not_saved(session):
            response.metadata["not_saved"] = problem
        return response

    async def chat_response(self, prompt: str, *, images: Images = None) -> ChatResponse:
        return await self.ask_response(prompt, history=True, images=images)

    async def batch(self, prompts: Iterable[str], concurrency: int = 4) -> list[ChatResponse]:
        """Independent one-turn prompts, ``concurrency`` at a time; answers in prompt order."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        gate = asyncio.Semaphore(concurrency)

        async def one(prompt: str) -> ChatResponse:
            async with gate:
                return await self.ask_response(prompt)

        return list(await asyncio.gather(*(one(p) for p in prompts)))

    async def toolbox(self) -> Toolbox:
        """The tools offered to the model (starting the MCP servers the first time)."""
        return await self.tools.toolbox()

    async def health(self) -> Health:
        await self._close_retired()
        try:
            provider, _, _ = self._ensure_provider()
        except DesktopChatError as err:
            return Health(False, str(err))
        return await provider.health()


def call_params(
    base: GenerationParams, system_prompt: str | None, options: dict[str, Any]
) -> GenerationParams:
    """One call's system prompt and sampling options over the chat's own; a ``ValueError``
    names an unknown option or a value out of range."""
    unknown = sorted(set(options) - set(_PARAM_NAMES))
    if unknown:
        raise ValueError(
            f"Unknown option(s): {', '.join(unknown)}. "
            f"Known options: system_prompt, {', '.join(_PARAM_NAMES)}."
        )
    return GenerationParams(**options, system_prompt=system_prompt).over(base)


async def response_from(turn: Turn, provider: Provider) -> ChatResponse:
    """The turn run to its end as a ``ChatResponse``; a failure is one too, never raised,
    with whatever text had arrived as its content."""
    try:
        async with aclosing(turn.events(provider)) as events:
            async for _ in events:
                pass
    except DesktopChatError as err:
        partial = turn.reply.content if turn.reply is not None else ""
        meta = {"model": turn.choice.model, "error_type": type(err).__name__}
        return ChatResponse(partial, False, str(err), meta, turn.reasoning)
    except ValueError as err:  # a value the provider refused before sending
        return ChatResponse(turn.text, False, str(err), {"error_type": "ValueError"})
    if turn.finished is None:
        unfinished = "The reply ended without finishing."
        return ChatResponse(turn.text, False, unfinished, {}, turn.reasoning)
    return ChatResponse(turn.text, True, None, turn.finished.as_metadata(), turn.reasoning)


async def pictures_from(images: Images, max_side: int | None = None) -> list[Picture]:
    """``images`` normalised (off the loop's thread: Pillow takes a while on a photo), in
    order, their longest side at most ``max_side`` (None: ``images.DEFAULT_MAX_SIDE``);
    ``ImageRefused`` names the first that cannot be sent."""
    if images is None:
        return []
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    return await asyncio.to_thread(_normalised, items, max_side) if items else []


def _normalised(items: list[Any], max_side: int | None = None) -> list[Picture]:
    from desktop_chat.context import ContextError
    from desktop_chat.images import DEFAULT_MAX_SIDE, ImageRefused, normalise

    side = max_side or DEFAULT_MAX_SIDE
    pictures = []
    for number, item in enumerate(items, 1):
        if isinstance(item, Picture):  # normalised already
            pictures.append(item)
            continue
        # A file by its name; bytes and PIL images by their place in the list.
        name = None if isinstance(item, (str, os.PathLike)) else f"Image {number}"
        try:
            pictures.append(normalise(item, name=name, max_side=side))
        except ContextError as err:  # a missing file, a folder: still an image refused
            raise ImageRefused(err.message, err.hint) from err
    return pictures


def _check_prompt(prompt: str) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("The prompt is empty; type something to ask.")
    return prompt


def plain_session(session: ChatSession | None = None, system_prompt: str = "") -> ChatSession:
    """``session`` (or a new one, in memory) asking with its client's parameters alone: they
    are layered over the model's already (``_build_provider``), not over the app's defaults."""
    session = session or ChatSession()
    session.base = GenerationParams()
    session.conversation.system_prompt = system_prompt
    return session


def _served_by(config: LLMConfig) -> tuple:
    """What decides the provider (and, without a URL, the local model) a config talks to."""
    return (
        config.base_url,
        config.api_key,
        config.provider_name,
        config.request_timeout,
        config.allow_insecure_key,
        None if config.base_url else config.model,
    )


def _build_provider(
    config: LLMConfig, given: Provider | None
) -> tuple[Provider, str, GenerationParams, Any, int | None]:
    """(provider, model, params, what to close with the chat: a local engine, or None, the
    user's ``image_max_side`` for it or None)."""
    params = config.params().replace(system_prompt=config.system_prompt or None)
    if given is not None:
        return given, config.model, params, None, None
    from desktop_chat.providers.openai_compat import OpenAICompatProvider

    if config.base_url:
        if not config.model:
            raise ValueError("Say which model to use: LLMChat(..., model='name').")
        provider = OpenAICompatProvider(
            config.base_url,
            config.api_key,
            name=config.provider_name,
            timeout_s=config.request_timeout,
            allow_insecure_key=config.allow_insecure_key,
        )
        return provider, config.model, params, None, None
    # No URL: a model as llmchat names it (an alias, provider:model, a folder, a Hugging Face
    # id), found through the user's settings as every client finds it (models.resolve).
    from desktop_chat.config import load_settings
    from desktop_chat.models import open_model
    from desktop_chat.paths import app_paths

    settings = load_settings(app_paths(), write_default=False).settings
    spec = config.model or settings.default_model or ""
    if not spec:
        raise ValueError("Give a base_url and model, or set default_model in config.toml.")
    opened = open_model(
        spec,
        settings,
        api_key=config.api_key,
        timeout_s=config.request_timeout,
        allow_insecure_key=config.allow_insecure_key,
    )
    params = params.over(opened.params).over(settings.defaults)
    own = getattr(opened.choice.provider, "image_max_side", None) or settings.image_max_side
    # A local model's engine is the chat's own: closed with it.
    owned = opened if opened.engine is not None else None
    return opened.provider, opened.model, params, owned, own


# --- sync face ---------------------------------------------------------------------------


class _LoopThread:
    """One event loop on a daemon thread, shared by every sync chat in the process."""

    _lock = threading.Lock()
    _instance: _LoopThread | None = None

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(ready,), name="desktop-chat-api", daemon=True
        )
        self.thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    @classmethod
    def get(cls) -> _LoopThread:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def run(self, coro):
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl+C in the caller stops the request too
            raise

    def iterate(self, agen: AsyncIterator[Any]) -> Iterator[Any]:
        try:
            while True:
                try:
                    yield self.run(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self.run(agen.aclose())


class LLMChat:
    """One conversation with one model; blocking calls, streaming as plain iterators."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._async = AsyncLLMChat(*args, **kwargs)
        self._loop = _LoopThread.get()
        self._async.home_loop = self._loop.loop

    @property
    def config(self) -> LLMConfig:
        return self._async.config

    @property
    def history(self) -> list[dict[str, str]]:
        return self._async.history

    @property
    def system_prompt(self) -> str:
        return self._async.system_prompt

    @property
    def last_activity(self) -> float:
        return self._async.last_activity

    @property
    def busy(self) -> bool:
        return self._async.busy

    def reconfigure(self, config: LLMConfig) -> None:
        self._async.reconfigure(config)

    def clear_history(self) -> None:
        self._async.clear_history()

    def update_system_prompt(self, prompt: str) -> None:
        self._async.update_system_prompt(prompt)

    def ask(
        self,
        prompt: str,
        stream: bool = False,
        *,
        include_reasoning: bool = False,
        images: Images = None,
    ) -> str | Iterator[str] | Iterator[Piece]:
        """``include_reasoning``: the stream gives the thinking too, as ``Piece`` events.
        ``images``: paths, bytes or PIL images sent with the prompt."""
        reply = self._async.ask(prompt, stream, include_reasoning=include_reasoning, images=images)
        return self._sync(reply, stream)

    def chat(
        self,
        prompt: str,
        stream: bool | None = None,
        *,
        include_reasoning: bool = False,
        images: Images = None,
    ) -> str | Iterator[str] | Iterator[Piece]:
        stream = self._async.stream if stream is None else stream
        reply = self._async.chat(prompt, stream, include_reasoning=include_reasoning, images=images)
        return self._sync(reply, stream)

    def _sync(self, result, stream: bool):
        return self._loop.iterate(result) if stream else self._loop.run(result)

    def ask_response(
        self,
        prompt: str,
        *,
        history: bool = False,
        system_prompt: str | None = None,
        images: Images = None,
        **options: Any,
    ) -> ChatResponse:
        """``system_prompt`` and sampling options (``temperature=``…) apply to this call only."""
        return self._loop.run(
            self._async.ask_response(
                prompt, history=history, system_prompt=system_prompt, images=images, **options
            )
        )

    def chat_response(self, prompt: str, *, images: Images = None) -> ChatResponse:
        return self._loop.run(self._async.chat_response(prompt, images=images))

    def batch(self, prompts: Iterable[str], concurrency: int = 4) -> list[ChatResponse]:
        return self._loop.run(self._async.batch(list(prompts), concurrency))

    def health(self) -> Health:
        return self._loop.run(self._async.health())

    def toolbox(self) -> Toolbox:
        """The tools offered to the model (starting the MCP servers the first time)."""
        return self._loop.run(self._async.toolbox())

    def close(self) -> None:
        self._loop.run(self._async.aclose())

    def release(self) -> None:
        """Close now, or once the requests under way end."""
        self._loop.run(self._async.release())


class _Manager:
    """Chats by id, made on first use from a shared config, forgotten after ``timeout`` idle
    seconds (never, by default, as in pywayne). With ``store=True`` (or a database path) each
    chat id is a conversation kept in the app's store: it survives restarts, and the window
    and ``llmchat`` list it."""

    chat_class: type

    def __init__(
        self, *args: Any, timeout: float | None = math.inf, store: Any = None, **kwargs: Any
    ) -> None:
        self.default_config = _config_from(
            kwargs.pop("config", None),
            dict(zip(("base_url", "api_key", "model"), args, strict=False), **kwargs),
        )
        self.timeout = timeout
        self._chats: dict[str, Any] = {}
        self.store = _open_store(store)
        self._notes_told = 0 if self.store is None else len(self.store.notes)

    def get_chat(self, chat_id: str, stream: bool = True, config: LLMConfig | None = None):
        self._expire()
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self.chat_class(
                config=config or self.default_config, stream=stream, session=self._stored(chat_id)
            )
            self._chats[chat_id] = chat
        elif config is not None:  # get-or-create, as pywayne: the history stays
            chat.reconfigure(config)
        return chat

    def _stored(self, chat_id: str):
        if self.store is None:
            return None
        from desktop_chat.store_files import StoreError, StoreWarning

        stored = ChatSession(self.store, external_id=f"api:{chat_id}")
        try:
            try:
                self._reopen(stored, chat_id)
            except StoreError as err:
                if err.kind != "damaged":
                    raise
                self.store.checked()  # the store copies what can still be read meanwhile
                self._reopen(stored, chat_id)
        except StoreError as err:  # never raised: the chat goes on, in a conversation of its own
            stored = ChatSession(self.store)
            warnings.warn(
                f"The stored history of chat {chat_id!r} could not be read: "
                f"{err.why}. {err.fix}. The chat starts afresh, and is saved as a "
                "conversation of its own.",
                StoreWarning,
                stacklevel=3,
            )
        told, self._notes_told = self._notes_told, len(self.store.notes)
        for note in self.store.notes[told:]:  # a damaged file repaired meanwhile
            warnings.warn(note, StoreWarning, stacklevel=3)
        return stored

    def _reopen(self, stored, chat_id: str) -> None:
        found = self.store.find_external(f"api:{chat_id}")
        if found is not None:
            stored.open(found)

    def remove_chat(self, chat_id: str) -> bool:
        """Forget a chat here and close it (a stored one stays in the store)."""
        chat = self._chats.pop(chat_id, None)
        if chat is not None:
            self._drop(chat)
        return chat is not None

    def _drop(self, chat) -> None:
        """Close what served a chat no longer held here — its HTTP client, or its local model
        and the engine's thread — now, or once the request under way ends."""
        chat.release()

    def close(self) -> None:
        """Close every chat and the store."""
        chats, self._chats = list(self._chats.values()), {}
        for chat in chats:
            self._drop(chat)
        self.close_store()

    def close_store(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    @property
    def chat_ids(self) -> list[str]:
        self._expire()
        return list(self._chats)

    def _expire(self) -> None:
        if self.timeout is None:
            return
        now = time.monotonic()
        idle = [
            i for i, c in self._chats.items() if not c.busy and now - c.last_activity > self.timeout
        ]
        for chat_id in idle:
            self._drop(self._chats.pop(chat_id))


def _open_store(store: Any):
    if store is None or store is False:
        return None
    from desktop_chat.store import Store

    if isinstance(store, Store):
        return store
    if store is True:
        from desktop_chat.paths import app_paths

        store = app_paths().database
    return Store.open(store)


class ChatManager(_Manager):
    chat_class = LLMChat


class AsyncChatManager(_Manager):
    chat_class = AsyncLLMChat

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._closing: set[asyncio.Task] = set()

    def _drop(self, chat: AsyncLLMChat) -> None:
        task = chat.soon(chat.release())
        if task is not None:
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every chat (waiting for it) and the store."""
        chats, self._chats = list(self._chats.values()), {}
        await asyncio.gather(*(chat.release() for chat in chats), *list(self._closing))
        self.close_store()
