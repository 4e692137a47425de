"""The async Chat module's clients: ``ChatClient`` to extend, ``OpenAIClient`` for any
OpenAI-compatible server and ``AIMLClient`` for AI/ML API (https://api.aimlapi.com/v1).

They are built on the app's own provider and turn (``OpenAICompatProvider``, ``ChatSession``),
so they share its retries, error sentences and key safety; no second HTTP client lives here.

    client = AIMLClient(api_key="…")
    response = await client.chat("What is Python?", system_prompt="Be brief.", temperature=0.2)
    print(response.content if response.success else response.error)
    async for piece in client.stream_chat("Tell me a story", temperature=0.8):
        print(piece, end="")

Every method returns a ``ChatResponse`` and never raises; ``stream_chat`` ends a failed reply
with one ``"Error: …"`` piece, and ``client.last_response`` holds the ``ChatResponse`` of the
latest call (for a stream: its usage figures, or its error).
"""

from __future__ import annotations

import asyncio
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from contextlib import aclosing
from typing import Any, ClassVar
from urllib.parse import urlsplit

from desktop_chat.api import ChatResponse, call_params, plain_session, response_from
from desktop_chat.errors import AuthenticationFailed, DesktopChatError
from desktop_chat.events import Finished, TextDelta
from desktop_chat.params import GenerationParams
from desktop_chat.session import Turn, opened_choice

log = logging.getLogger(__name__)

#: ``analysis_type`` -> the instruction sent as the system prompt, the text as the message.
ANALYSES: Mapping[str, str] = {
    "sentiment": "Classify the sentiment of the text as positive, negative, neutral or mixed, "
    "then give the reason in one sentence.",
    "summary": "Summarise the text in a few sentences, keeping its key facts.",
    "keywords": "List the most important keywords and key phrases of the text, "
    "comma-separated, most important first.",
    "entities": "List the named entities in the text (people, organisations, places, dates), "
    "one per line with its kind.",
    "topics": "List the main topics the text covers, one per line.",
    "language": "Name the language the text is written in.",
}


class HealthResponse(ChatResponse):
    """A ``ChatResponse`` that is also truthy when healthy: code written for the Chat module's
    ``if await client.health_check():`` keeps working."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return self.success


class ChatClient(ABC):
    """The contract to extend: implement ``chat`` and ``stream_chat``; ``analyze_text``,
    ``generate_text``, ``batch_process`` and ``health_check`` are built on ``chat``.
    Implementations return a ``ChatResponse`` for every failure instead of raising."""

    #: Analysis types ``analyze_text`` knows; a subclass may add its own.
    analyses: ClassVar[Mapping[str, str]] = ANALYSES
    #: How many ``batch_process`` prompts are in flight at once.
    batch_concurrency: int = 4

    def __init__(
        self, api_key: str | None = None, base_url: str | None = None, *, api_url: str | None = None
    ) -> None:
        """``api_url`` is the Chat module's old name for ``base_url``."""
        self._api_key = api_key or None
        self.base_url = (base_url or api_url or "").rstrip("/") or None
        self.model: str | None = None
        #: The ``ChatResponse`` of the latest call (a stream's figures or error included).
        self.last_response: ChatResponse | None = None

    @property
    def api_key(self) -> str | None:
        """For subclasses that send it themselves; never shown by ``repr``."""
        return self._api_key

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r})"

    @abstractmethod
    async def chat(
        self, prompt: str, system_prompt: str | None = None, **params: Any
    ) -> ChatResponse:
        """One reply to ``prompt``; ``params`` are sampling options (``temperature=``…)."""

    @abstractmethod
    def stream_chat(
        self, prompt: str, system_prompt: str | None = None, **params: Any
    ) -> AsyncIterator[str]:
        """The reply's text, piece by piece (an ``async def`` with ``yield``)."""

    async def analyze_text(
        self,
        text: str,
        analysis_type: str = "sentiment",
        options: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> ChatResponse:
        """The model's analysis of ``text``: one of ``analyses`` (sentiment, summary, keywords…)."""
        instruction = self.analyses.get(analysis_type)
        if instruction is None:
            known = ", ".join(self.analyses)
            error = f"Unknown analysis type {analysis_type!r}; use one of: {known}."
            return ChatResponse("", False, error, {"analysis_type": analysis_type})
        response = await _guarded(
            self.chat(text, system_prompt=instruction, **{**(options or {}), **params})
        )
        response.metadata["analysis_type"] = analysis_type
        return response

    async def generate_text(
        self, prompt: str, options: Mapping[str, Any] | None = None, **params: Any
    ) -> ChatResponse:
        """``chat`` with its options in a dict, as the Chat module's ``generate_text`` took them."""
        return await _guarded(self.chat(prompt, **{**(options or {}), **params}))

    async def batch_process(
        self,
        prompts: Iterable[str],
        system_prompt: str | None = None,
        *,
        concurrency: int | None = None,
        **params: Any,
    ) -> list[ChatResponse]:
        """One ``chat`` per prompt, ``concurrency`` at a time; the answers in prompt order."""
        gate = asyncio.Semaphore(max(1, concurrency or self.batch_concurrency))

        async def one(prompt: str) -> ChatResponse:
            async with gate:
                return await _guarded(self.chat(prompt, system_prompt=system_prompt, **params))

        return list(await asyncio.gather(*(one(p) for p in prompts)))

    async def health_check(self) -> ChatResponse:
        """Whether a one-token chat gets an answer; servers with a cheaper check override it."""
        r = await _guarded(self.chat("ping", max_tokens=1))
        return HealthResponse("ok" if r.success else "", r.success, r.error, dict(r.metadata))

    async def aclose(self) -> None:  # noqa: B027 - optional: not every client holds anything
        """Closes the connections; the client opens new ones if used again."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _guarded(call: Awaitable[ChatResponse]) -> ChatResponse:
    """A subclass's ``chat`` that raises still gives the batch or analysis a ``ChatResponse``."""
    try:
        return await call
    except Exception as exc:
        log.info("a chat call failed: %s", type(exc).__name__, exc_info=True)
        return ChatResponse(
            "",
            False,
            f"The request failed ({type(exc).__name__}: {exc}).",
            {"error_type": type(exc).__name__},
        )


class OpenAIClient(ChatClient):
    """Any OpenAI-compatible server: OpenAI, Ollama, LM Studio, vLLM, llama.cpp,
    mlx_lm.server… ``model=None`` takes the first model the server lists.

    Options given here (``system_prompt=``, ``temperature=``, ``max_tokens=``…) are the
    defaults of every call; a call's own options win. A key is sent over plain http only to
    this machine unless ``allow_insecure_key=True``."""

    #: The name in error sentences when ``base_url`` is the default one; its key variable.
    provider_name = "openai"
    default_base_url = "https://api.openai.com/v1"
    default_model: str | None = None
    #: Refuse to send a request without a key (local servers need none).
    requires_key = False

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        *,
        api_url: str | None = None,
        system_prompt: str | None = None,
        timeout: float = 120.0,
        allow_insecure_key: bool = False,
        **params: Any,
    ) -> None:
        base_url = base_url or api_url or self.default_base_url
        super().__init__(api_key or self._key_from_environment(base_url), base_url)
        self.model = model or self.default_model
        #: The server's name in error sentences and metadata.
        self.name = (
            self.provider_name
            if self._own_url(self.base_url)
            else urlsplit(self.base_url).netloc or self.base_url
        )
        # Checked now, so a wrong option or an insecure URL fails at construction.
        self.defaults: GenerationParams = call_params(GenerationParams(), system_prompt, params)
        self._options = {
            "name": self.name,
            "timeout_s": timeout,
            "allow_insecure_key": allow_insecure_key,
        }
        self._provider = self._new_provider()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def key_variable(self) -> str:
        """The environment variable read when no key is given and ``base_url`` is the default."""
        from desktop_chat.keys import env_var_for

        return env_var_for(self.provider_name)

    def _own_url(self, base_url: str | None) -> bool:
        return (base_url or "").rstrip("/") == self.default_base_url.rstrip("/")

    def _key_from_environment(self, base_url: str) -> str | None:
        # Only for the provider's own URL: a key for it must never reach another server.
        if not self._own_url(base_url):
            return None
        return os.environ.get(self.key_variable, "").strip() or None

    def _new_provider(self):
        from desktop_chat.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(self.base_url, self._api_key, **self._options)

    def _ready_provider(self):
        """The provider, made again under a new event loop: its HTTP connections belong to the
        loop that opened them, and a script may call ``asyncio.run`` more than once."""
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            self._provider = self._new_provider()
        self._loop = loop
        return self._provider

    async def aclose(self) -> None:
        if self._loop is asyncio.get_running_loop():
            await self._provider.aclose()

    # --- one call ------------------------------------------------------------------------

    async def _prepare(self, prompt: str, system_prompt: str | None, params: dict[str, Any]):
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("The prompt is empty; give some text to send.")
        if self.requires_key and not self._api_key:
            raise AuthenticationFailed(f"{self.name} needs an API key and none was given.")
        params = dict(params)
        model = params.pop("model", None) or self.model
        call = call_params(self.defaults, system_prompt, params)
        provider = self._ready_provider()
        if not model:
            models = await provider.list_models()
            if not models:
                raise ValueError(
                    f"{self.name} lists no models; name one: {type(self).__name__}(model='name')."
                )
            model = self.model = models[0]
        return provider, model, call

    async def chat(
        self, prompt: str, system_prompt: str | None = None, **params: Any
    ) -> ChatResponse:
        try:
            provider, model, call = await self._prepare(prompt, system_prompt, params)
            turn = run_turn_once(provider, prompt, model, call)
            response = await response_from(turn, provider)
            if not response.success:
                response.error = self._sentence(response.error or "", response.metadata)
        except Exception as exc:
            response = self._failure(exc, params.get("model") or self.model)
        self.last_response = response
        return response

    async def stream_chat(
        self, prompt: str, system_prompt: str | None = None, **params: Any
    ) -> AsyncIterator[str]:
        turn = None
        model = params.get("model") or self.model
        try:
            provider, model, call = await self._prepare(prompt, system_prompt, params)
            turn = run_turn_once(provider, prompt, model, call)
            async with aclosing(turn.events(provider)) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        yield event.text
                    elif isinstance(event, Finished):
                        self.last_response = ChatResponse(
                            turn.text, True, None, event.as_metadata(), turn.reasoning
                        )
            return
        except Exception as exc:  # GeneratorExit and cancellation pass through untouched
            failure = self._failure(exc, model, turn.text if turn is not None else "")
        self.last_response = failure
        yield ("\n" if failure.content else "") + f"Error: {failure.error}"

    async def health_check(self) -> HealthResponse:
        """Reachable, key accepted, and which models the server lists (``metadata["models"]``)."""
        meta: dict[str, Any] = {
            "model": self.model,
            "provider": self.name,
            "base_url": self.base_url,
        }
        try:
            health = await self._ready_provider().health()
        except Exception as exc:
            failed = self._failure(exc, self.model)
            return HealthResponse("", False, failed.error, {**meta, **failed.metadata})
        meta.update(models=list(health.models), latency_s=health.latency_s)
        if health.ok:
            return HealthResponse(health.detail, True, None, meta)
        return HealthResponse("", False, self._sentence(health.detail, meta), meta)

    # --- errors --------------------------------------------------------------------------

    def _failure(self, exc: Exception, model: str | None, partial: str = "") -> ChatResponse:
        meta: dict[str, Any] = {"model": model, "error_type": type(exc).__name__}
        if isinstance(exc, DesktopChatError | ValueError):
            text = str(exc)
        else:  # a bug, not a server's answer: kept in the log with its traceback
            log.info("%s failed unexpectedly", type(self).__name__, exc_info=True)
            text = f"Unexpected failure ({type(exc).__name__}: {exc}); please report it."
        if isinstance(exc, AuthenticationFailed):
            text = exc.message  # the hint is this client's (see _sentence)
        return ChatResponse(partial, False, self._sentence(text, meta), meta)

    def _sentence(self, text: str, meta: Mapping[str, Any]) -> str:
        """The error as the user reads it: a key never in it, and the fix for a refused key
        named in this client's terms (not the app's Settings)."""
        from desktop_chat.logs import redact

        if meta.get("error_type") == "AuthenticationFailed" and "Pass a valid" not in text:
            text = text.split(" Set a valid key", 1)[0]
            env = f" or set {self.key_variable}" if self._own_url(self.base_url) else ""
            text += f" Pass a valid key: {type(self).__name__}(api_key=...){env}."
        if self._api_key:
            text = text.replace(self._api_key, "[redacted]")
        return redact(text)


class AIMLClient(OpenAIClient):
    """AI/ML API: hundreds of models behind one OpenAI-compatible endpoint. The key comes from
    ``api_key`` or the ``AIMLAPI_API_KEY`` variable; ``model=`` picks another model."""

    provider_name = "aimlapi"
    default_base_url = "https://api.aimlapi.com/v1"
    default_model = "gpt-4o-mini"
    requires_key = True


def run_turn_once(provider, prompt: str, model: str, params: GenerationParams) -> Turn:
    """The turn of a one-turn conversation in memory (nothing kept between calls), asked with
    ``params`` alone; run it with ``turn.events(provider)``."""
    session = plain_session()
    session.set_model(opened_choice(provider, model, model))
    return session.send(prompt, call=params)
