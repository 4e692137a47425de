"""Keys out of every text the app shows, logs, raises or stores: the one redaction.

Servers echo keys back (a 401 body quoting ``Bearer sk-…``, an error event mid-stream), and
that text becomes an error's message, a banner, a line in ``llmchat``, a message's metadata, an
export and a log record. Every ``DesktopChatError`` and every log record passes through
:func:`redact`, which removes the keys this process knows (the environment's, and each one read
from the keychain or given to a provider) and anything shaped like a bearer token or an API key.
"""

from __future__ import annotations

import os
import re

MARK = "[redacted]"
#: Shorter values are not treated as secrets: redacting them would garble ordinary words.
MIN_SECRET = 8
#: Environment variables that hold secrets, by the endings such names have.
_SECRET_VARIABLES = ("_API_KEY", "_TOKEN", "_SECRET", "_ACCESS_KEY")

# Whoever's they are: "Bearer <token>", "x-api-key: <value>" / "api_key=<value>", and the
# prefixes providers give their keys (OpenAI and Anthropic sk-, Groq gsk_, xAI xai-, Hugging
# Face hf_, OpenRouter sk-or-), each followed by a long random tail.
_SHAPES = re.compile(
    r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(\b(?:x-)?api[-_]?key[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"
    r"|\b(?:gsk|hf)_[A-Za-z0-9]{20,}"
    r"|\bxai-[A-Za-z0-9]{20,}"
)

_known: set[str] = set()


def remember(secret: str | None) -> None:
    """A key this process holds (read from the keychain, typed, passed to a provider): from now
    on it is redacted wherever it appears, whatever its shape."""
    if secret and len(secret.strip()) >= MIN_SECRET:
        _known.add(secret.strip())


def _secrets() -> list[str]:
    found = set(_known)
    for name, value in os.environ.items():
        if name.upper().endswith(_SECRET_VARIABLES) and len(value.strip()) >= MIN_SECRET:
            found.add(value.strip())
    return sorted(found, key=len, reverse=True)  # a key inside a longer one goes with it


def redact(text: str) -> str:
    """``text`` with every known key and anything shaped like a token replaced by [redacted]."""
    if not text:
        return text
    for secret in _secrets():
        if secret in text:
            text = text.replace(secret, MARK)
    return _SHAPES.sub(lambda m: (m.group(1) or m.group(2) or "") + MARK, text)
