"""Local vision models on the engine: the tiny qwen2_vl model run by mlx-vlm on the engine's
one thread sees an attached image, a text model refuses one with a sentence, Stop works."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from desktop_chat import hub
from desktop_chat.config import Settings
from desktop_chat.conversation import Message
from desktop_chat.engine import MlxEngine
from desktop_chat.errors import ImagesNotSupported, ProviderError
from desktop_chat.events import Finished, TextDelta
from desktop_chat.models import local_choice
from desktop_chat.params import GenerationParams
from desktop_chat.providers.mlx_local import MlxLocalProvider
from desktop_chat.session import ChatSession
from tests.support.tiny_vision_model import QUESTION, SEEN, UNSEEN, picture

pytestmark = pytest.mark.slow
GREEDY = GenerationParams(temperature=0.0, max_tokens=48)


@pytest.fixture
def engine():
    e = MlxEngine().start()
    yield e
    e.shutdown()
    assert not any(t.name == "mlx-engine" for t in threading.enumerate())


def asking(text: str, *pictures) -> list[dict]:
    """The wire form of one user message, as a session sends it (content parts for images)."""
    return [Message("user", text, images=list(pictures)).to_api()]


def generate(engine, messages, params=GREEDY, stop_after=None):
    events, stop = [], threading.Event()

    def on_event(event):
        events.append(event)
        if stop_after is not None and sum(isinstance(e, TextDelta) for e in events) >= stop_after:
            stop.set()

    assert engine.generate(messages, params, on_event, stop).result(120) is None
    finished = [e for e in events if isinstance(e, Finished)]
    return events, finished[-1] if finished else None


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_a_local_vision_model_answers_about_the_attached_image(engine, tiny_vision_model_dir):
    """The user attaches a picture and asks; the reply streams with the usual figures."""
    assert hub.is_vision_folder(tiny_vision_model_dir)
    session = ChatSession(None, Settings(defaults=GREEDY))
    session.set_model(local_choice(tiny_vision_model_dir))
    provider = MlxLocalProvider(engine, tiny_vision_model_dir)

    async def ask(text, images=None):
        turn = session.send(text, images=images)
        return [e async for e in turn.events(provider)]

    events = asyncio.run(ask(QUESTION, [picture()]))
    assert text_of(events) == SEEN
    assert engine.info.vision
    final = events[-1]
    assert isinstance(final, Finished) and final.finish_reason == "stop" and final.provider == "mlx"
    assert final.ttft_s > 0 and final.usage.completion_tokens >= 4
    assert final.extra["prompt_tps"] > 0 and final.extra["peak_memory_gb"] > 0
    assert session.conversation.messages[-1].content == SEEN

    # The next turn asks without an image: the model knows no new one came, and what it had
    # read already (the first turn, its image included) comes from mlx-vlm's prompt cache.
    events = asyncio.run(ask(QUESTION))
    assert isinstance(events[-1], Finished)
    assert events[-1].extra["cached_prompt_tokens"] >= final.usage.prompt_tokens


def test_the_image_itself_reaches_the_model(engine, tiny_vision_model_dir):
    """Without an image the same question has another answer, and a larger image becomes more
    image tokens: the processor read its pixels."""
    engine.load(tiny_vision_model_dir).result(120)
    events, none = generate(engine, asking(QUESTION))
    assert text_of(events) == UNSEEN
    events, small = generate(engine, asking(QUESTION, picture(size=(56, 56))))
    assert text_of(events) == SEEN
    _, large = generate(engine, asking(QUESTION, picture((30, 40, 220), size=(112, 112))))
    assert none.usage.prompt_tokens < small.usage.prompt_tokens < large.usage.prompt_tokens
    assert large.usage.prompt_tokens - none.usage.prompt_tokens >= 16  # 112² px: 16 tokens


def test_a_text_model_refuses_an_image_by_name_before_reading(engine, tiny_model_dir):
    engine.load(tiny_model_dir).result(60)
    events = []
    future = engine.generate(
        asking("What is in this picture?", picture()), GREEDY, events.append, threading.Event()
    )
    with pytest.raises(ImagesNotSupported) as caught:
        future.result(60)
    assert events == [], "nothing was read or streamed"
    error = caught.value
    assert tiny_model_dir.name in error.message and "cannot see images" in error.message
    assert "vision model" in error.hint
    events, _ = generate(engine, asking("What is the capital of France?"))
    assert text_of(events) == "The capital of France is Paris."


def test_a_text_model_after_an_image_turn_still_answers(engine, tiny_model_dir):
    """The model was changed after a turn with an image: it reads a note in the image's place."""
    provider = MlxLocalProvider(engine, tiny_model_dir)
    history = [
        *asking("What is in this picture?", picture()),
        {"role": "assistant", "content": "A red square."},
        *asking("What is the capital of France?"),
    ]

    async def go():
        return [e async for e in provider.stream(history, tiny_model_dir.name, GREEDY)]

    events = asyncio.run(go())
    assert isinstance(events[-1], Finished) and text_of(events)


def test_stop_ends_a_vision_reply_and_the_next_one_is_whole(engine, tiny_vision_model_dir):
    engine.load(tiny_vision_model_dir).result(120)
    events, final = generate(engine, asking(QUESTION, picture()), stop_after=1)
    assert sum(isinstance(e, TextDelta) for e in events) == 1
    assert final.finish_reason == "cancelled" and text_of(events) != SEEN
    # What mlx-vlm's cache held when Stop broke in is not reused half-way.
    events, final = generate(engine, asking(QUESTION, picture()))
    assert text_of(events) == SEEN and final.finish_reason == "stop"


def test_a_vision_model_without_mlx_vlm_says_how_to_install_it(
    engine, tiny_vision_model_dir, monkeypatch
):
    monkeypatch.setitem(sys.modules, "mlx_vlm", None)  # what `import mlx_vlm` meets uninstalled
    with pytest.raises(ProviderError) as caught:
        engine.load(tiny_vision_model_dir).result(60)
    assert "mlx-vlm" in caught.value.message and "desktop-chat[vision]" in caught.value.hint
    assert engine.info is None
