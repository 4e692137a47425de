"""Builds a tiny reasoning model offline, as tiny_model builds the plain one: its tokenizer has
``<think>``/``</think>`` tokens (so mlx-lm's ``TokenizerWrapper.has_thinking`` is true, and
mlx_lm.server sends its thought in the ``reasoning`` field), its chat template honours
``enable_thinking`` as Qwen3's does, and it is trained to answer with a short thought, then
the answer; with thinking off, with the answer alone. Cached by the hash of both files.

    python -m tests.support.tiny_thinking_model [DIR]    # build (or reuse) and print the folder
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

from tests.support import tiny_model

THINK_OFF = "<think>\n\n</think>\n\n"
# Qwen3's way: with thinking on the model opens the thought itself; off, the template writes an
# empty one. ``OPENED_TEMPLATE`` is DeepSeek-R1's and QwQ's way: the prompt opens the thought,
# and the reply starts inside it.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}" + THINK_OFF + "{% endif %}"
    "{% endif %}"
)
OPENED_TEMPLATE = CHAT_TEMPLATE.replace(
    "{% endif %}{% endif %}", "{% else %}<think>\n{% endif %}{% endif %}"
)
SPECIAL = [*tiny_model.SPECIAL, "<think>", "</think>"]

#: (question, thought, answer)
TRIPLES: list[tuple[str, str, str]] = [
    (
        "What is the capital of France?",
        "The user asks about France. Its capital is Paris.",
        "The capital of France is Paris.",
    ),
    ("Say hello.", "A greeting. I will greet back.", "Hello! How can I help you today?"),
    ("What is two plus two?", "Two plus two makes four.", "Two plus two is four."),
    ("Who are you?", "They ask who I am. I am a small model.", "I am a tiny thinking model."),
]


def thought_of(thought: str, answer: str) -> str:
    """A reply as the model writes it with thinking on."""
    return f"<think>\n{thought}\n</think>\n\n{answer}"


def examples() -> list[tuple[str, str]]:
    """(prompt, reply) texts: each question with thinking on and off, with and without a
    system prompt, and after an earlier turn (whose thought is never in the history)."""
    out = []
    first_q, _, first_a = TRIPLES[0]
    for question, thought, answer in TRIPLES:
        histories = [[], [{"role": "system", "content": tiny_model.SYSTEM}]]
        if question != first_q:
            earlier = [
                {"role": "user", "content": first_q},
                {"role": "assistant", "content": first_a},
            ]
            histories.append(earlier)
        for history in histories:
            prompt = tiny_model.render([*history, {"role": "user", "content": question}])
            prompt += "<|im_start|>assistant\n"
            out.append((prompt, thought_of(thought, answer) + "<|im_end|>\n"))
            out.append((prompt + THINK_OFF, answer + "<|im_end|>\n"))
    return out


def _make(folder: Path) -> None:
    corpus = [prompt + reply for prompt, reply in examples()] * 4
    tok = tiny_model.build_tokenizer(folder, corpus, SPECIAL, CHAT_TEMPLATE)
    train = examples()
    third = len(train) // 3
    tiny_model.train(folder, tok, train, steps=220, splits=(third, 2 * third))


def build(dest: Path | None = None) -> Path:
    """The model folder (thinking opened by the model, as Qwen3), built once per version."""
    return tiny_model.build_once("tiny-think", tiny_model.fingerprint(__file__), _make, dest)


def opened(folder: Path) -> Path:
    """The same model with DeepSeek-R1's kind of template, which opens the thought in the
    prompt: a sibling folder sharing the weights, made once."""
    return twin(folder, "opened", chat_template=OPENED_TEMPLATE)


def twin(folder: Path, name: str, **tokenizer_config) -> Path:
    """A copy of the model folder with ``tokenizer_config`` changed, made once."""
    twin = folder.with_name(f"{folder.name}-{name}")
    if (twin / "config.json").exists():
        return twin
    work = Path(tempfile.mkdtemp(prefix=twin.name + "-", dir=folder.parent)) / "model"
    shutil.copytree(folder, work)
    config = json.loads((work / "tokenizer_config.json").read_text())
    config.update(tokenizer_config)
    (work / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    with contextlib.suppress(OSError):  # another process finished first
        work.rename(twin)
    shutil.rmtree(work.parent, ignore_errors=True)
    return twin


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
