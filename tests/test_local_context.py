"""A local model's context follows the conversation: the weights load once, at
``[app] local_context_tokens``; a longer conversation (or one opened later, or the quick
prompt's) grows the context on the engine's thread, with the memory checked again for it; what
the memory or the model's window cannot hold loses its oldest turns for that reply (they stay in
the chat), and the user is told why and what to do. Real engine, tiny model, the real memory
check; only the machine's memory figure is set where a test needs a small machine."""

from __future__ import annotations

import asyncio
import threading

import pytest

from desktop_chat import engine as engine_module
from desktop_chat.engine import MlxEngine, ModelTooLarge
from desktop_chat.errors import ProviderError
from desktop_chat.events import Finished, TextDelta
from desktop_chat.params import GenerationParams
from desktop_chat.providers.mlx_local import MlxLocalProvider

pytestmark = pytest.mark.slow
GREEDY = GenerationParams(temperature=0.0, max_tokens=64)
#: The tiny model's KV cache per token: 2 layers × 2 heads × 16 dims × keys and values × 2 bytes.
KV_PER_TOKEN = 512


@pytest.fixture
def engine():
    e = MlxEngine().start()
    yield e
    e.shutdown()
    assert not any(t.name == "mlx-engine" for t in threading.enumerate())


@pytest.fixture
def checks(monkeypatch):
    """The contexts the real memory check is asked about."""
    asked: list[int] = []
    real = engine_module.check_fits

    def check_fits(model_dir, context, kv_bits=None):
        asked.append(context)
        return real(model_dir, context, kv_bits)

    monkeypatch.setattr(engine_module, "check_fits", check_fits)
    return asked


def machine_with_room_for(monkeypatch, model_dir, tokens: int) -> None:
    """A machine whose memory holds the weights and ``tokens`` of KV cache, no more."""
    weights, _ = engine_module.estimate_bytes(model_dir, 1)
    monkeypatch.setattr(
        engine_module, "memory_limit_bytes", lambda: weights + tokens * KV_PER_TOKEN
    )


def story_chat(pairs: int) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    for _ in range(pairs):
        messages += [
            {"role": "user", "content": "Tell me a story."},
            {"role": "assistant", "content": "Once upon a time there was a robot."},
        ]
    return [*messages, {"role": "user", "content": "What is the capital of France?"}]


def ask(provider, messages) -> tuple[str, Finished]:
    async def go():
        return [e async for e in provider.stream(messages, "tiny", GREEDY)]

    events = asyncio.run(go())
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return text, next(e for e in events if isinstance(e, Finished))


def test_a_longer_conversation_grows_the_context_after_a_fresh_memory_check(
    engine, checks, tiny_model_dir
):
    """Loaded for 160 tokens, asked with a 350-token chat: nothing is left out, the memory is
    checked again for what the chat needs, and the weights are not loaded again."""
    engine.load(tiny_model_dir, 160).result(60)
    weights = engine._loaded.model
    messages = story_chat(12)
    provider = MlxLocalProvider(engine, tiny_model_dir, 160)
    text, final = ask(provider, messages)
    needed = final.usage.prompt_tokens + GREEDY.max_tokens
    assert final.dropped_messages == 0, "the whole conversation reached the model"
    assert final.usage.prompt_tokens > 160
    assert engine.info.context_length == needed == final.extra["context_tokens"]
    assert checks == [160, needed], "the memory was checked again, for the bigger context"
    assert engine._loaded.model is weights, "the weights stayed loaded"
    assert final.context_note() is None and text
    assert len(messages) == 12 * 2 + 2, "the caller's conversation is untouched"


def test_what_the_memory_cannot_hold_loses_its_oldest_turns_and_says_why(
    engine, tiny_model_dir, monkeypatch
):
    """The memory holds 300 tokens of context: the context grows to exactly that, the oldest
    turns go (never the system prompt, never the question), and the reply says what happened
    and what to do."""
    engine.load(tiny_model_dir, 160).result(60)
    machine_with_room_for(monkeypatch, tiny_model_dir, 300)
    text, final = ask(MlxLocalProvider(engine, tiny_model_dir, 160), story_chat(12))
    assert engine.info.context_length == 300
    assert final.dropped_messages > 0 and final.usage.prompt_tokens <= 300 - GREEDY.max_tokens
    loaded = engine._loaded
    sent = loaded.tokenizer.decode(loaded.cache_tokens[: final.usage.prompt_tokens])
    assert sent.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
    assert sent.endswith("What is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    assert sent.count("Tell me a story.") == 12 - (final.dropped_messages + 1) // 2 and text
    message, hint = final.context_note()
    assert message == (
        f"This conversation no longer fits in memory: {tiny_model_dir.name} can hold 300 tokens "
        f"of it on this machine. Its {final.dropped_messages} oldest messages were left out of "
        "this reply; they stay in the chat."
    )
    assert hint.startswith("Start a new chat") and "smaller" in hint
    assert final.as_metadata()["context_limit"] == "memory", "stored with the reply"


def test_a_conversation_past_the_models_own_window_says_the_window_is_why(engine, tiny_model_dir):
    engine.load(tiny_model_dir, 512).result(60)
    text, final = ask(MlxLocalProvider(engine, tiny_model_dir, 512), story_chat(80))
    assert engine.info.context_length == 2048 == engine.info.window
    assert final.dropped_messages > 0 and text
    message, hint = final.context_note()
    assert f"longer than {tiny_model_dir.name}'s 2,048-token window" in message
    assert "they stay in the chat" in message and "longer window" in hint


def test_a_single_message_past_what_the_memory_holds_is_refused_with_a_sentence(
    engine, tiny_model_dir, monkeypatch
):
    engine.load(tiny_model_dir, 160).result(60)
    machine_with_room_for(monkeypatch, tiny_model_dir, 300)
    question = [{"role": "user", "content": "Tell me a story. " * 80}]
    with pytest.raises(ProviderError) as refused:
        ask(MlxLocalProvider(engine, tiny_model_dir, 160), question)
    assert "the memory holds 236 beside a 64-token reply" in refused.value.message
    assert "Shorten the message" in refused.value.hint
    assert engine.info.context_length == 300, "the model is still loaded, at what fits"


def test_a_raised_setting_on_a_loaded_model_is_checked_again_without_a_reload(
    engine, checks, tiny_model_dir, monkeypatch
):
    engine.load(tiny_model_dir, 512).result(60)
    weights = engine._loaded.model
    assert engine.load(tiny_model_dir, 1024).result(60).context_length == 1024
    assert checks == [512, 1024] and engine._loaded.model is weights
    machine_with_room_for(monkeypatch, tiny_model_dir, 1500)
    with pytest.raises(ModelTooLarge) as refused:
        engine.load(tiny_model_dir, 2048).result(60)
    assert "2,048-token context" in str(refused.value) and "can give it" in str(refused.value)
    assert engine.info.context_length == 1024 and engine._loaded.model is weights, "kept"


def test_the_python_api_grows_the_context_for_a_long_chat(tiny_model_dir, _isolated_home):
    """``LLMChat`` on a local model loaded for 512 tokens (``[app] local_context_tokens``): a
    1,200-token question is answered, not refused, and the reply says the context it held."""
    from desktop_chat.api import LLMChat
    from tests.support.settings import write_config

    write_config(_isolated_home, "[app]\nlocal_context_tokens = 512\n")
    chat = LLMChat(model=str(tiny_model_dir), temperature=0.0, max_tokens=64, system_prompt="")
    try:
        reply = chat.chat_response("Tell me a story. " * 200 + "What is the capital of France?")
        assert reply.success, reply.error
        assert reply.metadata["dropped_messages"] == 0
        assert reply.metadata["context_tokens"] >= reply.metadata["usage"]["prompt_tokens"] + 64
        assert reply.metadata["usage"]["prompt_tokens"] > 1000
    finally:
        chat.close()


def test_llmchat_grows_the_context_then_says_what_the_window_could_not_hold(
    tiny_model_dir, _isolated_home
):
    """``llmchat`` on a model loaded for 512 tokens: a 1,300-token question is answered; a
    second one takes the chat past the model's 2,048-token window, and the reply says that its
    oldest messages were left out, and what to do."""
    from tests.support.settings import write_config
    from tests.test_llmchat import PROMPT, finish, spawn

    write_config(_isolated_home, "[app]\nlocal_context_tokens = 512\n")
    child = spawn([str(tiny_model_dir), "--temperature", "0", "--max-tokens", "64"], _isolated_home)
    child.expect_exact(PROMPT)
    long = "Tell me a story. " * 220  # one line, under the terminal's 4,096 characters
    child.sendline(long + "Say hello.")
    child.expect(r"\[\d+\.\d\d s · [\d.]+ tok/s · \d+ tokens\]")
    assert "The message is" not in child.before, "answered, not refused"
    child.expect_exact(PROMPT)
    child.sendline(long + "What is the capital of France?")
    # The first question goes (one message: the engine leaves out as little as it can).
    child.expect(
        rf"\[This conversation is longer than {tiny_model_dir.name}'s 2,048-token "
        r"window\. Its oldest message was left out of this reply; it stays in the "
        r"chat\. Start a new chat"
    )
    child.expect_exact(PROMPT)
    finish(child)
    assert "Traceback" not in child.before
