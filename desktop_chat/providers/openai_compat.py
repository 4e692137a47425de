"""Any OpenAI-compatible chat server: OpenAI, Anthropic's compatibility endpoint, Ollama,
LM Studio, vLLM, llama.cpp, tabbyAPI, mlx_lm.server, DeepSeek, OpenRouter, Groq…

The ``openai`` SDK is imported on first use: it costs seconds, and the window must not wait.
The SDK's own retries are off; this module retries connection failures, 429 and 5xx itself
(saying so with a ``Retrying`` event), and only before the first token, so a reply is never
shown twice. A server that sends nothing within the first-token time is reported, not retried.

Tools (``stream(..., tools=[...])``, the OpenAI ``tools`` list) go in the request; the calls a
model streams back as ``tool_calls`` deltas (keyed by ``index``: the id and name in a call's
first piece, its arguments' JSON text in pieces after) are joined and end the stream as one
``ToolCallRequest``, before ``Finished``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from desktop_chat.config import FIRST_TOKEN_TIMEOUT_LOCAL_S, FIRST_TOKEN_TIMEOUT_S
from desktop_chat.errors import (
    ImagesNotSupported,
    MalformedResponse,
    ProviderError,
    RateLimited,
    RequestTimeout,
    StreamInterrupted,
)
from desktop_chat.events import (
    Event,
    ReasoningDelta,
    ReplyClock,
    Retrying,
    ToolCallRequest,
    Usage,
)
from desktop_chat.hosts import is_loopback
from desktop_chat.keys import OPENAI_HOSTS, ensure_safe_transport, env_var_for
from desktop_chat.params import GenerationParams
from desktop_chat.providers import image_parts, request_body
from desktop_chat.providers.base import Health
from desktop_chat.providers.http_errors import translate_error
from desktop_chat.reasoning import ReplyParser, ReplyParts, piece_kind
from desktop_chat.redact import remember

if TYPE_CHECKING:
    from openai import AsyncOpenAI

#: A server asking us to wait longer than this is reported instead of silently waited on.
MAX_RETRY_AFTER_S = 30.0


class OpenAICompatProvider:
    """Streams chat completions from one OpenAI-compatible base URL."""

    #: It sends ``tools`` and streams the calls back (``stream(..., tools=)``).
    takes_tools = True

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        name: str = "openai",
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        first_token_timeout_s: float | None = None,
        max_attempts: int = 3,
        backoff_s: float = 0.5,
        allow_insecure_key: bool = False,
        key_env: str | None = None,
    ) -> None:
        ensure_safe_transport(base_url, has_key=bool(api_key), allowed=allow_insecure_key)
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        remember(api_key)  # a server quoting it back in an error shows [redacted]
        #: The variable hints tell the user to set: the one the key lookup reads for it.
        self.key_env = env_var_for(name) if key_env is None else key_env
        self._headers: dict[str, Any] = {}
        #: A server on this machine: it may have to load the model before its first token.
        self.local = is_loopback(urlsplit(base_url).hostname or "")
        if first_token_timeout_s is None:
            first_token_timeout_s = (
                FIRST_TOKEN_TIMEOUT_LOCAL_S if self.local else FIRST_TOKEN_TIMEOUT_S
            )
        self.first_token_timeout_s = first_token_timeout_s
        # Each read may take as long as the first token is allowed to, never less.
        self._timeout_s = max(timeout_s, first_token_timeout_s + 1)
        self._connect_timeout_s = connect_timeout_s
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self._client: AsyncOpenAI | None = None
        # Learned from the server's refusals, so later requests are sent right the first time.
        self._send_stream_options = True
        self._max_tokens_key = "max_tokens"
        # OpenAI's own API refuses chat-template arguments; the servers that template
        # locally (vLLM, llama.cpp, mlx_lm.server, SGLang…) take them.
        self._send_template_kwargs = (urlsplit(base_url).hostname or "") not in OPENAI_HOSTS
        #: Models that refused images: the images of earlier turns are not sent to them again
        #: (each would be refused once more, and no later question could be answered).
        self._text_only: set[str] = set()

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAICompatProvider(name={self.name!r}, base_url={self.base_url!r})"

    @property
    def client(self) -> AsyncOpenAI:
        if self._client is None:
            import openai  # lazy: ~1.5 s of import

            self._client = openai.AsyncOpenAI(
                base_url=self.base_url,
                # Given, so that the SDK never reads OPENAI_API_KEY itself; never sent as is.
                api_key=self._api_key or "no-key",
                max_retries=0,
                timeout=openai.Timeout(self._timeout_s, connect=self._connect_timeout_s),
            )
            # Each request says exactly which key it carries, or that it carries none: the
            # SDK would otherwise send its placeholder, or an Authorization header from the
            # environment (OPENAI_CUSTOM_HEADERS), to whatever server this is.
            self._headers = {
                "Authorization": f"Bearer {self._api_key}" if self._api_key else openai.Omit()
            }
            if (urlsplit(self.base_url).hostname or "").lower() not in OPENAI_HOSTS:
                # The SDK also sends OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment:
                # they say who the user is at OpenAI, and are nobody else's business.
                self._headers |= {
                    "OpenAI-Organization": openai.Omit(),
                    "OpenAI-Project": openai.Omit(),
                }
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    # --- the request ---------------------------------------------------------------------

    def _request(
        self,
        messages: Sequence[dict[str, Any]],
        model: str,
        params: GenerationParams,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "messages": list(messages), "stream": True}
        if tools:  # none at all rather than an empty list, which some servers refuse
            body["tools"] = list(tools)
        # Only what the user set is sent: servers differ in what they accept, and their own
        # defaults are usually the right ones for their models.
        for key in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "seed"):
            value = getattr(params, key)
            if value is not None:
                body[key] = value
        if params.max_tokens is not None:
            body[self._max_tokens_key] = params.max_tokens
        if params.stop:
            body["stop"] = list(params.stop)
        if params.top_k is not None:
            # Not part of the OpenAI API; the local servers that honour it read it from the body.
            body["top_k"] = params.top_k
        if params.think is not None and self._send_template_kwargs:
            # The thinking switch of Qwen3-style templates (``enable_thinking``).
            body["chat_template_kwargs"] = {"enable_thinking": params.think}
        if params.reasoning_effort is not None:
            body["reasoning_effort"] = params.reasoning_effort
        if self._send_stream_options:
            body["stream_options"] = {"include_usage": True}
        if model in self._text_only and not image_parts.newest_has_images(messages):
            body["messages"] = image_parts.without_images(messages)
        return body

    def _adapt(self, body: dict[str, Any], err: ProviderError) -> bool:
        """Change the request after a refusal that names a known incompatibility."""
        text = str(err).lower()
        if "stream_options" in text and "stream_options" in body:
            self._send_stream_options = False
            body.pop("stream_options")
            return True
        if "max_completion_tokens" in text and "max_tokens" in body:
            self._max_tokens_key = "max_completion_tokens"
            body["max_completion_tokens"] = body.pop("max_tokens")
            return True
        if "chat_template_kwargs" in text and "chat_template_kwargs" in body:
            # A server that does not template for itself: the switch can do nothing there.
            self._send_template_kwargs = False
            body.pop("chat_template_kwargs")
            return True
        sent = body["messages"]
        if isinstance(err, ImagesNotSupported) and not image_parts.newest_has_images(sent):
            # Only earlier turns carry images (the model was changed after them): asked
            # again with a note in their place, the question itself can still be answered.
            self._text_only.add(body["model"])
            body["messages"] = image_parts.without_images(sent)
            return True
        return False

    # --- streaming -----------------------------------------------------------------------

    async def stream(
        self,
        messages: Sequence[dict[str, Any]],
        model: str,
        params: GenerationParams,
        *,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[Event]:
        body = self._request(messages, model, params, tools)
        clock = ReplyClock()
        reply = ReplyParts()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with aclosing(self._attempt(body, clock, reply, messages)) as events:
                    async for event in events:
                        yield event
                return
            except ProviderError as err:
                if reply.started:  # a thought or answer shown is never shown twice
                    raise
                if attempt <= 2 and self._adapt(body, err):
                    attempt -= 1
                    continue
                if not err.retryable or attempt >= self.max_attempts:
                    raise
                delay, reason = self._delay(attempt, err), err.message
            # Said before the wait, so that the window and llmchat show it is retrying.
            yield Retrying(attempt + 1, self.max_attempts, delay, reason)
            await asyncio.sleep(delay)

    def _delay(self, attempt: int, err: ProviderError) -> float:
        if isinstance(err, RateLimited) and err.retry_after is not None:
            if err.retry_after > MAX_RETRY_AFTER_S:
                raise err
            return err.retry_after
        # Exponential backoff with jitter, so many clients do not retry in step.
        return self.backoff_s * (2 ** (attempt - 1)) * (0.75 + random.random() / 2)

    async def _attempt(
        self,
        body: dict[str, Any],
        clock: ReplyClock,
        reply: ReplyParts,
        messages: Sequence[dict[str, Any]],
    ) -> AsyncIterator[Event]:
        # Until the stream's first chunk, a deadline: a server that accepted the request and
        # sends nothing is reported once, in seconds, not waited on for minutes. Any chunk
        # (text, reasoning, an empty role delta) shows it is working, and lifts it.
        client = self.client  # made first: importing the SDK takes seconds of no network
        deadline = asyncio.timeout(self.first_token_timeout_s)
        try:
            async with deadline:
                async for event in self._chunks(client, body, clock, reply, messages, deadline):
                    yield event
        except TimeoutError:
            if not deadline.expired():
                raise
            raise self._no_first_token() from None

    def _no_first_token(self) -> RequestTimeout:
        setting = "first_token_timeout_local" if self.local else "first_token_timeout"
        return RequestTimeout(
            f"{self.name} sent nothing for {self.first_token_timeout_s:.0f} s.",
            "It may be overloaded or still loading the model: press Retry to ask again "
            f"(the wait is [app] {setting} in the settings).",
        )

    async def _chunks(
        self,
        client: AsyncOpenAI,
        body: dict[str, Any],
        clock: ReplyClock,
        reply: ReplyParts,
        messages: Sequence[dict[str, Any]],
        deadline: asyncio.Timeout,
    ) -> AsyncIterator[Event]:
        from openai import AsyncStream
        from openai.types.chat import ChatCompletion, ChatCompletionChunk

        model = body["model"]
        try:
            # The SDK would encode the body on the loop (~10 ms for a 2 MB message, a pause of
            # the window): it is encoded in a worker thread, and the SDK sends those bytes.
            content = await asyncio.to_thread(request_body.encode, body)
            response = await client.post(
                "/chat/completions",
                content=content,
                cast_to=ChatCompletion,
                stream=True,
                stream_cls=AsyncStream[ChatCompletionChunk],
                options={"headers": self._headers, "security": {"bearer_auth": True}},
            )
        except Exception as exc:
            raise translate_error(
                exc,
                provider=self.name,
                model=model,
                base_url=self.base_url,
                key_env=self.key_env,
                images=image_parts.any_images(body["messages"]),
            ) from exc
        finish_reason: str | None = None
        usage: Usage | None = None
        parser = ReplyParser()
        calls = _ToolCalls()
        try:
            async for chunk in response:
                deadline.reschedule(None)
                if getattr(chunk, "usage", None):
                    usage = _usage(chunk.usage)
                for choice in chunk.choices or ():
                    delta = choice.delta
                    thought, text = _thinking(delta), getattr(delta, "content", None) or ""
                    if thought or text:
                        thinking = parser.thinking
                        # Thinking first: a piece that holds both ends the thought with it.
                        events = [*parser.reasoning(thought), *parser.text(text)]
                        clock.tick(piece_kind(events, thinking or parser.thinking))
                        for event in events:
                            if isinstance(event, ReasoningDelta) and event.was_answer:
                                clock.answer_was_thought()
                            reply.add(event)
                            yield event
                    if pieces := getattr(delta, "tool_calls", None):
                        calls.add(pieces)
                        clock.tick("tool")
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
            for event in parser.close():
                reply.add(event)
                yield event
        except (json.JSONDecodeError, ValueError, TypeError, AttributeError) as exc:
            raise MalformedResponse(
                f"{self.name} sent a reply that is not a valid OpenAI-compatible stream.",
                "Check that the base URL points at the API (it usually ends in /v1).",
                partial_text=reply.text,
            ) from exc
        except Exception as exc:
            raise translate_error(
                exc,
                provider=self.name,
                model=model,
                base_url=self.base_url,
                partial_text=reply.text,
                midway=reply.started,
                images=image_parts.any_images(body["messages"]),
            ) from exc
        finally:
            # Closing the stream also runs when the consuming task is cancelled: the server
            # sees the connection close and stops generating.
            await response.close()
        if finish_reason is None:
            if reply.started:
                raise StreamInterrupted(
                    f"The reply from {self.name} stopped before it was finished.",
                    "The partial reply was kept. Retry to ask again.",
                    partial_text=reply.text,
                )
            raise MalformedResponse(
                f"{self.name} closed the stream without sending a reply.",
                "Retry; if it keeps happening, check the server's log.",
            )
        if usage is None:
            usage = _estimate_usage(messages, clock.chunks)
        if calls:
            # Some servers end a turn of calls with "stop": the calls say what it was.
            yield ToolCallRequest(calls.done())
            finish_reason = "tool_calls"
        yield clock.finish(
            finish_reason=finish_reason, usage=usage, model=model, provider=self.name
        )

    # --- models and health ---------------------------------------------------------------

    async def list_models(self) -> list[str]:
        """The server's model ids; raises a ``ProviderError`` the caller can show and ignore."""
        try:
            client = self.client
            page = await client.models.list(extra_headers=self._headers)
            return sorted(m.id for m in page.data)
        except ProviderError:
            raise
        except Exception as exc:
            raise translate_error(
                exc, provider=self.name, model="", base_url=self.base_url, key_env=self.key_env
            ) from exc

    async def health(self) -> Health:
        """Reachable, key accepted, and which models it serves — never raises."""
        start = time.perf_counter()
        try:
            models = await self.list_models()
        except ProviderError as err:
            return Health(False, str(err), time.perf_counter() - start)
        latency = time.perf_counter() - start
        return Health(True, f"{len(models)} models available", latency, tuple(models))


class _ToolCalls:
    """The tool calls of one streamed reply, joined from their deltas: by ``index`` (a server
    that sends none numbers them in order), the id and name from the first piece that has
    them, the arguments' text from every piece, in order."""

    def __init__(self) -> None:
        self._calls: dict[int, list[Any]] = {}  # index -> [id, name, argument pieces]

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, pieces: Any) -> None:
        for piece in pieces:
            index = getattr(piece, "index", None)
            if not isinstance(index, int):
                index = len(self._calls) if getattr(piece, "id", None) else len(self._calls) - 1
            call = self._calls.setdefault(index, [None, None, []])
            call[0] = call[0] or getattr(piece, "id", None)
            function = getattr(piece, "function", None)
            if function is not None:
                call[1] = call[1] or getattr(function, "name", None)
                if arguments := getattr(function, "arguments", None):
                    call[2].append(arguments)

    def done(self) -> tuple:
        from desktop_chat.tools import ToolCall

        # A call without an id (some local servers) gets one: its result must name it.
        return tuple(
            ToolCall(call_id or f"call_{index}", name or "", "".join(arguments))
            for index, (call_id, name, arguments) in sorted(self._calls.items())
        )


def _thinking(delta: Any) -> str:
    """A delta's thinking field: ``reasoning_content`` (DeepSeek, vLLM, LM Studio, llama.cpp)
    or ``reasoning`` (mlx_lm.server, OpenRouter, Ollama). The SDK keeps fields it does not
    know as attributes; a server sending both sends the same text twice, so one is taken."""
    if delta is None:
        return ""
    text = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
    return text if isinstance(text, str) else ""


def _usage(reported: Any) -> Usage:
    details = getattr(reported, "completion_tokens_details", None)
    # OpenAI reports 0 for a reply that did not think: no thinking, as for other servers.
    thought = getattr(details, "reasoning_tokens", None) or None
    return Usage(reported.prompt_tokens, reported.completion_tokens, reasoning_tokens=thought)


def _estimate_usage(messages: Sequence[dict[str, Any]], chunks: int) -> Usage:
    """Servers that do not report usage send about one token per chunk; a prompt token is
    roughly four characters of English. An image's part counts its text only: its data URL
    is no measure of what the model makes of it."""
    prompt_chars = sum(len(_text_of(m.get("content"))) for m in messages)
    return Usage(prompt_tokens=max(1, prompt_chars // 4), completion_tokens=chunks, estimated=True)


def _text_of(content: Any) -> str:
    if isinstance(content, list):  # content parts: text and images
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""
