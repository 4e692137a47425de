"""A turn that calls tools, through ``ChatSession`` and the real OpenAI-compatible provider,
against the scripted server (no model here emits calls; see test_tool_calls.py): each call
approved then run, its result sent back, until the model answers; the round limit; Deny read
by the model as a refusal; Stop during a call; the calls and results kept with the reply in the
store (a migration from every earlier schema), exported, and replayed in later turns."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from desktop_chat import store as store_module
from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.events import Finished, TextDelta, ToolCallRequest, ToolResultEvent
from desktop_chat.models import remote_choice
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from desktop_chat.session import ROUNDS_USED, STOPPED_CALL, ChatSession
from desktop_chat.store import Store
from desktop_chat.store_export import export_conversation, import_conversation, to_markdown
from desktop_chat.tools import DENIED, Approval, Toolbox, function_tool
from tests.support.fake_openai import FakeOpenAI, Step, tool_call

ran: list[str] = []


def weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: the city's name
    """
    ran.append(city)
    return f"Sunny in {city}, 21 °C"


def calls(*specs: tuple[str, str, str]) -> list[list[dict]]:
    """Each call as OpenAI streams it: id and name first, then its arguments in two pieces."""
    chunks = []
    for index, (call_id, name, arguments) in enumerate(specs):
        half = len(arguments) // 2
        chunks += [
            [tool_call(index, id=call_id, name=name, arguments="")],
            [tool_call(index, arguments=arguments[:half])],
            [tool_call(index, arguments=arguments[half:])],
        ]
    return chunks


class Asker:
    """An approval callback that answers from a list and remembers what it was asked."""

    def __init__(self, *answers: Approval) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, dict]] = []

    async def __call__(self, tool, arguments):
        self.asked.append((tool.name, arguments))
        return self.answers.pop(0) if self.answers else Approval.ONCE


@pytest.fixture
def fake():
    ran.clear()
    with FakeOpenAI() as server:
        yield server


def session_for(fake, store=None, rounds: int = 8, approve=None) -> ChatSession:
    session = ChatSession(store, Settings(tool_rounds=rounds))
    session.set_model(remote_choice(ProviderSettings("fake", fake.base_url), "m"))
    session.tools = Toolbox([function_tool(weather)])
    session.approve = approve or Asker()
    return session


def turn_events(session, text, fake):
    provider = OpenAICompatProvider(fake.base_url, name="fake")

    async def go():
        turn = session.send(text)
        try:
            return turn, [e async for e in turn.events(provider)]
        finally:
            await provider.aclose()

    return asyncio.run(go())


def sent(fake, n: int) -> list[dict]:
    return fake.requests[n]["body"]["messages"]


def test_two_rounds_of_calls_then_the_answer(fake, tmp_path):
    store = Store.open(tmp_path / "c.db")
    asker = Asker()
    session = session_for(fake, store, approve=asker)
    fake.script = [
        Step(
            pieces=["Checking."],
            tool_calls=calls(
                ("call_1", "weather", '{"city": "Paris"}'),
                ("call_2", "weather", '{"city": "Rome"}'),
            ),
            usage={"prompt_tokens": 10, "completion_tokens": 5},
        ),
        Step(
            tool_calls=calls(("call_3", "weather", '{"city": "Oslo"}')),
            usage={"prompt_tokens": 20, "completion_tokens": 4},
        ),
        Step(
            pieces=["Sunny ", "everywhere."],
            usage={"prompt_tokens": 30, "completion_tokens": 3},
        ),
    ]
    turn, events = turn_events(session, "Weather in Paris, Rome and Oslo?", fake)
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "TextDelta",
        "ToolCallRequest",
        "ToolResultEvent",
        "ToolResultEvent",
        "ToolCallRequest",
        "ToolResultEvent",
        "TextDelta",
        "TextDelta",
        "Finished",
    ], "one Finished, the reply's last"
    assert [e.round for e in events if isinstance(e, ToolCallRequest)] == [1, 2]
    assert ran == ["Paris", "Rome", "Oslo"], "each call ran, in order"
    assert asker.asked == [
        ("weather", {"city": "Paris"}),
        ("weather", {"city": "Rome"}),
        ("weather", {"city": "Oslo"}),
    ], "each call was approved first"
    result = next(e for e in events if isinstance(e, ToolResultEvent)).result
    assert result.content == "Sunny in Paris, 21 °C" and not result.is_error
    # The second request: the question, the assistant's calls, a tool message per call.
    second = sent(fake, 1)
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool"]
    assert second[1]["content"] == "Checking."
    assert [c["function"]["arguments"] for c in second[1]["tool_calls"]] == [
        '{"city": "Paris"}',
        '{"city": "Rome"}',
    ]
    assert [(m["tool_call_id"], m["content"]) for m in second[2:]] == [
        ("call_1", "Sunny in Paris, 21 °C"),
        ("call_2", "Sunny in Rome, 21 °C"),
    ]
    assert "tools" in fake.requests[2]["body"]
    roles = ["user", "assistant", "tool", "tool", "assistant", "tool"]
    assert [m["role"] for m in sent(fake, 2)] == roles
    final = events[-1]
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (60, 12), "summed"
    assert final.total_s >= final.ttft_s > 0
    assert final.extra["tool_rounds"] == 2 and final.finish_reason == "stop"
    reply = turn.reply
    assert reply.content == "Sunny everywhere." and not reply.interrupted
    assert [len(r["calls"]) for r in reply.tool_rounds] == [2, 1]
    assert reply.tool_rounds[0]["text"] == "Checking."
    # Kept in the store: a fresh session opening the chat has the same rounds.
    reopened = ChatSession(store)
    reopened.open(session.conversation_id)
    kept = reopened.conversation.messages[-1]
    assert kept.tool_rounds == reply.tool_rounds and kept.content == "Sunny everywhere."
    assert kept.tool_rounds[1]["results"][0]["content"] == "Sunny in Oslo, 21 °C"
    # Exported in the JSON, and back in through an import.
    exported = export_conversation(store, session.conversation_id)
    assert exported["messages"][-1]["tool_calls"] == reply.tool_rounds
    copy = import_conversation(store, exported)
    assert store.branch(copy)[-1].tool_calls == reply.tool_rounds
    markdown = to_markdown("Weather", store.branch(session.conversation_id))
    assert '*[Tool: weather `{"city": "Oslo"}` → Sunny in Oslo, 21 °C]*' in markdown
    # The next turn sends the whole history: calls and results before the answer, in order.
    fake.script = [Step(pieces=["You are welcome."])]
    turn_events(session, "Thanks!", fake)
    history = sent(fake, 3)
    assert [m["role"] for m in history] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert history[5] == {
        "role": "tool",
        "tool_call_id": "call_3",
        "content": "Sunny in Oslo, 21 °C",
    }
    assert history[6] == {"role": "assistant", "content": "Sunny everywhere."}
    store.close()


def test_the_time_the_user_takes_to_approve_is_neither_the_tools_nor_the_replys(fake):
    """A call approved after 0.6 s: its card's time is the tool's run, and the reply's total
    (what llmchat prints, the stats keep) leaves the wait out."""

    class Slow(Asker):
        async def __call__(self, tool, arguments):
            await asyncio.sleep(0.6)  # the user reads the card, then clicks Allow
            return await super().__call__(tool, arguments)

    session = session_for(fake, approve=Slow())
    fake.script = [
        Step(tool_calls=calls(("call_1", "weather", '{"city": "Paris"}'))),
        Step(pieces=["Sunny."]),
    ]
    started = time.monotonic()
    turn, events = turn_events(session, "Weather?", fake)
    wall = time.monotonic() - started
    result = next(e for e in events if isinstance(e, ToolResultEvent)).result
    finished = next(e for e in events if isinstance(e, Finished))
    assert result.waited_s >= 0.6 and result.seconds < 0.3, (result.waited_s, result.seconds)
    assert wall - finished.total_s >= 0.58, (wall, finished.total_s)
    assert turn.reply.meta["total_s"] == pytest.approx(finished.total_s, abs=0.01)


def test_a_denied_call_goes_back_to_the_model_as_a_refusal_it_reads(fake):
    session = session_for(fake, approve=Asker(Approval.DENY))
    fake.script = [
        Step(tool_calls=calls(("call_1", "weather", '{"city": "Paris"}'))),
        Step(pieces=["I was not allowed to look."]),
    ]
    turn, events = turn_events(session, "Weather?", fake)
    assert ran == [], "nothing ran"
    result = next(e for e in events if isinstance(e, ToolResultEvent)).result
    assert result.is_error and result.content == DENIED
    assert sent(fake, 1)[-1] == {"role": "tool", "tool_call_id": "call_1", "content": DENIED}
    assert turn.reply.content == "I was not allowed to look."
    assert turn.reply.tool_rounds[0]["results"][0]["is_error"] is True


def test_always_asks_once_then_runs_the_tool_unasked(fake):
    asker = Asker(Approval.ALWAYS)
    session = session_for(fake, approve=asker)
    fake.script = [
        Step(tool_calls=calls(("a", "weather", '{"city": "Paris"}'))),
        Step(tool_calls=calls(("b", "weather", '{"city": "Rome"}'))),
        Step(pieces=["Done."]),
    ]
    turn_events(session, "Weather?", fake)
    assert ran == ["Paris", "Rome"] and len(asker.asked) == 1


def test_past_the_round_limit_the_model_is_asked_to_answer_without_tools(fake):
    session = session_for(fake, rounds=2)
    fake.script = [
        Step(tool_calls=calls(("a", "weather", '{"city": "Paris"}'))),
        Step(tool_calls=calls(("b", "weather", '{"city": "Rome"}'))),
        Step(pieces=["Paris and Rome are sunny."]),
    ]
    turn, _ = turn_events(session, "Weather?", fake)
    assert ran == ["Paris", "Rome"] and len(fake.requests) == 3
    last = fake.requests[2]["body"]
    assert "tools" not in last, "no tools offered past the limit"
    assert last["messages"][-1] == {"role": "user", "content": ROUNDS_USED.format(n=2)}
    assert turn.reply.content == "Paris and Rome are sunny." and len(turn.reply.tool_rounds) == 2


def test_a_model_that_calls_again_past_the_limit_ends_the_turn_with_a_sentence(fake):
    session = session_for(fake, rounds=1)
    fake.script = [
        Step(tool_calls=calls(("a", "weather", '{"city": "Paris"}'))),
        Step(tool_calls=calls(("b", "weather", '{"city": "Rome"}'))),  # it ignores the note
    ]
    turn, events = turn_events(session, "Weather?", fake)
    assert ran == ["Paris"], "the call past the limit was not run"
    assert isinstance(events[-1], Finished) and len(fake.requests) == 2
    said = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "after 1 rounds of tool calls; they were not run" in said
    assert "[app] tool_rounds" in said
    assert turn.reply.meta["tool_limit"] is True and turn.reply.content == said


def test_stop_during_a_call_cancels_it_and_keeps_a_history_that_can_be_sent(fake, tmp_path):
    store = Store.open(tmp_path / "c.db")
    started, cancelled = asyncio.Event(), []

    async def slow(city: str) -> str:
        """Never answers."""
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(city)
            raise
        return "never"

    session = session_for(fake, store)
    session.tools = Toolbox([function_tool(slow)])
    fake.script = [
        Step(
            pieces=["Looking."],
            tool_calls=calls(("a", "slow", '{"city": "Paris"}'), ("b", "slow", '{"city": "X"}')),
        )
    ]
    provider = OpenAICompatProvider(fake.base_url, name="fake")

    async def go():
        turn = session.send("Weather?")

        async def consume():
            return [e async for e in turn.events(provider)]

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()  # what Stop (and Ctrl+C in llmchat) does
        with pytest.raises(asyncio.CancelledError):
            await task
        await provider.aclose()
        return turn

    turn = asyncio.run(go())
    assert cancelled == ["Paris"], "the running call was cancelled"
    reply = turn.reply
    assert reply.interrupted and turn.ended
    results = reply.tool_rounds[0]["results"]
    assert [(r["call_id"], r["content"], r["is_error"]) for r in results] == [
        ("a", STOPPED_CALL, True),
        ("b", STOPPED_CALL, True),
    ], "every call has its answer, so the next request is one a server accepts"
    stored = store.branch(session.conversation_id)[-1]
    assert stored.interrupted and stored.tool_calls == reply.tool_rounds
    fake.script = [Step(pieces=["OK."])]
    turn_events(session, "Never mind.", fake)
    history = sent(fake, 1)
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool", "user"]
    assert history[1]["content"] == "Looking." and len(history[1]["tool_calls"]) == 2
    store.close()


def test_a_provider_that_takes_no_tools_is_offered_none_and_runs_none(fake):
    session = session_for(fake)
    # A server that streams a call it was offered no tool for: the reply is its text.
    fake.script = [Step(pieces=["Hi."], tool_calls=calls(("a", "weather", '{"city": "X"}')))]
    provider = OpenAICompatProvider(fake.base_url, name="fake")
    provider.takes_tools = False  # as the local engine, or any provider without them

    async def go():
        turn = session.send("Hello")
        events = [e async for e in turn.events(provider)]
        await provider.aclose()
        return turn, events

    turn, events = asyncio.run(go())
    assert "tools" not in fake.requests[0]["body"] and len(fake.requests) == 1
    assert ran == [] and not any(isinstance(e, ToolCallRequest) for e in events)
    assert turn.reply.content == "Hi." and turn.reply.tool_rounds == []


def test_every_earlier_schema_version_gains_the_tool_calls_column(tmp_path, monkeypatch):
    """A file left at each earlier version opens with ``tool_calls`` ([] for the replies it
    holds, which read as before), and a reply with tool rounds is kept whole."""
    migrations = store_module.MIGRATIONS
    latest = len(migrations)
    index = migrations.index(store_module._v8)
    rounds = [{"text": "", "calls": [{"id": "a", "name": "t", "arguments": "{}"}], "results": []}]
    for version in range(1, index + 1):
        path = tmp_path / f"v{version}.sqlite3"
        monkeypatch.setattr(store_module, "MIGRATIONS", migrations[:version])
        old = Store.open(path)
        conv = old.db.execute(
            "INSERT INTO conversations (title, created, updated) VALUES ('Old', 1, 1)"
        ).lastrowid
        old.db.execute(
            "INSERT INTO messages (conversation_id, role, content, created, updated)"
            " VALUES (?, 'assistant', 'An old reply.', 1, 1)",
            (conv,),
        )
        old.close()
        monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
        s = Store.open(path)
        assert s.version == latest and s.integrity_ok()
        (message,) = s.messages(conv)
        assert message.content == "An old reply." and message.tool_calls == []
        new = s.add_message(conv, "assistant", "Called.", tool_calls=rounds)
        assert s.message(new).tool_calls == rounds
        s.update_message(new, "Called again.", interrupted=False, tool_calls=[])
        assert s.message(new).tool_calls == []
        s.close()
        with sqlite3.connect(path) as raw:
            column = next(
                c for c in raw.execute("PRAGMA table_info(messages)") if c[1] == "tool_calls"
            )
            assert column[2] == "TEXT" and column[3] == 1 and column[4] == "'[]'"
