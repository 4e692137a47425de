"""The Python API's tools: ``LLMChat(tools=[functions], mcp_servers=[...], approve=...)``.

The caller's own functions run unasked by default; an MCP server's tools never do: without
``approve=`` the chat refuses them when it is made. Servers named from config.toml (or given as
dicts) are the real test server over stdio, started with the first use and stopped on close."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading

import pytest

from desktop_chat import Approval, AsyncLLMChat, LLMChat, Tool, ToolError, function_tool
from desktop_chat.api_tools import McpServerWarning
from desktop_chat.errors import ConfigError
from desktop_chat.mcp_servers import McpServerError
from desktop_chat.tools import DENIED, ToolCall
from tests.support.fake_openai import FakeOpenAI, Step, tool_call
from tests.support.mcp_servers import SCRIPT

SERVER = {"name": "tester", "command": sys.executable, "args": [str(SCRIPT), "stdio"]}
#: A chat that is never sent anything here: the tools are what is tested.
NOWHERE = {"base_url": "http://127.0.0.1:9/v1", "model": "tiny"}


def add(a: int, b: int) -> int:
    """Add two numbers the caller's way.

    Args:
        a: the first
        b: the second
    """
    return a + b + 1000


def shout(text: str) -> str:
    """Say it louder."""
    return text.upper()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """The app's settings folder, with the test server set up as [mcp.servers.tester]."""
    monkeypatch.setenv("DESKTOP_CHAT_HOME", str(tmp_path))
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "[mcp.servers.tester]\n"
        f"command = {json.dumps(sys.executable)}\n"
        f"args = [{json.dumps(str(SCRIPT))}, 'stdio']\n"
        'env = { GREETING = "hello from config.toml" }\n'
    )
    return tmp_path


async def call(chat: AsyncLLMChat, name: str, arguments: dict | None = None):
    box = await chat.toolbox()
    return await box.call(ToolCall("c1", name, json.dumps(arguments or {})), chat.tools.approve)


def test_the_callers_own_functions_are_offered_and_run_unasked_by_default():
    async def scenario():
        chat = AsyncLLMChat(**NOWHERE, tools=[shout, add])
        box = await chat.toolbox()
        assert [t["function"]["name"] for t in box.to_api()] == ["shout", "add"]
        schema = box.get("add").parameters
        assert schema["properties"]["a"] == {"type": "integer", "description": "the first"}
        result = await call(chat, "shout", {"text": "quiet"})
        await chat.aclose()
        return result

    result = asyncio.run(scenario())
    assert (result.is_error, result.content) == (False, "QUIET")


def test_mcp_servers_without_approve_are_refused_when_the_chat_is_made(home):
    with pytest.raises(ToolError) as refused:
        LLMChat(**NOWHERE, mcp_servers=["tester"])
    assert str(refused.value) == (
        "MCP servers' tools need approve=: nothing from a server runs unasked. Pass approve=a "
        "function (tool, arguments) returning Approval.ONCE, Approval.ALWAYS or Approval.DENY "
        "(or True/False); it may ask the user."
    )


def test_a_server_named_in_config_toml_is_asked_through_the_callers_approve(home):
    asked: list = []
    threads: list = []

    def approve(tool: Tool, arguments: dict):
        # A blocking callback (input(), a dialog) runs off the loop the chats share.
        threads.append(threading.current_thread() is threading.main_thread())
        asked.append((tool.label, arguments))
        return {"tester · echo": Approval.ALWAYS, "tester · add": False}.get(tool.label, True)

    async def scenario():
        chat = AsyncLLMChat(**NOWHERE, tools=[add], mcp_servers=["tester"], approve=approve)
        box = await chat.toolbox()
        # The caller's "add" keeps its name; the server's is qualified by the server's.
        assert box.get("add").server is None
        assert box.get("tester_add").server == "tester"
        denied = await call(chat, "tester_add", {"a": 1, "b": 2})
        environment = await call(chat, "environment")
        echoed = [(await call(chat, "echo", {"text": "hi"})).content for _ in range(2)]
        own = await call(chat, "add", {"a": 1, "b": 2})  # asked too: approve= decides all
        pid = int((await call(chat, "pid")).content)
        await chat.aclose()
        return denied, environment, echoed, own, pid

    denied, environment, echoed, own, pid = asyncio.run(scenario())
    assert denied.is_error and denied.content == DENIED
    assert "GREETING=hello from config.toml" in environment.content.splitlines()
    assert echoed == ["hi", "hi"]
    assert own.content == "1003"
    labels = [label for label, _ in asked]
    assert labels == [
        "tester · add",
        "tester · environment",
        "tester · echo",
        "add",
        "tester · pid",
    ]
    assert labels.count("tester · echo") == 1  # "always": asked the first time only
    assert not any(threads)
    with pytest.raises(ProcessLookupError):  # closed with the chat
        os.kill(pid, 0)


def test_a_server_given_as_a_dict_with_an_async_approve_and_the_sync_face():
    async def approve(tool, arguments):
        return Approval.ONCE

    chat = LLMChat(**NOWHERE, mcp_servers=[SERVER], approve=approve)
    try:
        box = chat.toolbox()
        assert "echo" in box and box.get("echo").label == "tester · echo"
    finally:
        chat.close()


def test_what_cannot_be_a_server_or_a_tool_is_said_when_the_chat_is_made(home):
    yes = lambda tool, arguments: True  # noqa: E731
    with pytest.raises(McpServerError, match="no MCP server named 'nowhere'") as unknown:
        AsyncLLMChat(**NOWHERE, mcp_servers=["nowhere"], approve=yes)
    assert "Known ones: tester" in str(unknown.value)
    with pytest.raises(ConfigError, match=r"'tester\.args' must be a list of text"):
        AsyncLLMChat(**NOWHERE, mcp_servers=[{**SERVER, "args": "stdio"}], approve=yes)
    with pytest.raises(McpServerError, match="has no name"):
        AsyncLLMChat(**NOWHERE, mcp_servers=[{"command": "x"}], approve=yes)
    with pytest.raises(ToolError, match="Two tools are named 'add'"):
        AsyncLLMChat(**NOWHERE, tools=[add, function_tool(add)])


def test_an_approve_that_answers_nonsense_is_said_and_a_server_that_fails_is_warned_of():
    async def scenario():
        chat = AsyncLLMChat(
            **NOWHERE,
            tools=[shout],
            mcp_servers=[{"name": "gone", "command": "/no/such/mcp-server"}],
            approve=lambda tool, arguments: "sure",
        )
        with pytest.warns(McpServerWarning, match="The MCP server 'gone' failed: its program"):
            box = await chat.toolbox()
        assert [t.name for t in box] == ["shout"]  # the failed server's tools: none offered
        with pytest.raises(ToolError, match="approve= answered 'sure'"):
            await call(chat, "shout", {"text": "x"})
        await chat.aclose()

    asyncio.run(scenario())


def calls(*specs: tuple[str, str, str]) -> list[list[dict]]:
    """Each call as OpenAI streams it: its id and name first, then its arguments in two pieces."""
    chunks = []
    for index, (call_id, name, arguments) in enumerate(specs):
        half = len(arguments) // 2
        chunks += [
            [tool_call(index, id=call_id, name=name, arguments="")],
            [tool_call(index, arguments=arguments[:half])],
            [tool_call(index, arguments=arguments[half:])],
        ]
    return chunks


def test_a_reply_calls_a_function_and_a_server_tool_and_answers_from_their_results():
    """The model (scripted: no model here emits calls on demand) asks for both tools in one
    round; each is approved by the caller's callback, run (the server's by the real server),
    and sent back; the answer is the second request's."""
    asked: list = []

    def approve(tool, arguments):
        asked.append((tool.label, arguments))
        return Approval.ONCE

    with FakeOpenAI() as fake:
        fake.script = [
            Step(
                tool_calls=calls(
                    ("call_1", "shout", '{"text": "hi"}'),
                    ("call_2", "echo", '{"text": "from the server"}'),
                )
            ),
            Step(pieces=["HI, ", "and from the server."]),
        ]
        chat = LLMChat(
            base_url=fake.base_url, model="m", tools=[shout], mcp_servers=[SERVER], approve=approve
        )
        try:
            answer = chat.chat("Use both tools.", stream=False)
        finally:
            chat.close()
    assert answer == "HI, and from the server."
    assert asked == [("shout", {"text": "hi"}), ("tester · echo", {"text": "from the server"})]
    offered = [t["function"]["name"] for t in fake.requests[0]["body"]["tools"]]
    assert offered[0] == "shout" and "echo" in offered and "environment" in offered
    results = [m for m in fake.requests[1]["body"]["messages"] if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in results] == [
        ("call_1", "HI"),
        ("call_2", "from the server"),
    ]


def test_without_approve_the_callers_function_runs_in_a_one_off_question_too():
    with FakeOpenAI() as fake:
        fake.script = [
            Step(tool_calls=calls(("call_1", "add", '{"a": 2, "b": 3}'))),
            Step(pieces=["It is 1005."]),
        ]
        chat = LLMChat(base_url=fake.base_url, model="m", tools=[add])
        try:
            response = chat.ask_response("What is 2 + 3, your way?")
        finally:
            chat.close()
    assert response.success and response.content == "It is 1005."
    [result] = [m for m in fake.requests[1]["body"]["messages"] if m["role"] == "tool"]
    assert result["content"] == "1005"
