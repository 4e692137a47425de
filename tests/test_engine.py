"""The local MLX engine on the tiny model: one owning thread, stop, prompt cache, memory."""

from __future__ import annotations

import asyncio
import threading

import pytest

from desktop_chat.config import Settings
from desktop_chat.engine import MlxEngine, ModelTooLarge
from desktop_chat.events import Finished, TextDelta
from desktop_chat.models import local_choice
from desktop_chat.params import GenerationParams
from desktop_chat.providers.mlx_local import MlxLocalProvider
from desktop_chat.session import ChatSession

pytestmark = pytest.mark.slow
GREEDY = GenerationParams(temperature=0.0, max_tokens=64)


@pytest.fixture
def engine():
    e = MlxEngine().start()
    yield e
    e.shutdown()
    assert not any(t.name == "mlx-engine" for t in threading.enumerate())


def generate(engine, messages, params=GREEDY, stop_after=None):
    events, stop = [], threading.Event()

    def on_event(event):
        events.append(event)
        if stop_after is not None and sum(isinstance(e, TextDelta) for e in events) >= stop_after:
            stop.set()

    assert engine.generate(messages, params, on_event, stop).result(60) is None
    finished = [e for e in events if isinstance(e, Finished)]
    return events, finished[-1] if finished else None


def user(text):
    return [{"role": "user", "content": text}]


def text_of(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def session_for(model_dir, store=None, params=GREEDY) -> ChatSession:
    """A session that asks the local model in ``model_dir`` with ``params``."""
    session = ChatSession(store, Settings(defaults=params))
    session.set_model(local_choice(model_dir))
    return session


def test_provider_streams_a_reply_from_the_local_model(engine, tiny_model_dir):
    provider = MlxLocalProvider(engine, tiny_model_dir)
    session = session_for(tiny_model_dir)

    async def go():
        turn = session.send("What is the capital of France?")
        return [e async for e in turn.events(provider)]

    events = asyncio.run(go())
    assert text_of(events) == "The capital of France is Paris."
    final = events[-1]
    assert isinstance(final, Finished) and final.finish_reason == "stop" and final.provider == "mlx"
    assert final.usage.prompt_tokens > 5 and final.usage.completion_tokens > 3
    assert final.ttft_s > 0 and final.tokens_per_s > 0
    assert final.extra["prompt_tps"] > 0 and final.extra["peak_memory_gb"] > 0
    assert final.dropped_messages == 0
    assert engine.info.name == tiny_model_dir.name and engine.info.context_length == 2048
    assert session.conversation.messages[-1].content == "The capital of France is Paris."


def test_mlx_work_only_runs_on_the_engine_thread(engine, tiny_model_dir):
    engine.load(tiny_model_dir).result(60)
    with pytest.raises(AssertionError, match="engine thread"):
        engine._generate(user("hi"), GREEDY, lambda e: None, threading.Event())
    # Generating from several caller threads at once is safe: jobs queue on the one thread.
    results = [None] * 3

    def ask(i):
        results[i] = text_of(generate(engine, user("Say hello."))[0])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.startswith("Hello!") for r in results)


def test_stop_within_one_token_and_the_engine_stays_usable(engine, tiny_model_dir):
    engine.load(tiny_model_dir).result(60)
    events, _ = generate(
        engine, user("Tell me a story."), GREEDY.replace(max_tokens=200), stop_after=3
    )
    assert sum(isinstance(e, TextDelta) for e in events) == 3
    assert events[-1].finish_reason == "cancelled"
    events, _ = generate(engine, user("What is the capital of France?"))
    assert text_of(events) == "The capital of France is Paris."


def test_stop_during_prefill_abandons_the_prompt(engine, tiny_model_dir):
    engine.load(tiny_model_dir).result(60)
    long_prompt = "Tell me a story. " * 150
    stop = threading.Event()
    stop.set()  # pressed before the first prefill step finished
    events = []
    engine.generate(user(long_prompt), GREEDY, events.append, stop).result(60)
    assert events == [], "no reply, not even a Finished"
    events, _ = generate(engine, user("Say hello."))
    assert text_of(events).startswith("Hello!")


def test_prompt_cache_reuses_history_and_survives_edits(engine, tiny_model_dir):
    engine.load(tiny_model_dir).result(60)
    first = user("What is the capital of France?")

    def cached(final):
        return final.extra["cached_prompt_tokens"]

    events, final1 = generate(engine, first)
    assert cached(final1) == 0
    turn2 = [*first, {"role": "assistant", "content": text_of(events)}, *user("Say hello.")]
    _, final2 = generate(engine, turn2)
    # Everything up to the end of the first reply was already in the cache.
    assert cached(final2) >= final1.usage.prompt_tokens
    assert final2.usage.prompt_tokens - cached(final2) < final1.usage.prompt_tokens
    # Edit the first message: only the common prefix is reused, and the answer is right.
    edited = user("What is the capital of Italy?")
    events, final3 = generate(engine, edited)
    assert 0 < cached(final3) < final1.usage.prompt_tokens
    assert text_of(events).startswith("The capital of")
    # Regenerate the same prompt: all but the last prompt token comes from the cache.
    _, final4 = generate(engine, edited)
    assert cached(final4) == final4.usage.prompt_tokens - 1


def test_a_long_chat_drops_its_oldest_turns_but_keeps_the_system_prompt(
    engine, tiny_model_dir, monkeypatch
):
    import desktop_chat.engine as engine_module

    # A machine whose memory holds 160 tokens of context beside the weights: the context cannot
    # grow for the long chat (tests/test_local_context.py), so its oldest turns go.
    weights, per_token = engine_module.estimate_bytes(tiny_model_dir, 1)
    monkeypatch.setattr(engine_module, "memory_limit_bytes", lambda: weights + 160 * per_token)
    engine.load(tiny_model_dir, context_length=160).result(60)
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    for _ in range(6):
        messages += [
            *user("Tell me a story."),
            {"role": "assistant", "content": "Once upon a time there was a robot."},
        ]
    messages += user("What is the capital of France?")
    events, final = generate(engine, messages, GREEDY.replace(max_tokens=32))
    # The reply says what was left out, and what was sent fits beside the reply.
    assert final.dropped_messages > 0 and final.usage.prompt_tokens <= 160 - 32
    assert text_of(events)


def test_memory_check_refuses_with_numbers_and_unload_frees_memory(
    engine, tiny_model_dir, monkeypatch
):
    import desktop_chat.engine as engine_module

    # A context is never counted past the model's own window (tests/test_memory_check.py):
    # what does not fit here is a machine with less memory than the weights.
    monkeypatch.setattr(engine_module, "memory_limit_bytes", lambda: 10_000)
    with pytest.raises(ModelTooLarge) as info:
        engine.load(tiny_model_dir, context_length=10**10).result(60)
    assert "GB" in str(info.value) and "smaller" in info.value.hint
    monkeypatch.undo()
    before = engine.active_memory().result()
    engine.load(tiny_model_dir).result(60)
    generate(engine, user("Say hello."))
    loaded = engine.active_memory().result()
    assert loaded > before
    engine.unload().result()
    assert engine.active_memory().result() < loaded
    assert engine.info is None


def test_a_process_that_used_the_engine_exits_cleanly_every_time(tiny_model_dir):
    """Without freeing the engine thread's MLX streams, about one exit in five aborted with
    "terminate called without an active exception"."""
    import subprocess
    import sys

    code = (
        "import sys, threading\n"
        "from desktop_chat.engine import MlxEngine\n"
        "from desktop_chat.params import GenerationParams\n"
        "e = MlxEngine().start(); e.load(sys.argv[1]).result()\n"
        "e.generate([{'role': 'user', 'content': 'Say hello.'}], GenerationParams(max_tokens=8),"
        " lambda ev: None, threading.Event()).result()\n"
        "e.shutdown()\n"
    )
    for _ in range(8):
        run = subprocess.run(
            [sys.executable, "-c", code, str(tiny_model_dir)], capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr[-500:]


def test_damaged_model_files_give_a_clear_error_and_the_engine_stays_usable(
    engine, tiny_model_dir, tmp_path
):
    import shutil

    from desktop_chat.errors import ProviderError

    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_model_dir, damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a partial file
    with pytest.raises(ProviderError) as info:
        engine.load(damaged).result(60)
    assert "could not be loaded" in str(info.value) and "download it again" in info.value.hint
    with pytest.raises(ProviderError, match="not a model folder"):
        engine.load(tmp_path).result(60)
    engine.load(tiny_model_dir).result(60)
    events, _ = generate(engine, user("Say hello."))
    assert text_of(events).startswith("Hello!")


@pytest.mark.parametrize(
    ("stop", "reply", "finish"),
    [
        (("Paris",), "The capital of France is ", "stop"),
        (("France is P", "zzz"), "The capital of ", "stop"),  # spans several pieces
        ((".X",), "The capital of France is Paris.", "stop"),  # "." waited, then was shown
    ],
)
def test_a_stop_string_ends_the_reply_and_is_never_shown_nor_stored(
    engine, tiny_model_dir, tmp_path, stop, reply, finish
):
    from desktop_chat.store import Store

    provider = MlxLocalProvider(engine, tiny_model_dir)
    store = Store.open(tmp_path / "conversations.sqlite3")
    session = session_for(tiny_model_dir, store, GREEDY.replace(stop=stop))

    async def go():
        turn = session.send("What is the capital of France?")
        return [e async for e in turn.events(provider)]

    events = asyncio.run(go())
    assert text_of(events) == reply, "what the user is shown"
    assert events[-1].finish_reason == finish
    stored = [m.content for m in store.branch(session.conversation_id)]
    assert stored == ["What is the capital of France?", reply], "what is kept"
    store.close()
