"""Images in a request to an OpenAI-compatible server: which messages carry them, how each
server says its model takes none, and a conversation made fit for such a model.

Servers refuse image parts sent to a text-only model in their own words (and statuses: 400,
404 from mlx_lm.server, 500 from llama.cpp). Each phrase below was read in a real server's
answer; they are matched only when the request carried an image, so a refusal of something
else is never taken for one of images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from desktop_chat.errors import ImagesNotSupported

#: Lower-case pieces of the refusals: OpenAI; Ollama and OpenAI-style servers; LM Studio;
#: mlx_lm.server; vLLM; llama.cpp's llama-server; llamafile and older llama.cpp; DeepSeek
#: (and other servers whose schema has text parts only); Ollama before it took content lists.
REFUSALS = (
    "image_url is only supported by certain models",
    "does not support image",
    "only 'text' content type is supported",
    "is not a multimodal model",
    "image input is not supported",
    "not compiled for multimodal",
    "unknown variant `image_url`",
    "cannot unmarshal array into go struct field",
)

#: What a text-only model is given in place of an image of an earlier turn.
NOT_SHOWN = "[An image was here; this model cannot see images.]"


def refuses_images(server_message: str) -> bool:
    """True when a server's error says that the model takes no images."""
    text = server_message.lower()
    return any(phrase in text for phrase in REFUSALS)


def carries_images(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(_is_image(p) for p in content)


def any_images(messages: Sequence[dict[str, Any]]) -> bool:
    return any(carries_images(m) for m in messages)


def newest_has_images(messages: Sequence[dict[str, Any]]) -> bool:
    """Whether the message being answered (the last user message) carries an image."""
    last = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    return last is not None and carries_images(last)


def without_images(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation for a model that takes no images: each image part becomes a short
    text note, so the model knows one was there; every other message is the very same."""
    out = []
    for message in messages:
        if not carries_images(message):
            out.append(message)
            continue
        parts = [p for p in message["content"] if not _is_image(p)]
        text = "\n\n".join(p.get("text", "") for p in parts if p.get("type") == "text")
        notes = "\n".join(NOT_SHOWN for p in message["content"] if _is_image(p))
        out.append({**message, "content": f"{text}\n\n{notes}" if text else notes})
    return out


def not_supported(provider: str, model: str, server_message: str) -> ImagesNotSupported:
    return ImagesNotSupported(
        f"The model '{model}' on {provider} does not take images "
        f"({server_message.strip().rstrip('.')}).",
        "Choose a vision model (one that sees images, such as gpt-4o, llava or qwen2.5-vl) "
        "and ask again, or send the message without its images.",
    )


def _is_image(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") in ("image_url", "input_image", "image")
