"""Every error a user can meet: what happened, and what to do about it.

Each error carries a one-line ``message`` (what happened) and a ``hint`` (what to do next), so
the window, the terminal chat and the Python API can all show the same sentence.
"""

from __future__ import annotations

from desktop_chat.redact import redact


class DesktopChatError(Exception):
    """Base class: ``str(error)`` is the message followed by the hint."""

    #: Errors worth retrying before the first token (rate limits, overload, network blips).
    retryable: bool = False

    def __init__(self, message: str, hint: str = "") -> None:
        # Much of a message is a server's own words, which may quote the key it was sent:
        # redacted here, before the error is raised, shown, printed, logged or stored.
        message, hint = redact(message), redact(hint)
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


# --- settings and keys -------------------------------------------------------------------


class ConfigError(DesktopChatError):
    """A settings file that cannot be used; names the file, line and key."""

    def __init__(
        self,
        message: str,
        *,
        path: str,
        line: int | None = None,
        key: str | None = None,
        hint: str = "",
    ) -> None:
        where = path if line is None else f"{path}, line {line}"
        what = f"{where}: {message}" if key is None else f"{where}: '{key}' {message}"
        super().__init__(
            what,
            hint or "Fix the file and restart; until then Desktop Chat runs on its defaults.",
        )
        self.path = path
        self.line = line
        self.key = key


class KeyringUnavailable(DesktopChatError):
    """No system keychain is reachable; keys can only come from environment variables."""


class InsecureTransportError(DesktopChatError):
    """Refused to send an API key over plain http to a host that is not this machine."""


# --- talking to a model ------------------------------------------------------------------


class ProviderError(DesktopChatError):
    """A request to a model failed; ``partial_text`` keeps what had already streamed."""

    def __init__(self, message: str, hint: str = "", *, partial_text: str = "") -> None:
        super().__init__(message, hint)
        self.partial_text = partial_text


class AuthenticationFailed(ProviderError):
    """401/403: the key is wrong, expired or lacks access."""


class ModelNotFound(ProviderError):
    """404: the server does not know the model (or the URL is not an API)."""


class BadRequest(ProviderError):
    """400/422: the server refused the request as sent (a parameter, a too-long prompt)."""


class ImagesNotSupported(BadRequest):
    """The model (or the server running it) does not take images: a text-only model was sent
    one. Not retried: only another model can answer it."""


class RateLimited(ProviderError):
    """429: too many requests; ``retry_after`` is the server's wish in seconds, if it said."""

    retryable = True

    def __init__(
        self, message: str, hint: str = "", *, retry_after: float | None = None, partial_text=""
    ) -> None:
        super().__init__(message, hint, partial_text=partial_text)
        self.retry_after = retry_after


class ServerError(ProviderError):
    """5xx: the provider failed on its side."""

    retryable = True


class ConnectionFailed(ProviderError):
    """Nothing answered at the address, or the network is down."""

    retryable = True


class RequestTimeout(ProviderError):
    """The server stopped answering within the time allowed. Not retried by itself: a silent
    server asked again only multiplies the wait; the user gets Retry."""


class StreamInterrupted(ProviderError):
    """The reply stopped mid-way; the partial text is kept and marked as interrupted."""


class MalformedResponse(ProviderError):
    """The server sent something that is not a valid OpenAI-compatible stream."""


class ModelUnavailable(ProviderError):
    """A model that cannot run here (no local engine on this machine, nothing configured)."""
