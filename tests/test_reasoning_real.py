"""A tiny reasoning model, run by real parts: the local MLX engine (the tokenizer's thinking
markers, a prompt that opens the thought, Think off through the chat template) and the real
mlx_lm.server (its ``reasoning`` field, ``chat_template_kwargs``). Thinking comes first and
apart; the answer never holds a tag, and is what a conversation keeps."""

from __future__ import annotations

import asyncio
import threading

import pytest

from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.engine import MlxEngine
from desktop_chat.events import Event, Finished, ReasoningDelta, TextDelta
from desktop_chat.models import local_choice, remote_choice
from desktop_chat.params import GenerationParams
from desktop_chat.providers.mlx_local import MlxLocalProvider
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from desktop_chat.session import ChatSession
from tests.support import servers, tiny_thinking_model
from tests.support.streams import joined, stream_events

pytestmark = pytest.mark.slow
GREEDY = GenerationParams(temperature=0.0, max_tokens=80)
QUESTION = "What is the capital of France?"
THOUGHT = "The user asks about France. Its capital is Paris."
ANSWER = "The capital of France is Paris."


@pytest.fixture
def engine():
    e = MlxEngine().start()
    yield e
    e.shutdown()
    assert not any(t.name == "mlx-engine" for t in threading.enumerate())


def ask(provider, model: str, text: str = QUESTION, params=GREEDY) -> list[Event]:
    return stream_events(provider, params, [{"role": "user", "content": text}], model)


def assert_thought_then_answer(events, thought=THOUGHT, answer=ANSWER) -> Finished:
    kinds = [type(e).__name__ for e in events]
    first_text = kinds.index("TextDelta")
    assert set(kinds[:first_text]) == {"ReasoningDelta"}, f"thinking first: {kinds}"
    assert set(kinds[first_text:-1]) == {"TextDelta"} and kinds[-1] == "Finished", kinds
    assert joined(events) == (thought, answer)
    for event in events[:-1]:
        assert "think>" not in event.text, "no tag reaches the user"
    assert not any(isinstance(e, ReasoningDelta) and e.was_answer for e in events)
    final = events[-1]
    assert 0 < final.usage.reasoning_tokens < final.usage.completion_tokens
    assert 0 < final.ttft_s < final.answer_ttft_s < final.total_s
    return final


# --- the local engine ----------------------------------------------------------------------


def test_the_local_engine_streams_the_thought_then_the_answer(engine, tiny_thinking_model_dir):
    final = assert_thought_then_answer(ask(MlxLocalProvider(engine, tiny_thinking_model_dir), "m"))
    # <think>, the thought's tokens, </think>: about a dozen of the reply's tokens.
    assert final.usage.reasoning_tokens >= 10
    assert final.as_metadata()["usage"]["reasoning_tokens"] == final.usage.reasoning_tokens


def test_a_template_that_opens_the_thought_is_read_from_the_prompt(engine, tiny_thinking_model_dir):
    """DeepSeek-R1's kind of template: the reply starts inside the thought, and only
    ``</think>`` comes; the engine knows from the prompt, so nothing is shown as the answer
    first."""
    opened = tiny_thinking_model.opened(tiny_thinking_model_dir)
    assert_thought_then_answer(ask(MlxLocalProvider(engine, opened), "m"))


def test_think_off_goes_through_the_chat_template(engine, tiny_thinking_model_dir):
    events = ask(
        MlxLocalProvider(engine, tiny_thinking_model_dir),
        "m",
        params=GREEDY.replace(think=False, reasoning_effort="low"),
    )
    assert [type(e) for e in events[:-1]] == [TextDelta] * (len(events) - 1)
    assert joined(events) == ("", ANSWER)
    assert events[-1].usage.reasoning_tokens is None
    assert "reasoning_tokens" not in events[-1].as_metadata()["usage"]


def test_a_template_in_python_that_takes_no_effort_still_answers(engine, tiny_thinking_model_dir):
    """mlx-lm's DeepSeek-V3.2 template is a Python function that refuses ``reasoning_effort``:
    the reply is asked for without it rather than failing."""
    folder = tiny_thinking_model.twin(
        tiny_thinking_model_dir, "v32", chat_template_type="deepseek_v32"
    )
    events = ask(
        MlxLocalProvider(engine, folder),
        "m",
        params=GREEDY.replace(max_tokens=8, reasoning_effort="high"),
    )
    assert isinstance(events[-1], Finished) and events[-1].usage.completion_tokens > 0


def test_a_stop_string_in_the_thought_does_not_cut_the_reply(engine, tiny_thinking_model_dir):
    """ "Paris" is in the thought and in the answer: the reply stops in the answer, where the
    user meant it, not before the answer began."""
    events = ask(
        MlxLocalProvider(engine, tiny_thinking_model_dir),
        "m",
        params=GREEDY.replace(stop=("Paris",)),
    )
    assert joined(events) == (THOUGHT, "The capital of France is ")
    assert events[-1].finish_reason == "stop"


def test_a_conversation_keeps_the_answer_and_sends_no_thinking_back(
    engine, tiny_thinking_model_dir
):
    provider = MlxLocalProvider(engine, tiny_thinking_model_dir)
    session = ChatSession(settings=Settings(defaults=GREEDY))
    session.set_model(local_choice(tiny_thinking_model_dir))
    sent: list[list[dict]] = []
    stream = provider.stream

    def recording(messages, model, params):
        sent.append([dict(m) for m in messages])
        return stream(messages, model, params)

    provider.stream = recording

    async def go():
        for question in (QUESTION, "Say hello."):
            turn = session.send(question)
            events = [e async for e in turn.events(provider)]
        return events

    events = asyncio.run(go())
    assert joined(events) == ("A greeting. I will greet back.", "Hello! How can I help you today?")
    assert [m.content for m in session.conversation.messages] == [
        QUESTION,
        ANSWER,
        "Say hello.",
        "Hello! How can I help you today?",
    ]
    assert sent[1][1] == {"role": "assistant", "content": ANSWER}, "no thinking sent back"


# --- the real mlx_lm.server ----------------------------------------------------------------


def test_mlx_lm_servers_reasoning_field_is_the_thought(mlx_thinking_server):
    provider = OpenAICompatProvider(mlx_thinking_server.base_url, name="mlx")
    events = ask(provider, mlx_thinking_server.model_id)
    final = assert_thought_then_answer(events)
    assert final.usage.estimated is False, "the server's usage, thinking counted per piece"


def test_think_off_reaches_the_servers_template_as_chat_template_kwargs(mlx_thinking_server):
    provider = OpenAICompatProvider(mlx_thinking_server.base_url, name="mlx")
    params = GREEDY.replace(think=False, reasoning_effort="low")
    events = ask(provider, mlx_thinking_server.model_id, params=params)
    assert joined(events) == ("", ANSWER)
    assert not any(isinstance(e, ReasoningDelta) for e in events)
    # And on again: the switch is per request, not learned.
    assert_thought_then_answer(
        ask(provider, mlx_thinking_server.model_id, params=GREEDY.replace(think=True))
    )


def test_a_server_whose_template_opens_the_thought_still_sends_it_apart(tiny_thinking_model_dir):
    with servers.mlx_server(tiny_thinking_model.opened(tiny_thinking_model_dir)) as server:
        provider = OpenAICompatProvider(server.base_url, name="mlx")
        assert_thought_then_answer(ask(provider, server.model_id))


def test_a_session_on_the_server_keeps_only_the_answer(mlx_thinking_server):
    session = ChatSession(settings=Settings(defaults=GREEDY))
    session.set_model(
        remote_choice(
            ProviderSettings("mlx", mlx_thinking_server.base_url), mlx_thinking_server.model_id
        )
    )

    async def go():
        turn = session.send(QUESTION)
        return [e async for e in turn.events(provider)]

    provider = OpenAICompatProvider(mlx_thinking_server.base_url, name="mlx")
    asyncio.run(go())
    assert session.conversation.messages[-1].content == ANSWER
