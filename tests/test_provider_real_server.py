"""The OpenAI-compatible provider against the real mlx_lm.server serving the tiny model."""

from __future__ import annotations

import asyncio
import time

import pytest

from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.events import Finished, TextDelta
from desktop_chat.models import remote_choice
from desktop_chat.params import GenerationParams
from desktop_chat.providers.discovery import discover
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from desktop_chat.session import ChatSession

pytestmark = pytest.mark.slow
GREEDY = GenerationParams(temperature=0.0, max_tokens=64)


def ask(provider, model, text, params=GREEDY):
    async def go():
        events = [
            e async for e in provider.stream([{"role": "user", "content": text}], model, params)
        ]
        await provider.aclose()
        return events

    return asyncio.run(go())


def session_for(server, params=GREEDY, system_prompt="") -> ChatSession:
    """A session in memory that asks the server's model with ``params``."""
    session = ChatSession(settings=Settings(defaults=params), system_prompt=system_prompt)
    provider = ProviderSettings("mlx", server.base_url)
    session.set_model(remote_choice(provider, server.model_id))
    return session


def test_streams_deltas_then_one_finished_with_server_usage(mlx_server):
    provider = OpenAICompatProvider(mlx_server.base_url, name="mlx")
    events = ask(provider, mlx_server.model_id, "What is the capital of France?")
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 3, "the reply should arrive in pieces"
    assert "".join(d.text for d in deltas) == "The capital of France is Paris."
    final = events[-1]
    assert isinstance(final, Finished) and sum(isinstance(e, Finished) for e in events) == 1
    assert final.finish_reason == "stop"
    assert final.usage.estimated is False
    assert final.usage.prompt_tokens > 5
    assert final.usage.completion_tokens >= len(deltas)
    assert 0 < final.ttft_s < final.total_s
    assert final.tokens_per_s and final.tokens_per_s > 1
    assert final.model == mlx_server.model_id and final.provider == "mlx"


def test_max_tokens_is_honoured_and_reported_as_length(mlx_server):
    provider = OpenAICompatProvider(mlx_server.base_url, name="mlx")
    events = ask(provider, mlx_server.model_id, "Tell me a story.", GREEDY.replace(max_tokens=5))
    assert events[-1].finish_reason == "length"
    assert events[-1].usage.completion_tokens == 5


def test_multi_turn_keeps_history_and_marks_nothing_interrupted(mlx_server):
    provider = OpenAICompatProvider(mlx_server.base_url, name="mlx")
    system = "You are a helpful assistant."
    session = session_for(mlx_server, system_prompt=system)
    conversation = session.conversation

    async def go():
        for prompt in ("What is the capital of Spain?", "How do I reverse a list in Python?"):
            async for _ in session.send(prompt).events(provider):
                pass
        await provider.aclose()

    asyncio.run(go())
    roles = [m.role for m in conversation.messages]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert conversation.messages[1].content.startswith("The capital of")
    assert "items" in conversation.messages[3].content  # the code answer, from history too
    assert not any(m.interrupted for m in conversation.messages)
    assert conversation.messages[3].meta["usage"]["completion_tokens"] > 5


def test_cancelling_the_consumer_stops_the_request_and_keeps_the_partial_reply(mlx_server):
    provider = OpenAICompatProvider(mlx_server.base_url, name="mlx")
    session = session_for(mlx_server, GREEDY.replace(max_tokens=256))
    conversation = session.conversation
    seen: list[str] = []

    async def consume():
        async for event in session.send("Tell me a story.").events(provider):
            if isinstance(event, TextDelta):
                seen.append(event.text)
                if len(seen) == 3:
                    await asyncio.sleep(30)  # the user presses Stop here

    async def go():
        task = asyncio.create_task(consume())
        while len(seen) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        start = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):
            await task
        elapsed = time.perf_counter() - start
        await provider.aclose()
        return elapsed

    assert asyncio.run(go()) < 1.0
    reply = conversation.messages[-1]
    assert reply.role == "assistant" and reply.interrupted
    assert reply.content == "".join(seen)
    # The server is free again at once: a new request is answered normally.
    events = ask(
        OpenAICompatProvider(mlx_server.base_url, name="mlx"), mlx_server.model_id, "Say hello."
    )
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).startswith("Hello")


def test_lists_models_and_reports_health(mlx_server):
    provider = OpenAICompatProvider(mlx_server.base_url, name="mlx")

    async def go():
        models = await provider.list_models()
        health = await provider.health()
        await provider.aclose()
        return models, health

    models, health = asyncio.run(go())
    assert mlx_server.model_id in models
    assert health.ok and mlx_server.model_id in health.models and health.latency_s < 5


def test_discovery_finds_the_running_server_and_skips_closed_ports(mlx_server):
    from tests.support.servers import free_port

    closed = free_port()
    start = time.perf_counter()
    found = asyncio.run(
        discover((("nothing-here", closed), ("mlx", mlx_server.port)), timeout_s=0.5)
    )
    elapsed = time.perf_counter() - start
    assert [f.name for f in found] == ["mlx"]
    assert found[0].base_url == mlx_server.base_url
    assert mlx_server.model_id in found[0].models
    assert elapsed < 2.0


def test_discovery_of_many_ports_is_concurrent_and_quick():
    # Ports nobody answers on (the test's own, closed again): the scan takes about one timeout.
    from tests.support.servers import free_port

    ports = tuple((f"closed-{i}", free_port()) for i in range(8))
    start = time.perf_counter()
    found = asyncio.run(discover(ports, timeout_s=0.3))
    assert time.perf_counter() - start < 1.5
    assert found == []
