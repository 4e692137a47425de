"""Tool calls on the wire: ``tools`` in the request, the ``tool_calls`` deltas a server streams
joined into whole calls (several at once, arguments split across chunks, the id and name in a
call's first chunk only), and a reply's calls and results sent back in later requests.

The shapes OpenAI streams (arguments in pieces, several calls) come from the scripted server:
mlx_lm.server sends each call whole, in one delta. The real server is asked with tools and a
history of calls by the plain tiny model (no tool-call markers: mlx-lm's ``has_tool_calling``
is False for it), and serves a tiny model trained to call a tool (tests/support/
tiny_tool_caller.py) for a whole turn: its call run, its answer read from the result."""

from __future__ import annotations

import asyncio
import json

import pytest

from desktop_chat.conversation import Conversation, Message
from desktop_chat.events import Finished, TextDelta, ToolCallRequest
from desktop_chat.params import GenerationParams
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from desktop_chat.tools import ToolCall
from tests.support.fake_openai import FakeOpenAI, Step, tool_call
from tests.support.streams import stream_events

WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def ask(provider, tools=None, messages=None):
    async def go():
        try:
            stream = provider.stream(
                messages or [{"role": "user", "content": "Weather in Paris and Rome?"}],
                "m",
                GenerationParams(),
                tools=tools,
            )
            return [e async for e in stream]
        finally:
            await provider.aclose()

    return asyncio.run(go())


def test_two_calls_with_arguments_in_pieces_end_the_stream_as_one_request(fake):
    fake.script = [
        Step(
            pieces=["Let me look."],
            tool_calls=[
                [tool_call(0, id="call_a", name="weather", arguments="")],
                [tool_call(0, arguments='{"ci')],
                [tool_call(0, arguments='ty": "Par')],
                [tool_call(0, arguments='is"}')],
                [tool_call(1, id="call_b", name="weather", arguments='{"city"')],
                [tool_call(1, arguments=': "Rome"}')],
            ],
        )
    ]
    events = ask(OpenAICompatProvider(fake.base_url, name="fake"), tools=[WEATHER])
    assert [type(e).__name__ for e in events] == ["TextDelta", "ToolCallRequest", "Finished"]
    request = events[1]
    assert request.calls == (
        ToolCall("call_a", "weather", '{"city": "Paris"}'),
        ToolCall("call_b", "weather", '{"city": "Rome"}'),
    )
    assert [c.parsed() for c in request.calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert events[-1].finish_reason == "tool_calls"
    assert fake.requests[0]["body"]["tools"] == [WEATHER], "the tools went with the request"


def test_calls_sent_in_one_chunk_and_out_of_order_keep_their_index_order(fake):
    fake.script = [
        Step(
            tool_calls=[
                [
                    tool_call(1, id="second", name="b", arguments="{}"),
                    tool_call(0, id="first", name="a", arguments='{"x": 1}'),
                ]
            ],
            finish="stop",  # some servers end a turn of calls with "stop"
        )
    ]
    events = ask(OpenAICompatProvider(fake.base_url, name="fake"), tools=[WEATHER])
    request = next(e for e in events if isinstance(e, ToolCallRequest))
    assert [(c.id, c.name, c.arguments) for c in request.calls] == [
        ("first", "a", '{"x": 1}'),
        ("second", "b", "{}"),
    ]
    assert events[-1].finish_reason == "tool_calls", "the calls say what the turn was"


def test_no_tools_no_tools_key_and_a_plain_reply_has_no_request(fake):
    fake.script = [Step(pieces=["Hi."])]
    events = stream_events(OpenAICompatProvider(fake.base_url, name="fake"))
    assert [type(e) for e in events] == [TextDelta, Finished]
    assert "tools" not in fake.requests[0]["body"]
    fake.script = [Step(pieces=["Hi."])]
    ask(OpenAICompatProvider(fake.base_url, name="fake"), tools=[])
    assert "tools" not in fake.requests[1]["body"], "an empty list is not sent"


ROUNDS = [
    {
        "text": "",
        "calls": [
            {"id": "call_a", "name": "weather", "arguments": '{"city": "Paris"}'},
            {"id": "call_b", "name": "weather", "arguments": ""},
        ],
        "results": [
            {"call_id": "call_a", "name": "weather", "content": "Sunny", "is_error": False},
            {"call_id": "call_b", "name": "weather", "content": "Denied", "is_error": True},
        ],
    },
    {
        "text": "One more.",
        "calls": [{"id": "call_c", "name": "time", "arguments": "{}"}],
        "results": [{"call_id": "call_c", "name": "time", "content": "12:00"}],
    },
]


def test_a_reply_with_tool_rounds_goes_out_as_calls_results_then_the_answer():
    conversation = Conversation("Be brief.")
    conversation.add_user("Weather?")
    conversation.messages.append(Message("assistant", "Sunny in Paris.", tool_rounds=ROUNDS))
    conversation.add_user("Thanks")
    sent = conversation.to_api()
    assert [(m["role"], m.get("tool_call_id")) for m in sent] == [
        ("system", None),
        ("user", None),
        ("assistant", None),
        ("tool", "call_a"),
        ("tool", "call_b"),
        ("assistant", None),
        ("tool", "call_c"),
        ("assistant", None),
        ("user", None),
    ]
    first = sent[2]
    assert first["content"] is None, "no text before the calls: null, as OpenAI has it"
    assert first["tool_calls"][0] == {
        "id": "call_a",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
    }
    assert first["tool_calls"][1]["function"]["arguments"] == "{}", "empty: no arguments"
    assert sent[3]["content"] == "Sunny" and sent[5]["content"] == "One more."
    assert sent[7] == {"role": "assistant", "content": "Sunny in Paris."}
    assert conversation.messages[1].to_api() == sent[7], "to_api() is still the answer alone"


@pytest.mark.slow
def test_the_real_server_takes_tools_and_a_history_of_calls(mlx_server):
    """mlx_lm.server templates the request itself: tools, an assistant message with
    ``tool_calls`` (its arguments JSON text) and ``tool`` messages must all be accepted."""
    conversation = Conversation()
    conversation.add_user("What is the weather in Paris?")
    conversation.messages.append(Message("assistant", "It is sunny.", tool_rounds=ROUNDS))
    conversation.add_user("What is the capital of France?")
    provider = OpenAICompatProvider(mlx_server.base_url, name="mlx")

    async def go():
        try:
            stream = provider.stream(
                conversation.to_api(),
                mlx_server.model_id,
                GenerationParams(temperature=0.0, max_tokens=24),
                tools=[WEATHER],
            )
            return [e async for e in stream]
        finally:
            await provider.aclose()

    events = asyncio.run(go())
    assert isinstance(events[-1], Finished) and events[-1].finish_reason in ("stop", "length")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).strip()
    json.dumps(conversation.to_api())  # the wire form is plain JSON


@pytest.fixture(scope="module")
def mlx_tool_server():
    """The real mlx_lm.server serving a tiny model trained to call ``weather`` for one
    question (tests/support/tiny_tool_caller.py): tool calls from a real peer."""
    from tests.support import servers, tiny_tool_caller

    with servers.mlx_server(tiny_tool_caller.build()) as server:
        yield server


@pytest.mark.slow
def test_a_real_servers_tool_call_is_run_and_the_model_answers_from_its_result(mlx_tool_server):
    from desktop_chat.config import ProviderSettings, Settings
    from desktop_chat.events import ToolResultEvent
    from desktop_chat.models import remote_choice
    from desktop_chat.session import ChatSession
    from desktop_chat.tools import Approval, Toolbox, function_tool
    from tests.support.tiny_tool_caller import ANSWER, QUESTION, REPORT

    asked = []

    def weather(city: str) -> str:
        """The weather in a city."""
        return REPORT if city == "Paris" else "Unknown"

    async def approve(tool, arguments):
        asked.append((tool.name, arguments))
        return Approval.ONCE

    server = mlx_tool_server
    session = ChatSession(settings=Settings(defaults=GenerationParams(temperature=0.0)))
    session.set_model(remote_choice(ProviderSettings("mlx", server.base_url), server.model_id))
    session.tools, session.approve = Toolbox([function_tool(weather)]), approve
    provider = OpenAICompatProvider(server.base_url, name="mlx")

    async def go():
        try:
            first = session.send(QUESTION)
            events = [e async for e in first.events(provider)]
            second = session.send("What is the capital of France?")
            [e async for e in second.events(provider)]
            return first, events, second
        finally:
            await provider.aclose()

    first, events, second = asyncio.run(go())
    request = next(e for e in events if isinstance(e, ToolCallRequest))
    assert [(c.name, c.parsed()) for c in request.calls] == [("weather", {"city": "Paris"})]
    assert asked == [("weather", {"city": "Paris"})]
    result = next(e for e in events if isinstance(e, ToolResultEvent)).result
    assert result.content == REPORT and not result.is_error
    assert first.reply.content == ANSWER, "the answer read the tool's result"
    assert first.reply.tool_rounds[0]["calls"][0]["name"] == "weather"
    assert events[-1].finish_reason == "stop" and events[-1].extra["tool_rounds"] == 1
    # The history with the call and its result, templated by the real server, still works.
    assert second.reply.content == "The capital of France is Paris."
