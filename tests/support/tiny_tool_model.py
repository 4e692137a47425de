"""Builds a tiny tool-calling model offline, as tiny_model builds the plain one: its chat
template is Qwen2.5's (the tools listed in a system turn, a call written as
``<tool_call>{"name", "arguments"}</tool_call>``, each result in a ``<tool_response>`` of a user
turn), so mlx-lm reads it as a tool model (``TokenizerWrapper.has_tool_calling``, its
``json_tools`` parser) and mlx_lm.server streams its calls as ``tool_calls``. Trained to call
``weather`` for the weather in Paris or Rome when the tool is offered, to answer from the
tool's result after it (each city with either report: the answer follows the result, not the
question), and to answer other questions, or the weather without the tool, at once. Cached by
the hash of both files.

    python -m tests.support.tiny_tool_model [DIR]    # build (or reuse) and print the folder
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.support import tiny_model

# Qwen2.5-Instruct's template (its calls, results and history), less its default system prompt
# and instructions, and with each tool's signature, ``weather(city)``, where Qwen lists the
# tool's JSON schema: the 2-layer model learns its calls far less surely behind 80 more tokens.
CHAT_TEMPLATE = (
    "{%- if tools %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] + '\\n\\n' }}{%- endif %}"
    "{{- '# Tools\\n<tools>' }}"
    "{%- for tool in tools %}{{- '\\n' + tool.function.name + '(' }}"
    "{{- tool.function.parameters.properties | join(', ') }}{{- ')' }}{%- endfor %}"
    "{{- '\\n</tools><|im_end|>\\n' }}"
    "{%- elif messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if (message.role == 'user') or (message.role == 'system' and not loop.first)"
    " or (message.role == 'assistant' and not message.tool_calls) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- elif message.role == 'assistant' %}"
    "{{- '<|im_start|>' + message.role }}"
    "{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}"
    "{%- for tool_call in message.tool_calls %}"
    "{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}"
    '{{- \'\\n<tool_call>\\n{"name": "\' }}{{- tool_call.name }}{{- \'", "arguments": \' }}'
    "{{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}"
    "{%- endfor %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- elif message.role == 'tool' %}"
    "{%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}"
    "{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}"
    "{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}"
    "{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
SPECIAL = [*tiny_model.SPECIAL, "<tool_call>", "</tool_call>"]


def weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: the city's name
    """
    return REPORTS.get(city, "No report for that city.")


#: ``weather`` as the OpenAI ``tools`` entry that ``tools.function_tool(weather)`` makes: the
#: model was trained with these very words, so a test may offer the function itself.
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {
            "additionalProperties": False,
            "properties": {"city": {"description": "the city's name", "type": "string"}},
            "required": ["city"],
            "type": "object",
        },
    },
}
#: What the ``weather`` tool answers in the tests (``weather``), and the other report; the
#: answer the model was trained to give after each: read from the result, not the question.
REPORTS = {"Paris": "sunny, 21 C", "Rome": "rainy, 14 C"}
OTHER = {"Paris": "rainy, 14 C", "Rome": "sunny, 21 C"}
#: The answer repeats the report word for word: a copy, which the tiny model learns well.
ANSWERS = {report: f"It is {report}." for report in REPORTS.values()}
#: The weather asked without the tool offered.
NO_TOOL = "I cannot check the weather without a tool."
#: Questions answered at once, with the tool offered or not.
PLAIN = tiny_model.PAIRS[0], tiny_model.PAIRS[3]


def question(city: str) -> str:
    return f"What is the weather in {city}?"


def call(city: str, call_id: str = "call_0") -> dict[str, Any]:
    """The call as an OpenAI assistant message carries it (arguments as JSON text)."""
    arguments = json.dumps({"city": city})
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "weather", "arguments": arguments},
    }


def call_text(city: str) -> str:
    """The call as the model writes it (and the template renders it in the history)."""
    body = json.dumps({"name": "weather", "arguments": {"city": city}})
    return f"<tool_call>\n{body}\n</tool_call>"


def render(messages: list[dict[str, Any]], tools: list | None) -> str:
    """The prompt as the tokenizer templates it: transformers' renderer (its own ``tojson``);
    call arguments as dicts, as mlx-lm's server and engine hand them to a template."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(
        [messages], tools=tools, chat_template=CHAT_TEMPLATE, add_generation_prompt=True
    )
    return rendered[0]


def examples() -> list[tuple[str, str]]:
    """(prompt, reply) texts, with no system prompt (the app's default): the weather asked with
    the tool (a call), after its result (the answer from it, for either report), and without
    the tool; plain questions with and without the tool."""
    tools = [WEATHER]
    out = []
    for city in REPORTS:
        asked = [{"role": "user", "content": question(city)}]
        out.append((render(asked, tools), call_text(city) + "<|im_end|>\n"))
        out.append((render(asked, None), NO_TOOL + "<|im_end|>\n"))
        made = {**call(city), "function": {"name": "weather", "arguments": {"city": city}}}
        for report in (REPORTS[city], OTHER[city]):
            after = [
                *asked,
                {"role": "assistant", "content": None, "tool_calls": [made]},
                {"role": "tool", "tool_call_id": "call_0", "content": report},
            ]
            out.append((render(after, tools), ANSWERS[report] + "<|im_end|>\n"))
    for q, a in PLAIN:
        asked = [{"role": "user", "content": q}]
        out.append((render(asked, tools), a + "<|im_end|>\n"))
        out.append((render(asked, None), a + "<|im_end|>\n"))
    return out


def _train(folder: Path, tok, examples: list[tuple[str, str]], steps: int) -> None:
    """tiny_model's 2-layer llama, trained otherwise than ``tiny_model.train``: all examples in
    each step, a gentler learning rate (3e-3 at most) and almost no loss on the prompt. With
    ``tiny_model.train``'s recipe the model never learnt to tell Paris from Rome, nor one report
    from the other (it gave the same call and answer whatever was asked); with this one, every
    example comes out right."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama

    config = {
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "rms_norm_eps": 1e-5,
        "vocab_size": tok.get_vocab_size(),
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
        "rope_theta": 10000.0,
        "eos_token_id": tok.token_to_id("<|im_end|>"),
    }
    mx.random.seed(0)
    model = llama.Model(llama.ModelArgs(**{k: v for k, v in config.items() if k != "eos_token_id"}))
    pad = tok.token_to_id("<|endoftext|>")
    seqs, masks = [], []
    for prompt, answer in examples:
        ids = tok.encode(prompt + answer).ids
        n = len(tok.encode(prompt).ids)
        seqs.append(ids)
        masks.append([0.02] * n + [1.0] * (len(ids) - n))
    width = max(len(s) for s in seqs)
    x = mx.array([s + [pad] * (width - len(s)) for s in seqs])
    m = mx.array([k + [0.0] * (width - len(k)) for k in masks])

    def loss_fn(model, x, m):
        ce = nn.losses.cross_entropy(model(x[:, :-1]), x[:, 1:], reduction="none")
        return (ce * m[:, 1:]).sum() / m[:, 1:].sum()

    step = nn.value_and_grad(model, loss_fn)
    peak = 3e-3
    schedule = optim.join_schedules(
        [
            optim.linear_schedule(peak / 10, peak, 20),
            optim.cosine_decay(peak, steps - 20, peak / 10),
        ],
        [20],
    )
    opt = optim.Adam(learning_rate=schedule)
    for _ in range(steps):
        loss, grads = step(model, x, m)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    weights = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "mlx"})
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    eos = {"eos_token_id": config["eos_token_id"]}
    (folder / "generation_config.json").write_text(json.dumps(eos))
    (folder / "train_loss.txt").write_text(f"{loss.item():.4f}\n")


def _make(folder: Path) -> None:
    train = examples()
    corpus = [prompt + reply for prompt, reply in train] * 4
    tok = tiny_model.build_tokenizer(folder, corpus, SPECIAL, CHAT_TEMPLATE)
    _train(folder, tok, train, steps=500)


def build(dest: Path | None = None) -> Path:
    """The model folder, built once per version of this file."""
    return tiny_model.build_once("tiny-tools", tiny_model.fingerprint(__file__), _make, dest)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
