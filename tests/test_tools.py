"""The tools core: a Python function becomes a tool a model can call, and every call the
Toolbox runs is approved first and ends as a result the model can read (or, on Stop, not at all)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Literal

import pytest

from desktop_chat.tools import (
    DENIED,
    Approval,
    Tool,
    Toolbox,
    ToolCall,
    ToolError,
    ToolResult,
    function_tool,
)


def weather(city: str, days: int = 3, unit: Literal["C", "F"] = "C") -> dict:
    """Tell the weather in a city.

    Args:
        city: The city's name,
            in English.
        days (int): How many days ahead.
        unit: Celsius or Fahrenheit.

    Returns:
        The forecast.
    """
    return {"city": city, "days": days, "unit": unit}


def answering(answer: Approval, asked: list | None = None):
    async def approve(tool: Tool, arguments: dict) -> Approval:
        if asked is not None:
            asked.append((tool.name, arguments))
        return answer

    return approve


def run(coro):
    return asyncio.run(coro)


def test_a_function_becomes_a_tool_from_its_signature_hints_and_docstring():
    tool = function_tool(weather)
    assert tool.server is None and tool.label == "weather"
    assert tool.to_api() == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Tell the weather in a city.",
            "parameters": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "city": {"type": "string", "description": "The city's name, in English."},
                    "days": {
                        "type": "integer",
                        "default": 3,
                        "description": "How many days ahead.",
                    },
                    "unit": {
                        "type": "string",
                        "enum": ["C", "F"],
                        "default": "C",
                        "description": "Celsius or Fahrenheit.",
                    },
                },
                "required": ["city"],
            },
        },
    }


def test_sphinx_docstrings_and_no_parameters_are_read_too():
    def clock() -> str:
        """What time it is."""
        return "noon"

    def greet(name: str) -> str:
        """Greet someone.

        :param name: Who to greet.
        :returns: the greeting.
        """
        return f"hello {name}"

    assert function_tool(clock).parameters == {
        "type": "object",
        "additionalProperties": False,
        "properties": {},
    }
    greet_tool = function_tool(greet)
    assert greet_tool.description == "Greet someone."
    assert greet_tool.parameters["properties"]["name"]["description"] == "Who to greet."


def test_what_cannot_be_a_tool_is_said_when_it_is_made():
    def bad(a, /, b):
        """Positional only."""

    with pytest.raises(ToolError, match="positional-only parameter 'a'"):
        function_tool(bad)
    with pytest.raises(ToolError, match="cannot be a tool's name"):
        function_tool(lambda: 1)
    with pytest.raises(ToolError, match="Two tools are named 'weather'"):
        Toolbox([function_tool(weather), function_tool(weather)])


def test_an_approved_call_runs_the_function_and_returns_its_result_as_json_text():
    asked: list = []
    box = Toolbox([function_tool(weather)])
    result = run(
        box.call(ToolCall("call_1", "weather", '{"city": "Oslo"}'), answering(Approval.ONCE, asked))
    )
    assert asked == [("weather", {"city": "Oslo"})]
    assert isinstance(result, ToolResult)
    assert (result.call_id, result.name, result.is_error) == ("call_1", "weather", False)
    assert json.loads(result.content) == {"city": "Oslo", "days": 3, "unit": "C"}
    assert result.seconds >= 0
    assert result.to_api() == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": result.content,
    }


def test_a_plain_function_runs_off_the_loop_and_an_async_one_on_it():
    loop_thread: list = []

    def blocking() -> str:
        """Blocks."""
        loop_thread.append(threading.current_thread() is threading.main_thread())
        return "done"

    async def awaiting() -> str:
        """Awaits."""
        loop_thread.append(threading.current_thread() is threading.main_thread())
        await asyncio.sleep(0)
        return "awaited"

    box = Toolbox([function_tool(blocking), function_tool(awaiting)])
    ok = answering(Approval.ONCE)
    assert run(box.call(ToolCall("1", "blocking", ""), ok)).content == "done"
    assert run(box.call(ToolCall("2", "awaiting", "{}"), ok)).content == "awaited"
    assert loop_thread == [False, True]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (
            ToolCall("1", "nowhere", "{}"),
            "There is no tool named 'nowhere'. Tools offered: weather.",
        ),
        (ToolCall("1", "weather", '{"city": '), "are not valid JSON"),
        (ToolCall("1", "weather", "[1, 2]"), "are a JSON list, not an object"),
        (ToolCall("1", "weather", '{"city": 5}'), "city: Input should be a valid string"),
        (ToolCall("1", "weather", '{"town": "Oslo"}'), "city: Field required"),
    ],
)
def test_a_call_that_cannot_run_is_an_error_the_model_reads_and_asks_nothing(call, words):
    asked: list = []
    result = run(Toolbox([function_tool(weather)]).call(call, answering(Approval.ONCE, asked)))
    assert result.is_error and words in result.content
    if call.name == "nowhere" or "JSON" in words:
        assert asked == []  # nothing to approve


def test_a_denied_call_does_not_run_and_tells_the_model_so():
    ran: list = []

    def delete_everything() -> str:
        """Deletes everything."""
        ran.append(True)
        return "deleted"

    box = Toolbox([function_tool(delete_everything)])
    result = run(box.call(ToolCall("1", "delete_everything", ""), answering(Approval.DENY)))
    assert ran == []
    assert result.is_error and result.content == DENIED
    assert "The user denied this call." in result.content


def test_always_allowed_asks_once_then_never_again_and_is_told_to_the_app():
    asked: list = []
    remembered: list = []
    box = Toolbox([function_tool(weather)], on_always=lambda tool: remembered.append(tool.name))
    call = ToolCall("1", "weather", '{"city": "Oslo"}')
    run(box.call(call, answering(Approval.ALWAYS, asked)))
    second = run(box.call(call, answering(Approval.DENY, asked)))
    assert len(asked) == 1 and remembered == ["weather"]
    assert not second.is_error and box.get("weather").always_allowed
    box.allow_always("weather", False)  # revoked in Settings
    assert run(box.call(call, answering(Approval.DENY, asked))).content == DENIED
    assert len(asked) == 2


def test_a_tool_that_raises_or_overruns_its_timeout_is_an_error_result():
    def broken() -> str:
        """Breaks."""
        raise RuntimeError("the disk is full")

    async def slow() -> str:
        """Takes a minute."""
        await asyncio.sleep(60)
        return "late"

    box = Toolbox([function_tool(broken), function_tool(slow)])
    ok = answering(Approval.ONCE)
    failed = run(box.call(ToolCall("1", "broken", ""), ok))
    assert failed.is_error
    assert failed.content == "The tool 'broken' failed: RuntimeError: the disk is full"
    late = run(box.call(ToolCall("2", "slow", ""), ok, timeout=0.2))
    assert late.is_error and "did not answer within 0.2 seconds" in late.content
    assert late.seconds < 5


def test_the_timeout_bounds_the_run_not_the_time_the_user_takes_to_approve():
    async def slow_user(tool, arguments):
        await asyncio.sleep(0.3)
        return Approval.ONCE

    result = run(
        Toolbox([function_tool(weather)]).call(
            ToolCall("1", "weather", '{"city": "Oslo"}'), slow_user, timeout=0.1
        )
    )
    assert not result.is_error


def test_stop_during_a_call_cancels_it_without_a_result():
    started = asyncio.Event()
    finished: list = []

    async def long_job() -> str:
        """Takes long."""
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            finished.append("cleaned up")
        return "never"

    async def scenario():
        box = Toolbox([function_tool(long_job)])
        task = asyncio.create_task(
            box.call(ToolCall("1", "long_job", ""), answering(Approval.ONCE))
        )
        await started.wait()
        task.cancel()  # what Stop does to the turn's task
        with pytest.raises(asyncio.CancelledError):
            await task

    run(scenario())
    assert finished == ["cleaned up"]


def test_tool_calls_and_the_box_give_the_openai_shapes_for_the_next_request():
    call = ToolCall("call_9", "weather", '{"city":"Oslo"}')
    assert call.to_api() == {
        "id": "call_9",
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
    }
    assert call.parsed() == {"city": "Oslo"}
    assert ToolCall("x", "clock", "").parsed() == {}
    box = Toolbox([function_tool(weather)])
    assert [t["function"]["name"] for t in box.to_api()] == ["weather"]
    assert Toolbox().to_api() == [] and len(box) == 1 and "weather" in box
