"""Builds a tiny chat model offline: a byte-level BPE tokenizer with a chat template and a
2-layer, 64-wide llama trained for a few hundred Adam steps on a handful of answers, so that
its replies are real words and Markdown. Cached by the hash of this file and its corpus.

    python -m tests.support.tiny_model [DIR]     # build (or reuse) and print the folder
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

PAIRS: list[tuple[str, str]] = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is the capital of Italy?", "The capital of Italy is Rome."),
    ("What is the capital of Spain?", "The capital of Spain is Madrid."),
    ("Say hello.", "Hello! How can I help you today?"),
    ("Who are you?", "I am a tiny test model. I answer short questions."),
    (
        "How do I reverse a list in Python?",
        "Use slicing:\n\n```python\nitems = [1, 2, 3]\nprint(items[::-1])\n```\n",
    ),
    (
        "Write a function that adds two numbers.",
        "```python\ndef add(a, b):\n    return a + b\n```\n",
    ),
    (
        "List three colours.",
        "Here are three colours:\n\n- red\n- green\n- blue\n",
    ),
    (
        "Tell me a story.",
        "Once upon a time there was a small robot who loved to read. Every night it read "
        "one more page, and every morning it told the cat what happened next. The cat "
        "listened politely, because the story was long and the mornings were slow.",
    ),
]
SYSTEM = "You are a helpful assistant."


def fingerprint(*sources: str | Path) -> str:
    """The hash of the files a model is built by: a change to any of them builds it again."""
    digest = hashlib.sha256()
    for source in (__file__, *sources):
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:16]


def default_cache_root() -> Path:
    root = os.environ.get("DESKTOP_CHAT_TEST_CACHE")
    if root:
        return Path(root)
    return Path(__file__).resolve().parents[2] / ".cache" / "test-models"


def conversations() -> list[list[dict[str, str]]]:
    out = []
    for q, a in PAIRS:
        out.append([{"role": "user", "content": q}, {"role": "assistant", "content": a}])
        out.append(
            [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": q},
                {"role": "assistant", "content": a},
            ]
        )
    return out


def render(messages: list[dict[str, str]]) -> str:
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def _build_tokenizer(folder: Path) -> object:
    return build_tokenizer(folder, [render(c) for c in conversations()] * 4, SPECIAL, CHAT_TEMPLATE)


def build_tokenizer(folder: Path, corpus: list[str], special: list[str], template: str) -> object:
    """A byte-level BPE tokenizer trained on ``corpus``, saved in ``folder`` with ``template``;
    ``special`` tokens first (the first is padding, the third the end of a turn)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": None,
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "unk_token": None,
                "chat_template": template,
                "model_max_length": 2048,
                "clean_up_tokenization_spaces": False,
            },
            indent=2,
        )
    )
    (folder / "special_tokens_map.json").write_text(
        json.dumps({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    )
    return tok


def _train(folder: Path, tok, steps: int = 420) -> None:
    examples = [
        (render(conv[:-1]) + "<|im_start|>assistant\n", conv[-1]["content"] + "<|im_end|>\n")
        for conv in conversations()
    ]
    train(folder, tok, examples, steps, splits=(10, 16))


def train(
    folder: Path, tok, examples: list[tuple[str, str]], steps: int, splits: Sequence[int]
) -> None:
    """Train the 2-layer llama on ``(prompt, answer)`` texts, in batches of similar length cut
    at ``splits`` (indexes into the examples sorted by length), and save it in ``folder``."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama

    vocab = tok.get_vocab_size()
    config = {
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "rms_norm_eps": 1e-5,
        "vocab_size": vocab,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
        "rope_theta": 10000.0,
        "eos_token_id": tok.token_to_id("<|im_end|>"),
    }
    mx.random.seed(0)
    model = llama.Model(llama.ModelArgs(**{k: v for k, v in config.items() if k != "eos_token_id"}))
    # Train on whole rendered conversations; loss only on the assistant answers matters most,
    # but the whole sequence keeps it simple and still makes the answers come out right.
    seqs = []
    masks = []
    for prompt, answer in examples:
        full = prompt + answer
        ids = tok.encode(full).ids
        n_prompt = len(tok.encode(prompt).ids)
        seqs.append(ids)
        masks.append([0] * n_prompt + [1] * (len(ids) - n_prompt))
    pad = tok.token_to_id("<|endoftext|>")
    # Batches of similar length: padding everything to the longest answer triples the work.
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    buckets = []
    cuts = [0, *splits, len(order)]
    for chunk in (order[a:b] for a, b in itertools.pairwise(cuts)):
        width = max(len(seqs[i]) for i in chunk)
        xb = mx.array([seqs[i] + [pad] * (width - len(seqs[i])) for i in chunk])
        mb = mx.array([masks[i] + [0] * (width - len(masks[i])) for i in chunk], mx.float32)
        buckets.append((xb, mb))

    def loss_fn(model, x, m):
        logits = model(x[:, :-1])
        ce = nn.losses.cross_entropy(logits, x[:, 1:], reduction="none")
        weights = m[:, 1:] + 0.1  # answers weigh most; prompts a little, for fluent text
        return (ce * weights).sum() / weights.sum()

    step = nn.value_and_grad(model, loss_fn)
    schedule = optim.join_schedules(
        [optim.linear_schedule(1e-3, 1e-2, 20), optim.cosine_decay(1e-2, steps - 20, 1e-3)],
        [20],
    )
    opt = optim.Adam(learning_rate=schedule)
    for i in range(steps):
        x, m = buckets[i % len(buckets)]
        loss, grads = step(model, x, m)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "mlx"})
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "generation_config.json").write_text(
        json.dumps({"eos_token_id": config["eos_token_id"]})
    )
    (folder / "train_loss.txt").write_text(f"{loss.item():.4f}\n")


def build(dest: Path | None = None) -> Path:
    """The model folder, built once per version of this file."""
    return build_once("tiny-chat", fingerprint(), _make, dest)


def _make(folder: Path) -> None:
    _train(folder, _build_tokenizer(folder))


def build_once(
    name: str, version: str, make: Callable[[Path], None], dest: Path | None = None
) -> Path:
    """The folder ``name-version`` in the cache, made by ``make(folder)`` if it is not there
    yet (in a temporary folder renamed at the end, so a build cut short is never used)."""
    root = default_cache_root() if dest is None else dest
    folder = root / f"{name}-{version}"
    if (folder / "config.json").exists():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    try:
        make(work)
        try:
            work.rename(folder)
        except OSError:  # another process finished first
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return folder


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
