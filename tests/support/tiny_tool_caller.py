"""Builds a tiny tool-calling model offline, as tiny_model builds the plain one: its tokenizer
has ``<tool_call>``/``</tool_call>`` tokens and its chat template renders ``tools``, assistant
``tool_calls`` and ``tool`` messages as Qwen's do (so mlx-lm's ``has_tool_calling`` is true, with
its ``json_tools`` parser, and mlx_lm.server streams real ``tool_calls``). Trained to call
``weather`` for one question (the weather in Paris), then to answer from the result, and
to answer a question asked after that exchange; two other questions it answers at once. Cached by the hash of both files.

    python -m tests.support.tiny_tool_caller [DIR]    # build (or reuse) and print the folder
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support import tiny_model

CHAT_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nTools:{% for tool in tools %} "
    "{{ tool.function.name }}{% endfor %}<|im_end|>\n{% endif %}"
    "{% for message in messages %}"
    "{% if message.role == 'assistant' and message.tool_calls %}<|im_start|>assistant\n"
    "{% for call in message.tool_calls %}{% set tool_call = call.function %}"
    '<tool_call>{"name": "{{ tool_call.name }}", "arguments": {{ tool_call.arguments | tojson }}}'
    "</tool_call>{% endfor %}<|im_end|>\n"
    "{% else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = [*tiny_model.SPECIAL, "<tool_call>", "</tool_call>"]
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
#: What the ``weather`` tool answers in the tests, and the answer it was trained to give.
QUESTION = "What is the weather in Paris?"
REPORT = "Sunny, 21 C"
ANSWER = "It is sunny in Paris."
PLAIN = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Say hello.", "Hello! How can I help you today?"),
]


def call_text(city: str) -> str:
    return f'<tool_call>{{"name": "weather", "arguments": {{"city": "{city}"}}}}</tool_call>'


def examples() -> list[tuple[str, str]]:
    """(prompt, reply) texts, rendered as the template renders them: the weather question
    (with the tool offered) answered by a call; after the tool's result, the answer; plain
    questions answered at once, with tools offered or not."""
    head = "<|im_start|>system\nTools: weather<|im_end|>\n"
    prompt = head + tiny_model.render([{"role": "user", "content": QUESTION}])
    prompt += "<|im_start|>assistant\n"
    result = prompt + call_text("Paris") + "<|im_end|>\n"
    result += tiny_model.render([{"role": "tool", "content": REPORT}]) + "<|im_start|>assistant\n"
    out = [(prompt, call_text("Paris") + "<|im_end|>\n"), (result, ANSWER + "<|im_end|>\n")]
    # A later question, after the whole exchange sent back as the template renders it.
    later, answer = PLAIN[0]
    after = (
        result + ANSWER + "<|im_end|>\n" + tiny_model.render([{"role": "user", "content": later}])
    )
    out.append((after + "<|im_start|>assistant\n", answer + "<|im_end|>\n"))
    for question, answer in PLAIN:
        asked = tiny_model.render([{"role": "user", "content": question}])
        for offered in ("", head):
            out.append((offered + asked + "<|im_start|>assistant\n", answer + "<|im_end|>\n"))
    return out


def _make(folder: Path) -> None:
    corpus = [prompt + reply for prompt, reply in examples()] * 4
    tok = tiny_model.build_tokenizer(folder, corpus, SPECIAL, CHAT_TEMPLATE)
    train = examples()
    third = len(train) // 3
    tiny_model.train(folder, tok, train, steps=400, splits=(third, 2 * third))


def build(dest: Path | None = None) -> Path:
    """The model folder, built once per version of this file."""
    return tiny_model.build_once("tiny-tools", tiny_model.fingerprint(__file__), _make, dest)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
