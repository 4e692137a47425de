"""Vision models for the engine: mlx-vlm loads them, its processor turns a conversation's text
and images into the prompt, and its ``stream_generate`` yields the reply token by token.

Called by ``engine`` only, on its one MLX thread (mlx-vlm's arrays belong to it like mlx-lm's).
mlx-vlm is the ``[vision]`` extra and takes seconds to import: imported here, lazily, and a
missing one is a sentence that says how to install it. The images arrive as the content parts
a ``Message`` sends (data URLs of already normalised PNG or JPEG bytes).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_chat.errors import ProviderError

INSTALL = "pip install 'desktop-chat[vision]'"


@dataclass(slots=True)
class Prompt:
    """A templated conversation, its images processed: what ``stream`` feeds the model."""

    text: str
    #: Its tokens, each image already expanded to the image tokens it costs.
    tokens: list[int]
    images: int
    #: ``input_ids``, ``pixel_values``, ``mask`` and what the model's processor adds
    #: (``image_grid_thw`` for Qwen2-VL).
    inputs: dict[str, Any] = field(default_factory=dict)


def load(model_dir: Path) -> tuple[Any, Any]:
    """(model, processor) for a vision model's folder."""
    try:
        from mlx_vlm import load as load_vision
    except ImportError as exc:
        raise ProviderError(
            f"{model_dir.name} is a vision model, and mlx-vlm, which runs vision models, "
            "is not installed.",
            f"Install it ({INSTALL}), then choose the model again; or choose a text model.",
        ) from exc
    return load_vision(str(model_dir))


def tokenizer_of(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def image_urls(messages: Sequence[dict[str, Any]]) -> list[str]:
    """The images' URLs in the conversation, in order (each user message's, oldest first)."""
    urls = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                url = part.get("image_url")
                urls.append(url.get("url", "") if isinstance(url, dict) else str(url or ""))
    return urls


def _image(url: str) -> Any:
    """A PIL image from a data URL: the bytes ``images.normalise`` made (upright, stripped)."""
    from PIL import Image, UnidentifiedImageError

    head, _, data = url.partition(",")
    if not head.startswith("data:image/") or not data:
        raise ProviderError(
            "An image in the conversation is not attached data (a link cannot be opened here).",
            "Attach the image file itself, then ask again.",
        )
    try:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        return image.convert("RGB")
    except (ValueError, OSError, UnidentifiedImageError) as exc:
        raise ProviderError(
            f"An image in the conversation could not be read ({exc}).",
            "Remove it and attach it again.",
        ) from exc


def prompt(
    model: Any, processor: Any, messages: list[dict[str, Any]], template_args: dict[str, Any]
) -> Prompt:
    """The conversation templated as the model expects (an image marker where each image was)
    and run through its processor with the images: the exact tokens the model will read."""
    from mlx_vlm import apply_chat_template
    from mlx_vlm.utils import prepare_inputs, should_add_special_tokens

    images = [_image(url) for url in image_urls(messages)]
    text = apply_chat_template(
        processor, model.config, messages, num_images=len(images), **template_args
    )
    inputs = prepare_inputs(
        processor,
        images=images or None,
        prompts=text,
        image_token_index=getattr(model.config, "image_token_index", None),
        add_special_tokens=should_add_special_tokens(model.config.model_type, processor),
    )
    inputs = dict(inputs)
    tokens = inputs["input_ids"].flatten().tolist()
    inputs["mask"] = inputs.pop("attention_mask", None)
    return Prompt(text, tokens, len(images), inputs)


def new_cache() -> Any:
    """mlx-vlm's prompt cache across turns: it reads only what follows the common prefix,
    as long as what follows is text (a new image is read with the whole prompt)."""
    from mlx_vlm.generate import PromptCacheState

    return PromptCacheState()


def stream(
    model: Any, processor: Any, prompt: Prompt, cache: Any, **generation: Any
) -> Iterator[Any]:
    """mlx-vlm's ``GenerationResult``s (``text``, ``token``, ``prompt_tps``, ``peak_memory``,
    ``cached_tokens``, ``finish_reason`` on the last). ``cache`` is updated only when the
    generator runs to its end: a caller that breaks off must start the next turn afresh."""
    from mlx_vlm import stream_generate

    return stream_generate(
        model, processor, prompt.text, prompt_cache_state=cache, **prompt.inputs, **generation
    )
