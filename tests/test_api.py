"""The public Python API against the real mlx_lm.server."""

from __future__ import annotations

import asyncio
import time

import pytest

from desktop_chat import (
    AsyncChatManager,
    AsyncLLMChat,
    ChatManager,
    ChatResponse,
    LLMChat,
    LLMConfig,
)
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def chat(mlx_server):
    c = LLMChat(
        base_url=mlx_server.base_url,
        model=mlx_server.model_id,
        temperature=0.0,
        max_tokens=64,
        system_prompt="",
    )
    yield c
    c.close()


def test_ask_returns_text_and_keeps_no_history(chat):
    assert chat.ask("What is the capital of France?") == "The capital of France is Paris."
    assert chat.history == []


def test_ask_streams_pieces(chat):
    pieces = list(chat.ask("Say hello.", stream=True))
    assert len(pieces) > 2 and "".join(pieces).startswith("Hello!")


def test_chat_keeps_history_and_clear_keeps_the_system_prompt(mlx_server):
    chat = LLMChat(
        base_url=mlx_server.base_url,
        model=mlx_server.model_id,
        temperature=0.0,
        max_tokens=64,
        system_prompt="You are a helpful assistant.",
    )
    first = "".join(chat.chat("What is the capital of France?"))
    assert first.startswith("The capital of")
    second = chat.chat("Say hello.", stream=False)
    history = chat.history
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]
    assert history[2]["content"] == first and history[4]["content"] == second
    history.append({"role": "user", "content": "tamper"})
    assert len(chat.history) == 5, "history is a copy"
    chat.clear_history()
    assert chat.history == [{"role": "system", "content": "You are a helpful assistant."}]
    chat.update_system_prompt("Be terse.")
    assert chat.history[0]["content"] == "Be terse."
    chat.close()


def test_breaking_out_of_a_stream_stops_it_and_keeps_the_partial_reply(chat):
    for i, _piece in enumerate(chat.chat("Tell me a story.", stream=True)):
        if i == 2:
            break
    history = chat.history
    assert history[-1]["role"] == "assistant" and 0 < len(history[-1]["content"]) < 60
    assert chat.ask("Say hello.").startswith("Hello"), "the chat is usable afterwards"


def test_chat_response_carries_figures_or_an_error(chat):
    ok = chat.ask_response("What is the capital of France?")
    assert isinstance(ok, ChatResponse) and ok.success and not ok.is_error
    assert ok.content == "The capital of France is Paris."
    assert ok.metadata["usage"]["completion_tokens"] > 3 and ok.metadata["ttft_s"] > 0
    assert ok.metadata["tokens_per_s"] > 0 and ok.metadata["model"]
    bad = LLMChat(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m").ask_response("hi")
    assert bad.is_error and "Could not connect" in bad.error and bad.content == ""
    empty = chat.ask_response("   ")
    assert empty.is_error and "empty" in empty.error


def test_a_cut_stream_returns_the_partial_text_in_the_error_response():
    with FakeOpenAI() as fake:
        fake.script = [Step(pieces=["Once upon ", "a time"], ending="cut")]
        r = LLMChat(base_url=fake.base_url, model="m").chat_response("story")
        assert r.is_error and r.content == "Once upon a time" and "stopped" in r.error


def test_batch_runs_concurrently_and_answers_in_order(chat):
    prompts = ["What is the capital of France?", "Say hello.", "List three colours.", "   "]
    answers = chat.batch(prompts, concurrency=3)
    assert [a.success for a in answers] == [True, True, True, False]
    assert answers[0].content == "The capital of France is Paris."
    assert answers[1].content.startswith("Hello")
    assert "red" in answers[2].content


def test_health(chat):
    h = chat.health()
    assert h.ok and h.models
    dead = LLMChat(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m").health()
    assert not dead.ok and "Could not connect" in dead.detail


def test_config_object_and_validation(mlx_server):
    cfg = LLMConfig(
        base_url=mlx_server.base_url,
        api_key="secret-k",
        model=mlx_server.model_id,
        temperature=0.0,
        max_tokens=32,
    )
    d = cfg.to_dict()
    assert d["model"] == mlx_server.model_id and d["api_key"] == "secret-k"
    assert cfg.to_dict(include_key=False)["api_key"] is None
    assert "secret-k" not in repr(cfg) and "secret-k" not in str(cfg)
    with pytest.raises(ValueError, match="temperature"):
        LLMChat(base_url=mlx_server.base_url, model="m", temperature=5)
    with pytest.raises(TypeError, match="unknown option"):
        LLMChat(base_url=mlx_server.base_url, model="m", temprature=0.1)


def test_chat_manager_keeps_chats_apart_and_expires_idle_ones(mlx_server):
    manager = ChatManager(
        base_url=mlx_server.base_url,
        model=mlx_server.model_id,
        temperature=0.0,
        max_tokens=32,
        timeout=0.5,
        system_prompt="",
    )
    a = manager.get_chat("a", stream=False)
    b = manager.get_chat("b")
    assert manager.get_chat("a") is a and a is not b
    a.chat("Say hello.")
    assert len(a.history) == 2 and b.history == []
    assert manager.remove_chat("b") and not manager.remove_chat("b")
    time.sleep(0.6)
    assert manager.chat_ids == []
    assert manager.get_chat("a") is not a, "an idle chat expired and a new one was made"
    custom = manager.get_chat("c", config=LLMConfig(base_url=mlx_server.base_url, model="x"))
    assert custom.config.model == "x"


def test_async_api(mlx_server):
    async def go():
        chat = AsyncLLMChat(
            base_url=mlx_server.base_url,
            model=mlx_server.model_id,
            temperature=0.0,
            max_tokens=64,
            system_prompt="",
        )
        text = await chat.ask("What is the capital of France?")
        pieces = [p async for p in chat.chat("Say hello.", stream=True)]
        batch = await chat.batch(["Say hello.", "List three colours."], concurrency=2)
        health = await chat.health()
        manager = AsyncChatManager(base_url=mlx_server.base_url, model=mlx_server.model_id)
        same = manager.get_chat("x") is manager.get_chat("x")
        await chat.aclose()
        return text, pieces, batch, health, same, chat.history

    text, pieces, batch, health, same, history = asyncio.run(go())
    assert text == "The capital of France is Paris."
    assert "".join(pieces).startswith("Hello") and len(history) == 2
    assert [r.success for r in batch] == [True, True] and health.ok and same


def test_the_same_api_runs_a_local_mlx_model(tiny_model_dir):
    import threading

    chat = LLMChat(model=str(tiny_model_dir), temperature=0.0, max_tokens=64, system_prompt="")
    assert chat.ask("What is the capital of France?") == "The capital of France is Paris."
    pieces = list(chat.chat("Say hello.", stream=True))
    assert "".join(pieces).startswith("Hello!") and len(chat.history) == 2
    reply = chat.ask_response("What is the capital of France?")
    assert (
        reply.success
        and reply.metadata["provider"] == "mlx"
        and reply.metadata["peak_memory_gb"] > 0
    )
    assert any(t.name == "mlx-engine" for t in threading.enumerate())
    chat.close()
    assert not any(t.name == "mlx-engine" for t in threading.enumerate()), "close() frees the model"


def test_chat_manager_backed_by_the_store_survives_a_restart(mlx_server, _isolated_home):
    from desktop_chat.store import Store

    manager = ChatManager(
        base_url=mlx_server.base_url,
        model=mlx_server.model_id,
        temperature=0.0,
        max_tokens=32,
        store=True,
        system_prompt="",
    )
    alice = manager.get_chat("alice", stream=False)
    answer = alice.chat("Say hello.")
    assert answer and len(alice.history) == 2
    manager.get_chat("bob", stream=False).chat("What is the capital of France?")
    manager.close_store()

    again = ChatManager(
        base_url=mlx_server.base_url, model=mlx_server.model_id, store=True, system_prompt=""
    )
    alice = again.get_chat("alice", stream=False)
    assert [m["content"] for m in alice.history] == ["Say hello.", answer]
    alice.chat("Who are you?")
    assert len(alice.history) == 4
    again.close_store()
    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    titles = sorted(c.title for c in store.conversations())
    assert titles == ["Say hello.", "What is the capital of France?"]
    alice_id = store.find_external("api:alice")
    assert len(store.branch(alice_id)) == 4 and store.integrity_ok()
    store.close()


def test_chats_the_manager_drops_close_their_connections(mlx_server):
    """Removed, expired, or moved to another server by ``get_chat(config=…)``: the HTTP client
    that served the chat is closed then, not left open for the life of the process."""
    manager = ChatManager(
        base_url=mlx_server.base_url,
        model=mlx_server.model_id,
        temperature=0.0,
        max_tokens=16,
        timeout=0.5,
        system_prompt="",
    )
    clients = {}
    for chat_id in "abc":
        chat = manager.get_chat(chat_id, stream=False)
        chat.chat("Say hello.")
        clients[chat_id] = chat._async._provider._client
    assert manager.remove_chat("a")
    assert clients["a"].is_closed() and not clients["b"].is_closed()
    with FakeOpenAI() as fake:
        manager.get_chat("b", config=LLMConfig(base_url=fake.base_url, model="m"))
        assert clients["b"].is_closed(), "closed at once, not at the chat's next request"
    assert not clients["c"].is_closed()
    time.sleep(0.6)
    assert manager.chat_ids == []
    assert clients["c"].is_closed(), "an expired chat is closed"
    manager.close()


def test_a_chat_answering_past_the_timeout_is_neither_expired_nor_cut():
    words = [f"w{i} " for i in range(12)]
    with FakeOpenAI() as fake:
        fake.script = [Step(pieces=words, delay_s=0.05)]
        manager = ChatManager(base_url=fake.base_url, model="m", timeout=0.3)
        chat = manager.get_chat("slow")
        pieces = chat.chat("Talk for a while.")
        first = next(pieces)
        time.sleep(0.5)  # idle for longer than the timeout, but a reply is streaming
        assert manager.chat_ids == ["slow"], "a chat answering is not idle"
        client = chat._async._provider._client
        assert manager.remove_chat("slow")
        assert not client.is_closed(), "removed mid-reply: the reply goes on"
        assert first + "".join(pieces) == "".join(words)
        assert client.is_closed(), "and the chat is closed as soon as it ends"


def test_a_dropped_local_chat_frees_its_model_and_the_engine_thread(tiny_model_dir, tmp_path):
    import shutil
    import threading

    import mlx.core as mx

    def engines():
        return [t for t in threading.enumerate() if t.name == "mlx-engine"]

    other = tmp_path / "another-model"
    shutil.copytree(tiny_model_dir, other)
    before = mx.get_active_memory()
    manager = ChatManager(
        model=str(tiny_model_dir), temperature=0.0, max_tokens=16, timeout=60, system_prompt=""
    )

    def used(chat_id, config=None):
        chat = manager.get_chat(chat_id, stream=False, config=config)
        assert chat.chat("Say hello.").startswith("Hello!")
        return chat

    used("a")
    assert len(engines()) == 1 and mx.get_active_memory() > before
    manager.remove_chat("a")
    assert engines() == [] and mx.get_active_memory() <= before, "removed: model and thread"
    chat = used("b")
    assert len(engines()) == 1
    moved = manager.get_chat(
        "b", config=LLMConfig(model=str(other), temperature=0.0, max_tokens=16, system_prompt="")
    )
    assert moved is chat and engines() == [], "another model: the first one freed at once"
    used("b")
    assert len(engines()) == 1 and chat._async._owned.engine.info.path == str(other)
    assert len(chat.history) == 4, "the conversation stays"
    # Short only now: on a loaded machine a turn above can take longer than 0.5 s, and a
    # chat expiring mid-test is not what this test is about.
    manager.timeout = 0.5
    time.sleep(0.6)
    assert manager.chat_ids == []
    assert engines() == [] and mx.get_active_memory() <= before, "expired: model and thread"
    manager.close()


def test_the_async_manager_closes_what_it_drops(mlx_server):
    async def go():
        manager = AsyncChatManager(
            base_url=mlx_server.base_url, model=mlx_server.model_id, max_tokens=16, system_prompt=""
        )
        clients = []
        for chat_id in ("removed", "kept"):
            chat = manager.get_chat(chat_id)
            await chat.chat("Say hello.", stream=False)
            clients.append(chat._provider._client)
        manager.remove_chat("removed")  # a sync call inside the loop: closed by a task
        await asyncio.sleep(0.1)
        closed_on_removal = [c.is_closed() for c in clients]
        await manager.aclose()
        return closed_on_removal, [c.is_closed() for c in clients]

    assert asyncio.run(go()) == ([True, False], [True, True])


def test_a_new_system_prompt_after_a_turn_is_the_one_sent_next():
    from tests.support.fake_openai import FakeOpenAI, Step

    with FakeOpenAI() as server:
        server.script = [Step(pieces=["One."]), Step(pieces=["Two."])]
        chat = LLMChat(base_url=server.base_url, model="m", system_prompt="Old.")
        assert chat.chat("first", stream=False) == "One."
        chat.update_system_prompt("New.")
        assert chat.chat("second", stream=False) == "Two."
        chat.close()
    sent = [r["body"]["messages"][0] for r in server.requests if r["method"] == "POST"]
    assert sent == [{"role": "system", "content": "Old."}, {"role": "system", "content": "New."}]


def test_llm_config_knows_every_generation_parameter():
    """A parameter added to GenerationParams is an LLMConfig option and a call option too."""
    import dataclasses

    from desktop_chat.api import LLMConfig, call_params
    from desktop_chat.params import NAMES, GenerationParams

    options = tuple(n for n in NAMES if n != "system_prompt")  # a call's system prompt is apart
    config_fields = {f.name for f in dataclasses.fields(LLMConfig)}
    assert set(options) <= config_fields
    values = {
        "temperature": 0.3,
        "top_p": 0.5,
        "top_k": 7,
        "max_tokens": 9,
        "seed": 3,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "stop": ("END",),
        "think": False,
        "reasoning_effort": "low",
    }
    assert set(values) == set(options), "this test names every parameter"
    params = LLMConfig(**values).params()
    assert {n: getattr(params, n) for n in options} == values
    assert call_params(GenerationParams(), None, values).to_dict() == {**values, "stop": ["END"]}
    # One call's think=False wins over a chat that thinks (False is a choice, not "unset").
    assert call_params(GenerationParams(think=True), None, {"think": False}).think is False
