"""Tool calls with the local MLX engine, on the tiny tool model (Qwen2.5's template, mlx-lm's
own ``json_tools`` parser): the call is parsed and asked for, never shown as answer text; the
round after the tool's result answers from it; through a session, the call is approved, run and
answered; a model without tool support is offered none and still answers."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from desktop_chat.config import Settings
from desktop_chat.engine import MlxEngine
from desktop_chat.events import Finished, TextDelta, ToolCallRequest, ToolResultEvent
from desktop_chat.models import local_choice
from desktop_chat.params import GenerationParams
from desktop_chat.providers import tool_history
from desktop_chat.providers.mlx_local import MlxLocalProvider
from desktop_chat.session import ChatSession
from desktop_chat.tool_call_text import ToolCallText
from desktop_chat.tools import Approval, Toolbox, function_tool
from tests.support import tiny_tool_model
from tests.support.tiny_tool_model import ANSWERS, OTHER, REPORTS, WEATHER

pytestmark = pytest.mark.slow
GREEDY = GenerationParams(temperature=0.0, max_tokens=64)


@pytest.fixture
def engine():
    e = MlxEngine().start()
    yield e
    e.shutdown()
    assert not any(t.name == "mlx-engine" for t in threading.enumerate())


def generate(engine, messages, tools=None):
    events, stop = [], threading.Event()
    future = engine.generate(messages, GREEDY, events.append, stop, tools=tools)
    assert future.result(60) is None
    return events


def text_of(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def asked(city):
    return [{"role": "user", "content": tiny_tool_model.question(city)}]


def after_result(city, report):
    """The conversation as the session sends it after one call: the call's arguments as JSON
    text (the OpenAI form), then the tool's result."""
    return [
        *asked(city),
        {"role": "assistant", "content": None, "tool_calls": [tiny_tool_model.call(city)]},
        {"role": "tool", "tool_call_id": "call_0", "content": report},
    ]


def test_a_tool_model_asks_for_the_tool_and_the_call_is_never_answer_text(
    engine, tiny_tool_model_dir
):
    engine.load(tiny_tool_model_dir).result(60)
    assert engine.info.tools is True

    for city in ("Paris", "Rome"):
        events = generate(engine, asked(city), tools=[WEATHER])

        assert text_of(events) == ""  # no "<tool_call>", no JSON: nothing shown as the answer
        requests = [e for e in events if isinstance(e, ToolCallRequest)]
        assert len(requests) == 1 and len(requests[0].calls) == 1
        (call,) = requests[0].calls
        assert call.name == "weather" and call.parsed() == {"city": city}
        assert call.id.startswith("call_")
        assert json.loads(call.arguments) == {"city": city}  # JSON text, as OpenAI sends it
        finished = events[-1]
        assert isinstance(finished, Finished) and finished.finish_reason == "tool_calls"
        assert events.index(requests[0]) == len(events) - 2  # just before Finished


def test_the_round_after_the_result_answers_from_it(engine, tiny_tool_model_dir):
    engine.load(tiny_tool_model_dir).result(60)

    for city in ("Paris", "Rome"):
        # Either report for either city: the answer follows the result, not the question.
        for report in (REPORTS[city], OTHER[city]):
            events = generate(engine, after_result(city, report), tools=[WEATHER])
            assert text_of(events) == ANSWERS[report]
            assert not any(isinstance(e, ToolCallRequest) for e in events)
            assert events[-1].finish_reason == "stop"


def test_without_tools_offered_the_tool_model_answers_and_nothing_is_parsed(
    engine, tiny_tool_model_dir
):
    engine.load(tiny_tool_model_dir).result(60)

    events = generate(engine, asked("Paris"))  # the template renders no tools

    assert text_of(events) == tiny_tool_model.NO_TOOL
    assert not any(isinstance(e, ToolCallRequest) for e in events)
    assert events[-1].finish_reason == "stop"


def test_through_a_session_the_call_is_approved_run_and_answered(engine, tiny_tool_model_dir):
    provider = MlxLocalProvider(engine, tiny_tool_model_dir)
    session = ChatSession(None, Settings(defaults=GREEDY))
    session.set_model(local_choice(tiny_tool_model_dir))
    session.tools = Toolbox([function_tool(tiny_tool_model.weather)])
    asked_about = []

    async def approve(tool, arguments):
        asked_about.append((tool.name, arguments))
        return Approval.ONCE

    session.approve = approve

    async def go():
        turn = session.send(tiny_tool_model.question("Rome"))
        return [e async for e in turn.events(provider)]

    events = asyncio.run(go())

    assert asked_about == [("weather", {"city": "Rome"})]
    kinds = [type(e).__name__ for e in events if not isinstance(e, TextDelta)]
    assert kinds == ["ToolCallRequest", "ToolResultEvent", "Finished"]
    (result,) = [e.result for e in events if isinstance(e, ToolResultEvent)]
    assert result.content == REPORTS["Rome"] and not result.is_error
    assert text_of(events) == ANSWERS[REPORTS["Rome"]]
    reply = session.conversation.messages[-1]
    assert reply.content == ANSWERS[REPORTS["Rome"]]
    (step,) = reply.tool_rounds
    assert step["calls"][0]["name"] == "weather"
    assert json.loads(step["calls"][0]["arguments"]) == {"city": "Rome"}
    assert step["results"][0]["content"] == REPORTS["Rome"]
    assert events[-1].finish_reason == "stop" and events[-1].extra["tool_rounds"] == 1


def test_a_model_without_tool_support_is_offered_none_and_answers(engine, tiny_model_dir):
    provider = MlxLocalProvider(engine, tiny_model_dir)
    session = ChatSession(None, Settings(defaults=GREEDY))
    session.set_model(local_choice(tiny_model_dir))
    session.tools = Toolbox([function_tool(tiny_tool_model.weather)])

    async def go():
        turn = session.send("What is the capital of France?")
        return [e async for e in turn.events(provider)]

    events = asyncio.run(go())

    assert engine.info.tools is False
    assert text_of(events) == "The capital of France is Paris."
    assert not any(isinstance(e, ToolCallRequest | ToolResultEvent) for e in events)
    assert events[-1].finish_reason == "stop"


def test_a_model_without_tools_reads_earlier_calls_as_text(engine, tiny_model_dir):
    """A chat whose earlier reply called tools (with another model), continued with a model that
    has no tools: its template is given the calls and results as the reply's text (not
    ``tool_calls`` nor a ``tool`` role it does not know), and it answers."""
    from transformers import AutoTokenizer

    history = [
        *after_result("Paris", REPORTS["Paris"]),
        {"role": "assistant", "content": ANSWERS[REPORTS["Paris"]]},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    events = []

    async def go():
        provider = MlxLocalProvider(engine, tiny_model_dir)
        async for event in provider.stream(history, "m", GREEDY, tools=[WEATHER]):
            events.append(event)

    asyncio.run(go())

    folded = tool_history.as_text(history)
    assert [m["role"] for m in folded] == ["user", "assistant", "user"]
    assert folded[1]["content"] == (
        '[Called the tool weather with {"city": "Paris"}]\n\n'
        f"[weather returned: {REPORTS['Paris']}]\n\n{ANSWERS[REPORTS['Paris']]}"
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = tokenizer.apply_chat_template(folded, add_generation_prompt=True, tokenize=False)
    assert "None" not in prompt
    finished = events[-1]
    assert finished.usage.prompt_tokens == len(tokenizer.encode(prompt, add_special_tokens=False))
    assert finished.finish_reason in ("stop", "length") and text_of(events)
    assert not any(isinstance(e, ToolCallRequest) for e in events)


def test_the_model_choice_says_which_local_models_call_tools_as_the_engine_finds(
    engine, tiny_model_dir, tiny_tool_model_dir
):
    for folder, calls_tools in ((tiny_tool_model_dir, True), (tiny_model_dir, False)):
        assert local_choice(folder).tools is calls_tools  # read without loading: the picker
        engine.load(folder).result(60)
        assert engine.info.tools is calls_tools  # mlx-lm's own finding, once loaded


def test_the_picker_reads_tool_support_from_the_tokenizer_config_alone(tmp_path):
    from desktop_chat.hub import uses_tools

    def folder(name, config, jinja=None):
        path = tmp_path / name
        path.mkdir()
        (path / "tokenizer_config.json").write_text(json.dumps(config))
        if jinja is not None:
            (path / "chat_template.jinja").write_text(jinja)
        return path

    qwen = "{% if tools %}{{ tools }}<tool_call>{{ tool_call.name }}</tool_call>{% endif %}"
    assert uses_tools(folder("named", {"tool_parser_type": "mistral"}))
    assert uses_tools(folder("own-file", {}, jinja=qwen))  # newer conversions
    assert uses_tools(
        folder("named-templates", {"chat_template": [{"name": "tool_use", "template": qwen}]})
    )
    # Llama 3.1 renders tools, but mlx-lm knows no format to parse its calls by.
    assert not uses_tools(
        folder("llama", {"chat_template": "{% if tools %}{{ tools }}{% endif %}"})
    )
    assert not uses_tools(tmp_path / "missing")


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_a_call_split_across_pieces_anywhere_is_kept_whole_and_never_shown(size):
    text = 'Let me look.<tool_call>\n{"name": "weather"}\n</tool_call> <tool_ca'
    splitter = ToolCallText("<tool_call>", "</tool_call>")

    shown = "".join(splitter.feed(text[i : i + size]) for i in range(0, len(text), size))
    shown += splitter.close()

    assert shown == "Let me look. <tool_ca"  # a marker's start that never completed is text
    assert splitter.calls == ['\n{"name": "weather"}\n']


def test_a_call_without_an_end_marker_runs_to_the_end_of_the_reply():
    splitter = ToolCallText("[TOOL_CALLS]", "")  # Mistral's: no end marker

    shown = splitter.feed("[TOOL_") + splitter.feed('CALLS][{"name": "weather"}]')

    assert shown == "" and splitter.close() == ""
    assert splitter.calls == ['[{"name": "weather"}]']
