"""How long an image's longest side may be when it is sent, by who reads it.

A bigger image than its reader keeps only costs upload time (and, on a laptop, encode and
prefill time): each provider scales what it gets to its own size anyway. So the cap is that
size, by the server's host; the user's ``[providers.NAME] image_max_side`` or ``[app]
image_max_side`` (config.py) wins over it. Plain data: no Qt, no Pillow.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from desktop_chat.hosts import is_loopback

#: What a user may set (``image_max_side``): below 256 nothing is legible, above 8192 no
#: provider takes it (Anthropic refuses more than 8000 pixels a side).
LOWEST, HIGHEST = 256, 8192
#: A server this table does not know, or no model chosen yet: OpenAI's figure, the most common.
OTHER = 2048
#: Local vision models (the app's MLX engine, and servers on this machine: Ollama, LM Studio,
#: mlx_lm/mlx_vlm.server, llama.cpp): their processors resize again anyway (Qwen2.5-VL and
#: Gemma 3 to well under this), and a smaller image is faster to encode and prefill on a laptop.
LOCAL = 1536

#: (host, or ".suffix" for any host under it; longest side), with why each figure.
HOSTS: tuple[tuple[str, int], ...] = (
    # OpenAI: an image is fitted in 2048×2048, then its short side scaled to 768 ("high").
    ("api.openai.com", 2048),
    # Azure OpenAI runs the same models, and the same rule.
    (".openai.azure.com", 2048),
    (".cognitiveservices.azure.com", 2048),
    # Anthropic: "if your image's long edge is more than 1568 pixels … it will first be
    # scaled down" (its vision guide).
    ("api.anthropic.com", 1568),
    # Gemini: "larger images are scaled down and padded to fit a maximum resolution of
    # 3072 x 3072" (its input file requirements).
    ("generativelanguage.googleapis.com", 3072),
)


def default_side(base_url: str | None) -> int:
    """The cap for a server at ``base_url``; None: the app's own MLX engine."""
    if base_url is None:
        return LOCAL
    host = (urlsplit(base_url).hostname or "").lower().rstrip(".")
    if is_loopback(host):
        return LOCAL
    for known, side in HOSTS:
        if host == known or (known.startswith(".") and host.endswith(known)):
            return side
    return OTHER


def side_for(choice: Any, settings: Any) -> int:
    """The cap for ``choice`` (a ``models.ModelChoice``, or None before one is chosen), with
    ``settings`` (a ``config.Settings``; both duck-typed, so that this floor stays under
    them): its provider's ``image_max_side``, else ``[app] image_max_side``, else the
    table's figure for its host (``OTHER`` with no model)."""
    provider = choice.provider if choice is not None else None
    own = getattr(provider, "image_max_side", None)
    if own:
        return own
    if settings.image_max_side:
        return settings.image_max_side
    if choice is None:
        return OTHER
    return default_side(provider.base_url if provider is not None else None)
