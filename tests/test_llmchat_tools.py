"""Tools in the real ``llmchat`` process, driven with pexpect: a real MCP server over stdio
(written with the SDK, tests/support/mcp_servers.py) named in config.toml, and the scripted
server as the model, streaming its ``tool_calls`` as OpenAI does (no model here emits calls).
Each call is asked at the prompt: y runs it once, n denies it (the model reads the refusal), a
always allows the tool (remembered in config.toml); Ctrl+C at the prompt stops the reply."""

from __future__ import annotations

import sys
import tomllib

import pexpect
import pytest

from desktop_chat.tools import DENIED
from tests.support.fake_openai import FakeOpenAI, Step, tool_call
from tests.support.llmchat import PROMPT, spawn
from tests.support.mcp_servers import SCRIPT
from tests.support.settings import write_config

pytestmark = pytest.mark.slow
ASK = "[y/a/N] "


def add_call(call_id: str, a: int, b: int) -> Step:
    arguments = f'{{"a": {a}, "b": {b}}}'
    return Step(
        tool_calls=[
            [tool_call(0, id=call_id, name="add", arguments="")],
            [tool_call(0, arguments=arguments[:5])],
            [tool_call(0, arguments=arguments[5:])],
        ]
    )


@pytest.fixture
def chat(_isolated_home):
    with FakeOpenAI() as fake:
        config = write_config(
            _isolated_home,
            f'[providers.fake]\nbase_url = "{fake.base_url}"\nmodels = ["m"]\n'
            f"[mcp.servers.tester]\ncommand = {sys.executable!r}\n"
            f'args = ["{SCRIPT}", "stdio"]\n',
        )
        child = spawn(["fake:m"], _isolated_home)
        child.expect("tools offered; /tools lists them")
        child.expect_exact(PROMPT)
        yield child, fake, config
        child.sendline("bye")
        child.expect("Goodbye!")
        child.expect(pexpect.EOF)
        assert child.wait() == 0


def tool_messages(fake, n: int) -> list[dict]:
    return [m for m in fake.requests[n]["body"]["messages"] if m["role"] == "tool"]


def test_tools_lists_the_servers_tools(chat):
    child, _, _ = chat
    child.sendline("/tools")
    child.expect("MCP server tester: ready with 7 tools")
    child.expect_exact("tester · add: Add two whole numbers.")
    child.expect_exact(PROMPT)


def test_yes_runs_the_call_and_the_model_answers_from_its_result(chat):
    child, fake, _ = chat
    fake.script = [add_call("call_1", 2, 3), Step(pieces=["2 + 3 is ", "5."])]
    child.sendline("What is 2 + 3?")
    child.expect_exact("[tool call] tester · add")
    child.expect_exact('"a": 2,')
    child.expect_exact(ASK)
    child.sendline("y")
    child.expect(r"\[add answered in [\d.]+ s: 5\]")
    child.expect_exact("2 + 3 is 5.")
    child.expect(r"\[[\d.]+ s")  # the reply's figures
    child.expect_exact(PROMPT)
    assert "tools" in fake.requests[0]["body"]
    assert tool_messages(fake, 1) == [{"role": "tool", "tool_call_id": "call_1", "content": "5"}]


def test_no_denies_the_call_and_the_model_reads_the_refusal(chat):
    child, fake, _ = chat
    fake.script = [add_call("call_1", 2, 3), Step(pieces=["I may not add."])]
    child.sendline("What is 2 + 3?")
    child.expect_exact(ASK)
    child.sendline("n")
    child.expect_exact("[denied: tester · add was not called; the model is told so]")
    child.expect_exact("I may not add.")
    child.expect_exact(PROMPT)
    assert "add failed" not in child.logfile_read.getvalue(), "the refusal is said once"
    assert tool_messages(fake, 1)[0]["content"] == DENIED


def test_always_allows_the_tool_from_then_on_and_remembers_it(chat):
    child, fake, config = chat
    fake.script = [
        add_call("call_1", 1, 1),
        add_call("call_2", 2, 2),
        Step(pieces=["2 and 4."]),
    ]
    child.sendline("Add twice.")
    child.expect_exact(ASK)
    child.sendline("a")
    child.expect_exact("tester · add is always allowed from now on")
    child.expect(r"\[add answered in [\d.]+ s: 2\]")
    child.expect(r"\[add answered in [\d.]+ s: 4\]")  # not asked again
    child.expect_exact("2 and 4.")
    child.expect_exact(PROMPT)
    assert child.logfile_read.getvalue().count(ASK) == 1, "asked once, for the first call"
    kept = tomllib.loads(config.read_text())
    assert kept["mcp"]["servers"]["tester"]["always_allow"] == ["add"]


def test_ctrl_c_at_the_approval_prompt_stops_the_reply_and_the_next_line_is_read(chat):
    child, fake, _ = chat
    fake.script = [add_call("call_1", 2, 3), Step(pieces=["Still ", "here."])]
    child.sendline("What is 2 + 3?")
    child.expect_exact(ASK)
    child.sendintr()
    child.expect_exact("[stopped]")
    child.expect_exact(PROMPT)
    child.sendline("Are you there?")
    child.expect_exact("Still here.")
    child.expect_exact(PROMPT)
    # The stopped call went back answered, so the server took the next request.
    assert [m["role"] for m in fake.requests[1]["body"]["messages"]] == [
        "user",
        "assistant",
        "tool",
        "user",
    ]


def test_without_servers_no_tools_are_sent_and_tools_says_how_to_add_one(_isolated_home):
    with FakeOpenAI() as fake:
        write_config(_isolated_home, f'[providers.fake]\nbase_url = "{fake.base_url}"\n')
        child = spawn(["fake:m"], _isolated_home)
        child.expect_exact(PROMPT)
        child.sendline("/tools")
        child.expect_exact("No tools are offered. Add MCP servers as [mcp.servers.NAME]")
        child.expect_exact(PROMPT)
        fake.script = [Step(pieces=["Hi."])]
        child.sendline("Hello")
        child.expect_exact("Hi.")
        child.expect_exact(PROMPT)
        assert "tools" not in fake.requests[0]["body"]
        child.sendline("bye")
        child.expect(pexpect.EOF)
        assert child.wait() == 0
