"""Builds a tiny vision model offline, as tiny_model builds the text one: a ``qwen2_vl`` (the
architecture of Qwen2-VL, which mlx-vlm runs) with a 1-block, 32-wide vision tower and a
2-layer, 64-wide language model, its processor made of local files only (the byte-level BPE
tokenizer of tiny_model with Qwen's vision tokens, mlx-vlm's own numpy image processor read
from ``preprocessor_config.json``, a chat template that places ``<|image_pad|>``).

It starts from random weights and is trained for a few hundred Adam steps so that its replies
are words, and tell whether an image came with the question: "I see a picture." with one,
"There is no picture." without. Images are small (at most 112×112 pixels, so 4 to 16 image
tokens) and every part runs on the CPU in seconds. Cached by the hash of this file and
tiny_model's.

    python -m tests.support.tiny_vision_model [DIR]     # build (or reuse) and print the folder
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support import tiny_model

SPECIAL = [
    *tiny_model.SPECIAL,
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
# Qwen2-VL's own template does the same: a string is text; a list holds text and image parts.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] in ('image', 'image_url') %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QUESTION = "What is in this picture?"
SEEN = "I see a picture."
UNSEEN = "There is no picture."
#: Pixels: the processor scales every image to between these (so a few image tokens each).
MIN_PIXELS, MAX_PIXELS = 56 * 56, 112 * 112
COLOURS = [(220, 30, 30), (30, 200, 40), (30, 40, 220), (240, 240, 240)]
SIZES = [(64, 64), (120, 80), (90, 150)]


def config(vocab: dict[str, int], vocab_size: int) -> dict:
    return {
        "model_type": "qwen2_vl",
        "architectures": ["Qwen2VLForConditionalGeneration"],
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "vocab_size": vocab_size,
        "max_position_embeddings": 2048,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        # Qwen2-VL's 3-D rotary positions (time, height, width): sections sum to head_dim / 2.
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
        "image_token_id": vocab["<|image_pad|>"],
        "video_token_id": vocab["<|video_pad|>"],
        "vision_start_token_id": vocab["<|vision_start|>"],
        "eos_token_id": vocab["<|im_end|>"],
        "vision_config": {
            "model_type": "qwen2_vl",
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 64,  # what the merger hands the language model: its width
            "num_heads": 2,
            "mlp_ratio": 2,  # transformers' config check wants an int here
            "patch_size": 14,
            "spatial_patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "in_channels": 3,
        },
    }


def _write_processor_files(folder: Path) -> None:
    """What mlx-vlm's Qwen2VLProcessor reads; every file is here, so nothing is asked of the
    hub (it would try to download a missing one)."""
    image = {
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2VLProcessor",
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "min_pixels": MIN_PIXELS,
        "max_pixels": MAX_PIXELS,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(image, indent=2))
    (folder / "video_preprocessor_config.json").write_text(json.dumps(image, indent=2))
    (folder / "processor_config.json").write_text(
        json.dumps({"processor_class": image["processor_class"]})
    )
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}))


def _random_model(folder: Path, tok) -> None:
    """The model with random weights, saved as mlx-vlm saves a converted one."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_vlm.utils import get_model_and_args, update_module_configs

    cfg = config({t: tok.token_to_id(t) for t in SPECIAL}, tok.get_vocab_size())
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    (folder / "generation_config.json").write_text(
        json.dumps({"eos_token_id": cfg["eos_token_id"]})
    )
    arch, _ = get_model_and_args(dict(cfg))
    args = {**json.loads(json.dumps(cfg)), "text_config": {}}
    model_config = update_module_configs(
        arch.ModelConfig.from_dict(args), arch, args, ["text", "vision"]
    )
    mx.random.seed(0)
    weights = dict(tree_flatten(arch.Model(model_config).parameters()))
    mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "mlx"})


def examples(processor, model_config) -> list[tuple[str, str, list]]:
    """(prompt, reply, images): the question with an image of each colour and size, without
    one, and tiny_model's first questions (so that text-only turns read as words too)."""
    from mlx_vlm import apply_chat_template
    from PIL import Image

    def prompt(content, images: int = 0) -> str:
        messages = [{"role": "user", "content": content}]
        return apply_chat_template(processor, model_config, messages, num_images=images)

    with_image = [{"type": "text", "text": QUESTION}, {"type": "image"}]
    out = [
        (prompt(with_image, 1), SEEN, [Image.new("RGB", size, colour)])
        for colour in COLOURS
        for size in SIZES
    ]
    out += [(prompt(QUESTION), UNSEEN, [])] * 6
    out += [(prompt(q), a, []) for q, a in tiny_model.PAIRS[:3]]
    return out


def _train(folder: Path, steps: int = 600) -> None:
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_vlm import load
    from mlx_vlm.utils import prepare_inputs

    model, processor = load(str(folder))
    data = []
    for prompt, reply, images in examples(processor, model.config):
        inputs = prepare_inputs(
            processor, images=images or None, prompts=prompt + reply + "<|im_end|>"
        )
        asked = prepare_inputs(processor, images=images or None, prompts=prompt)["input_ids"]
        extra = {
            k: v
            for k, v in inputs.items()
            if k not in ("input_ids", "pixel_values", "attention_mask")
        }
        data.append((inputs["input_ids"], inputs.get("pixel_values"), asked.shape[1], extra))

    def loss_fn(model, ids, pixels, asked, extra):
        logits = model(ids[:, :-1], pixels, **extra).logits
        ce = nn.losses.cross_entropy(logits, ids[:, 1:], reduction="none")
        # The reply weighs most; the prompt a little.
        weights = mx.concatenate([mx.full((asked - 1,), 0.05), mx.ones((ids.shape[1] - asked,))])[
            None
        ]
        return (ce * weights).sum() / weights.sum()

    step = nn.value_and_grad(model, loss_fn)
    schedule = optim.join_schedules(
        [optim.linear_schedule(1e-4, 4e-3, 30), optim.cosine_decay(4e-3, steps - 30, 2e-4)], [30]
    )
    opt = optim.Adam(learning_rate=schedule)
    # Shuffled (the same way every build): in order, each run of like examples undoes the last.
    order = [i for epoch in range(steps // len(data) + 1) for i in _shuffled(len(data), epoch)]
    for i in order[:steps]:
        loss, grads = step(model, *data[i])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "mlx"})
    (folder / "train_loss.txt").write_text(f"{loss.item():.4f}\n")


def _shuffled(n: int, seed: int) -> list[int]:
    import random

    order = list(range(n))
    random.Random(seed).shuffle(order)
    return order


def _make(folder: Path) -> None:
    corpus = [tiny_model.render(c) for c in tiny_model.conversations()] * 4
    corpus += [QUESTION, SEEN, UNSEEN] * 4
    tok = tiny_model.build_tokenizer(folder, corpus, SPECIAL, CHAT_TEMPLATE)
    _write_processor_files(folder)
    _random_model(folder, tok)
    _train(folder)


def build(dest: Path | None = None) -> Path:
    """The model folder, built once per version of this file."""
    return tiny_model.build_once("tiny-vision", tiny_model.fingerprint(__file__), _make, dest)


def picture(colour: tuple[int, int, int] = (220, 30, 30), size: tuple[int, int] = (100, 70)):
    """A normalised ``Picture`` of one colour, as the app makes one from a dropped PNG."""
    import io

    from PIL import Image

    from desktop_chat.images import normalise

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return normalise(buffer.getvalue(), name="square.png")


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
