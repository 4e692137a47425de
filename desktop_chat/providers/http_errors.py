"""Turns the ``openai`` SDK's exceptions into this app's typed errors with a next step."""

from __future__ import annotations

import email.utils
import math
import time

from desktop_chat.errors import (
    AuthenticationFailed,
    BadRequest,
    ConnectionFailed,
    ModelNotFound,
    ProviderError,
    RateLimited,
    RequestTimeout,
    ServerError,
    StreamInterrupted,
)
from desktop_chat.keys import env_var_for
from desktop_chat.providers.image_parts import not_supported, refuses_images


def retry_after_seconds(headers) -> float | None:
    """``retry-after-ms``, or ``retry-after`` as seconds or an HTTP date; ``None`` for anything
    else: a server's odd header must never stop its error from being reported."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        seconds = _seconds(value)
        if seconds is not None:
            return seconds / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def _seconds(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None


def _server_message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if isinstance(message, str) and message:
            return message
    if isinstance(body, str) and body:  # {"error": "…"} (mlx_lm.server, LM Studio): the SDK
        return body  # keeps only the string, and its message says no more than the status
    return getattr(exc, "message", "") or str(exc)


def translate_error(
    exc: Exception,
    *,
    provider: str,
    model: str,
    base_url: str,
    partial_text: str = "",
    key_env: str | None = None,
    midway: bool = False,
    images: bool = False,
) -> ProviderError:
    """The typed error for ``exc``; mid-reply failures (once text, or only thinking, has
    arrived: ``midway``) become ``StreamInterrupted``. ``images``: the request carried some,
    so a server saying its model takes none is ``ImagesNotSupported``, whatever its status."""
    import openai

    if isinstance(exc, ProviderError):
        return exc
    if partial_text or midway:
        return StreamInterrupted(
            f"The reply from {provider} stopped before it was finished "
            f"({type(exc).__name__}: {_server_message(exc)}).",
            "The partial reply was kept. Retry to ask again.",
            partial_text=partial_text,
        )
    # The very name the key lookup reads ("": none is read for it, only Settings count).
    env_name = env_var_for(provider) if key_env is None else key_env
    if isinstance(exc, openai.APITimeoutError):
        if type(exc.__cause__).__name__ == "ConnectTimeout":  # a connection failure: retried
            return ConnectionFailed(
                f"Could not connect to {provider} at {base_url} (no answer to connect).",
                "Check that the server is running and the base URL is right, or your network.",
            )
        return RequestTimeout(
            f"{provider} did not answer in time.",
            "Check the server is running and not overloaded, then retry.",
        )
    if isinstance(exc, openai.APIConnectionError):
        return ConnectionFailed(
            f"Could not connect to {provider} at {base_url}.",
            "Check that the server is running and the base URL is right, or your network.",
        )
    if images and isinstance(exc, openai.APIError) and refuses_images(_server_message(exc)):
        # Before the statuses: mlx_lm.server says it with a 404, llama.cpp with a 500.
        return not_supported(provider, model, _server_message(exc))
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return AuthenticationFailed(
            f"{provider} refused the API key ({exc.status_code}: {_server_message(exc)}).",
            f"Set a valid key for '{provider}' in Settings"
            + (f", or in the {env_name} variable." if env_name else "."),
        )
    if isinstance(exc, openai.NotFoundError):
        return ModelNotFound(
            f"{provider} does not know the model '{model}' ({_server_message(exc)}).",
            "Pick one of the models the server lists, or check the base URL (often ends in /v1).",
        )
    if isinstance(exc, openai.RateLimitError):
        wait = retry_after_seconds(exc.response.headers)
        when = f"in {wait:.0f} s" if wait is not None else "in a moment"
        return RateLimited(
            f"{provider} is rate-limiting requests ({_server_message(exc)}).",
            f"Try again {when}, or check your plan's limits.",
            retry_after=wait,
        )
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return BadRequest(
            f"{provider} refused the request: {_server_message(exc)}",
            "Check the model's parameters; a long conversation may need a new chat.",
        )
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return ServerError(
                f"{provider} had a server error ({exc.status_code}: {_server_message(exc)}).",
                "This is on the provider's side; retry in a little while.",
            )
        return ProviderError(
            f"{provider} answered {exc.status_code}: {_server_message(exc)}",
            "Check the provider's settings.",
        )
    if isinstance(exc, openai.APIError):
        # An error event inside the stream, before any text.
        return ServerError(
            f"{provider} reported an error: {_server_message(exc)}",
            "Retry; if it keeps happening, check the provider's status.",
        )
    return ProviderError(
        f"Unexpected failure talking to {provider}: {type(exc).__name__}: {exc}",
        "Retry; if it keeps happening, please report it.",
    )
