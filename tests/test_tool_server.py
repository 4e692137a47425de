"""Tool calls from the real ``mlx_lm.server`` serving the tiny tool model, through Desktop
Chat's OpenAI provider: a request with ``tools`` comes back with streamed ``tool_calls`` (parsed
by the server with mlx-lm's own parser), joined into one whole call; the result sent back gets
the answer read from it; a whole turn through a session approves, runs and answers."""

from __future__ import annotations

import asyncio
import json

import pytest

from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.conversation import tool_messages
from desktop_chat.events import Finished, TextDelta, ToolCallRequest, ToolResultEvent
from desktop_chat.models import remote_choice
from desktop_chat.params import GenerationParams
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from desktop_chat.session import ChatSession
from desktop_chat.store import Store
from desktop_chat.tools import Approval, Toolbox, function_tool
from tests.support import tiny_tool_model
from tests.support.tiny_tool_model import ANSWERS, OTHER, REPORTS, WEATHER

pytestmark = pytest.mark.slow
GREEDY = GenerationParams(temperature=0.0, max_tokens=64)


async def _stream(server, messages, tools=None) -> list:
    provider = OpenAICompatProvider(server.base_url, name="mlx_lm.server")
    try:
        kwargs = {"tools": tools} if tools else {}
        return [e async for e in provider.stream(messages, server.model_id, GREEDY, **kwargs)]
    finally:
        await provider.aclose()


def _text(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_a_request_with_tools_comes_back_with_the_call(mlx_tool_server):
    question = [{"role": "user", "content": tiny_tool_model.question("Paris")}]

    events = asyncio.run(_stream(mlx_tool_server, question, [WEATHER]))

    assert _text(events) == ""  # the server took the call out of the text
    (request,) = [e for e in events if isinstance(e, ToolCallRequest)]
    (call,) = request.calls
    assert call.name == "weather" and call.parsed() == {"city": "Paris"}
    assert call.id  # the server's own id, which the result must name
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.finish_reason == "tool_calls"

    # The round after: the call and its result sent back (the session's wire form).
    rounds = [
        {
            "text": "",
            "calls": [{"id": call.id, "name": call.name, "arguments": call.arguments}],
            "results": [{"call_id": call.id, "name": call.name, "content": OTHER["Paris"]}],
        }
    ]
    events = asyncio.run(_stream(mlx_tool_server, question + tool_messages(rounds), [WEATHER]))

    assert _text(events) == ANSWERS[OTHER["Paris"]]  # read from the result, not the question
    assert not any(isinstance(e, ToolCallRequest) for e in events)
    assert events[-1].finish_reason == "stop"


def test_without_tools_the_server_answers_in_text(mlx_tool_server):
    question = [{"role": "user", "content": tiny_tool_model.question("Rome")}]

    events = asyncio.run(_stream(mlx_tool_server, question))

    assert _text(events) == tiny_tool_model.NO_TOOL
    assert not any(isinstance(e, ToolCallRequest) for e in events)


def test_a_turn_through_the_server_calls_the_tool_and_keeps_the_round(mlx_tool_server, tmp_path):
    store = Store.open(tmp_path / "chats.db")
    provider_settings = ProviderSettings("mlx", mlx_tool_server.base_url, params=GREEDY)
    session = ChatSession(store, Settings(defaults=GREEDY))
    session.set_model(remote_choice(provider_settings, mlx_tool_server.model_id))
    session.tools = Toolbox([function_tool(tiny_tool_model.weather)])
    asked = []

    async def approve(tool, arguments):
        asked.append((tool.name, arguments))
        return Approval.ONCE

    session.approve = approve

    async def go():
        provider = OpenAICompatProvider(mlx_tool_server.base_url, name="mlx")
        try:
            turn = session.send(tiny_tool_model.question("Paris"))
            return [e async for e in turn.events(provider)]
        finally:
            await provider.aclose()

    events = asyncio.run(go())

    assert asked == [("weather", {"city": "Paris"})]
    (result,) = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert result.content == REPORTS["Paris"]
    assert _text(events) == ANSWERS[REPORTS["Paris"]]
    reply = session.conversation.messages[-1]
    assert reply.content == ANSWERS[REPORTS["Paris"]]
    (step,) = reply.tool_rounds
    assert json.loads(step["calls"][0]["arguments"]) == {"city": "Paris"}
    kept = list(store.branch(session.conversation_id))[-1]  # the call kept with the reply
    assert kept.content == ANSWERS[REPORTS["Paris"]] and kept.tool_calls == reply.tool_rounds
    store.close()
