"""The engine hosted on a QThread: replies stream to the asyncio loop, and stopping leaves no
thread behind — also in the middle of a reply."""

from __future__ import annotations

import asyncio
import threading

import pytest

from desktop_chat.events import TextDelta
from desktop_chat.params import GenerationParams

pytestmark = pytest.mark.slow


@pytest.fixture
def host(qapp):
    from desktop_chat.gui.engine_thread import EngineThread

    h = EngineThread()
    h.start()
    yield h
    h.stop()
    assert not EngineThread.running, "a test left the engine's QThread running"


def test_generation_runs_on_the_qthread_and_streams_to_asyncio(host, tiny_model_dir):
    from desktop_chat.providers.mlx_local import MlxLocalProvider

    provider = MlxLocalProvider(host.engine, tiny_model_dir)
    thread_names = []
    host.engine.submit(lambda: thread_names.append(threading.current_thread().name)).result(10)

    async def go():
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        params = GenerationParams(temperature=0.0, max_tokens=32)
        return [e async for e in provider.stream(messages, "tiny", params)]

    events = asyncio.run(go())
    assert (
        "".join(e.text for e in events if isinstance(e, TextDelta))
        == "The capital of France is Paris."
    )
    assert thread_names and thread_names[0] != threading.main_thread().name
    assert host.thread.isRunning()


def test_stopping_mid_reply_ends_the_thread_cleanly(host, tiny_model_dir):
    host.engine.load(tiny_model_dir).result(60)
    stop, seen = threading.Event(), []
    future = host.engine.generate(
        [{"role": "user", "content": "Tell me a story."}],
        GenerationParams(temperature=0.0, max_tokens=500),
        lambda e: (seen.append(e), stop.set()),
        stop,
    )
    assert host.stop(), "the thread should end"
    assert future.done() and not host.thread.isRunning()
    assert host.engine.info is None, "the model was freed on its own thread"
