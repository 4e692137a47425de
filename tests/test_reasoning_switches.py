"""Which models the window offers the Think switch and the effort for (``reasoning_switches``):
a local model by what its tokenizer and template say (the tiny models, loaded by the real
engine), a server's by its name or by the thinking it has sent."""

from __future__ import annotations

import pytest

from desktop_chat.engine import MlxEngine
from desktop_chat.reasoning_switches import Switches, remote_switches


def test_a_local_model_says_whether_it_thinks_when_it_loads(
    tiny_thinking_model_dir, tiny_model_dir
):
    engine = MlxEngine().start()
    try:
        thinking = engine.load(tiny_thinking_model_dir).result(timeout=120)
        assert (thinking.thinks, thinking.takes_effort) == (True, False)
        plain = engine.load(tiny_model_dir).result(timeout=120)
        assert (plain.thinks, plain.takes_effort) == (False, False)
    finally:
        engine.shutdown()


@pytest.mark.parametrize(
    ("base_url", "model", "reasoned", "switches"),
    [
        ("http://127.0.0.1:8080/v1", "Qwen/Qwen3-8B", False, Switches(think=True)),
        ("http://127.0.0.1:8080/v1", "mlx-community/GLM-4.6-4bit", False, Switches(think=True)),
        ("http://127.0.0.1:8080/v1", "llama-3.2-3b", False, Switches()),
        # What a server has sent tells: a model of any name that thought before.
        ("http://127.0.0.1:8080/v1", "/models/my-finetune", True, Switches(think=True)),
        # Families that always think have no off switch: nothing to show.
        ("http://127.0.0.1:8080/v1", "deepseek-r1-distill-qwen-7b", True, Switches()),
        ("http://127.0.0.1:8080/v1", "Qwen/QwQ-32B", True, Switches()),
        ("http://127.0.0.1:8080/v1", "Qwen3-30B-A3B-Thinking-2507", True, Switches()),
        ("http://127.0.0.1:8080/v1", "magistral-small", True, Switches()),
        # Thinking set by effort.
        ("http://127.0.0.1:1234/v1", "openai/gpt-oss-20b", True, Switches(effort=True)),
        ("https://api.openai.com/v1", "o4-mini", False, Switches(effort=True)),
        ("https://api.openai.com/v1", "gpt-5", False, Switches(effort=True)),
        ("https://api.openai.com/v1", "gpt-4o", True, Switches()),
        # OpenAI's own API takes no chat-template arguments.
        ("https://api.openai.com/v1", "qwen3-8b", True, Switches()),
    ],
)
def test_which_servers_models_are_offered_the_switches(base_url, model, reasoned, switches):
    assert remote_switches(base_url, model, reasoned) == switches
