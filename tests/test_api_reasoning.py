"""The Python API and a reasoning model (the tiny thinking model behind the real mlx_lm.server):
``ChatResponse.reasoning`` holds the thinking and ``content`` the answer alone; a stream gives
the answer's text, or with ``include_reasoning=True`` the thinking's and the answer's events;
``think`` and ``reasoning_effort`` in ``LLMConfig`` and one call's options; a stored chat keeps
its thinking and never sends it back."""

from __future__ import annotations

import asyncio

import pytest

from desktop_chat import (
    AsyncLLMChat,
    ChatManager,
    LLMChat,
    LLMConfig,
    ReasoningDelta,
    TextDelta,
)
from desktop_chat.store import Store

pytestmark = pytest.mark.slow
QUESTION = "What is the capital of France?"
THOUGHT = "The user asks about France. Its capital is Paris."
ANSWER = "The capital of France is Paris."
HELLO_THOUGHT = "A greeting. I will greet back."
HELLO = "Hello! How can I help you today?"


def _options(server, **more) -> dict:
    return {
        "base_url": server.base_url,
        "model": server.model_id,
        "temperature": 0.0,
        "max_tokens": 80,
        "system_prompt": "",
        **more,
    }


@pytest.fixture
def chat(mlx_thinking_server):
    c = LLMChat(**_options(mlx_thinking_server))
    yield c
    c.close()


def test_a_response_holds_the_thinking_apart_from_the_answer(chat):
    reply = chat.ask_response(QUESTION)
    assert (reply.success, reply.content, reply.reasoning) == (True, ANSWER, THOUGHT)
    usage = reply.metadata["usage"]
    assert 0 < usage["reasoning_tokens"] < usage["completion_tokens"]
    assert 0 < reply.metadata["ttft_s"] < reply.metadata["answer_ttft_s"]
    # One call's think=False: the answer at once, no thinking, the figures of a plain reply.
    plain = chat.ask_response(QUESTION, think=False)
    assert (plain.content, plain.reasoning) == (ANSWER, "")
    assert "reasoning_tokens" not in plain.metadata["usage"]
    assert chat.ask(QUESTION) == ANSWER, "ask's text is the answer alone"


def test_a_stream_gives_the_answer_alone_unless_asked_for_the_thinking(chat):
    pieces = list(chat.ask(QUESTION, stream=True))
    assert all(type(p) is str for p in pieces) and "".join(pieces) == ANSWER

    events = list(chat.chat(QUESTION, stream=True, include_reasoning=True))
    kinds = [type(e) for e in events]
    first_answer = kinds.index(TextDelta)
    assert set(kinds[:first_answer]) == {ReasoningDelta}, "the thinking first"
    assert set(kinds[first_answer:]) == {TextDelta}
    assert "".join(e.text for e in events[:first_answer]) == THOUGHT
    assert "".join(e.text for e in events[first_answer:]) == ANSWER
    assert chat.history == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": ANSWER},
    ], "the history keeps the answer; the thinking is never sent back"

    with pytest.raises(ValueError, match="include_reasoning=True streams the thinking"):
        chat.ask(QUESTION, include_reasoning=True)


def test_llm_config_takes_the_thinking_switches(mlx_thinking_server):
    config = LLMConfig(**_options(mlx_thinking_server, think=False, reasoning_effort="low"))
    assert config.to_dict()["think"] is False and config.to_dict()["reasoning_effort"] == "low"
    quiet = LLMChat(config=config)
    try:
        events = list(quiet.ask(QUESTION, stream=True, include_reasoning=True))
        assert {type(e) for e in events} == {TextDelta}, "think=False: no thinking"
        assert quiet.ask_response(QUESTION).reasoning == ""
        assert quiet.ask_response(QUESTION, think=True).reasoning == THOUGHT, "one call's on"
    finally:
        quiet.close()
    with pytest.raises(ValueError, match="think must be true or false"):
        LLMConfig(think="yes").params()
    with pytest.raises(ValueError, match="reasoning_effort must be one of"):
        LLMChat(**_options(mlx_thinking_server, reasoning_effort="extreme"))
    chat = LLMChat(**_options(mlx_thinking_server))
    refused = chat.ask_response(QUESTION, think="maybe")
    chat.close()
    assert not refused.success and "think must be true or false" in refused.error


def test_the_async_chat_streams_events_and_keeps_the_answer(mlx_thinking_server):
    async def go():
        chat = AsyncLLMChat(**_options(mlx_thinking_server))
        try:
            events = [e async for e in chat.chat(QUESTION, stream=True, include_reasoning=True)]
            reply = await chat.ask_response("Say hello.", history=True)
            return events, reply, chat.history
        finally:
            await chat.aclose()

    events, reply, history = asyncio.run(go())
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == THOUGHT
    assert (reply.content, reply.reasoning) == (HELLO, HELLO_THOUGHT)
    assert [m["content"] for m in history] == [QUESTION, ANSWER, "Say hello.", HELLO]


def test_a_stored_chat_keeps_its_thinking_and_sends_none_back(mlx_thinking_server, tmp_path):
    path = tmp_path / "conversations.sqlite3"
    manager = ChatManager(**_options(mlx_thinking_server), store=path)
    assert manager.get_chat("alice").chat(QUESTION, stream=False) == ANSWER
    manager.close()

    manager = ChatManager(**_options(mlx_thinking_server), store=path)
    alice = manager.get_chat("alice")
    assert alice.history[-1] == {"role": "assistant", "content": ANSWER}
    reopened = alice._async.conversation.messages[-1]
    assert reopened.meta["reasoning"] == THOUGHT and reopened.meta["usage"]["reasoning_tokens"]
    second = alice.ask_response("Say hello.", history=True)
    assert (second.content, second.reasoning) == (HELLO, HELLO_THOUGHT)
    manager.close()

    store = Store.open(path)
    rows = store.branch(store.find_external("api:alice"))
    assert [(m.content, m.reasoning) for m in rows] == [
        (QUESTION, ""),
        (ANSWER, THOUGHT),
        ("Say hello.", ""),
        (HELLO, HELLO_THOUGHT),
    ]
    store.close()
