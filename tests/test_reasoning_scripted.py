"""A reasoning model behind an OpenAI-compatible server, in the forms no real peer here sends
(mlx_lm.server sends ``reasoning``, tested in test_reasoning_real.py): ``reasoning_content``
deltas as DeepSeek, vLLM, LM Studio and llama.cpp send them, a stream that starts inside the
thought, usage that counts the thinking; and the thinking switches a request carries."""

from __future__ import annotations

import pytest

from desktop_chat.errors import StreamInterrupted
from desktop_chat.events import ReasoningDelta, TextDelta
from desktop_chat.params import GenerationParams
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.streams import MESSAGES, joined
from tests.support.streams import stream_events as run


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def test_reasoning_content_deltas_are_thinking_then_the_answer(fake):
    fake.script = [
        Step(
            reasoning=["\nThe user ", "greets me.", " Greet back.\n"],
            pieces=["\n\n", "Hello", "!"],
            usage={
                "prompt_tokens": 4,
                "completion_tokens": 9,
                "completion_tokens_details": {"reasoning_tokens": 6},
            },
        )
    ]
    events = run(OpenAICompatProvider(fake.base_url, name="deepseek"))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ReasoningDelta"] * 3 + ["TextDelta"] * 2 + ["Finished"], "thinking first"
    assert joined(events) == ("The user greets me. Greet back.", "Hello!")
    final = events[-1]
    assert final.usage.reasoning_tokens == 6, "the server's own count"
    assert final.usage.completion_tokens == 9
    assert 0 < final.ttft_s <= final.answer_ttft_s < final.total_s
    meta = final.as_metadata()
    assert meta["usage"]["reasoning_tokens"] == 6 and meta["answer_ttft_s"] == final.answer_ttft_s


def test_thinking_is_counted_when_the_server_does_not_say(fake):
    fake.script = [Step(reasoning=["a", "b", "c"], reasoning_field="reasoning", pieces=["ok"])]
    final = run(OpenAICompatProvider(fake.base_url, name="ollama"))[-1]
    assert final.usage.reasoning_tokens == 3 and final.usage.completion_tokens == 4
    assert final.usage.estimated


def test_a_plain_reply_keeps_its_figures_as_before(fake):
    fake.script = [
        Step(
            pieces=["Hi", "."],
            usage={
                "prompt_tokens": 2,
                "completion_tokens": 2,
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        )
    ]
    events = run(OpenAICompatProvider(fake.base_url, name="openai"))
    assert events[:-1] == [TextDelta("Hi"), TextDelta(".")]
    meta = events[-1].as_metadata()
    assert "reasoning_tokens" not in meta["usage"] and "answer_ttft_s" not in meta


def test_a_stream_that_starts_inside_the_thought_moves_it_out_of_the_answer(fake):
    """DeepSeek-R1 on a server that does not parse thinking: its template opened the thought,
    so only ``</think>`` arrives. The text is shown at once, then moved into the thought."""
    fake.script = [Step(pieces=["Okay, the user", " says hi.\n</th", "ink>\n\n", "Hi there."])]
    events = run(OpenAICompatProvider(fake.base_url, name="llama.cpp"))
    assert events[:2] == [TextDelta("Okay, the user"), TextDelta(" says hi.\n")], "not held back"
    assert events[2] == ReasoningDelta("Okay, the user says hi.", was_answer=True)
    assert events[3] == TextDelta("Hi there.")
    assert joined(events) == ("Okay, the user says hi.", "Hi there.")
    final = events[-1]
    assert final.usage.reasoning_tokens == 3, "the pieces before the answer were thinking"
    assert final.answer_ttft_s > final.ttft_s


def test_inline_tags_split_across_pieces_never_reach_the_answer(fake):
    fake.script = [Step(pieces=["<", "think", ">Hmm", ".</", "think>", "4"])]
    events = run(OpenAICompatProvider(fake.base_url, name="vllm"))
    assert joined(events) == ("Hmm.", "4")
    assert all("think" not in e.text for e in events if isinstance(e, TextDelta))


def test_a_stream_cut_after_thinking_is_not_retried_and_keeps_no_thought_as_answer(fake):
    fake.script = [Step(reasoning=["Let me think"], ending="cut"), Step(pieces=["again"])]
    with pytest.raises(StreamInterrupted) as info:
        run(OpenAICompatProvider(fake.base_url, name="deepseek"))
    assert info.value.partial_text == ""
    assert len(fake.requests) == 1, "a thought shown is never shown twice"


def test_the_thinking_switches_are_sent_only_when_set(fake):
    fake.script = [Step(pieces=["x"]), Step(pieces=["y"])]
    provider = OpenAICompatProvider(fake.base_url, name="vllm")
    run(provider)
    run(provider, GenerationParams(think=False, reasoning_effort="low"))
    plain, switched = (r["body"] for r in fake.requests)
    assert "chat_template_kwargs" not in plain and "reasoning_effort" not in plain
    assert switched["chat_template_kwargs"] == {"enable_thinking": False}
    assert switched["reasoning_effort"] == "low"


def test_a_server_refusing_chat_template_kwargs_is_asked_again_without_them(fake):
    fake.script = [
        Step(400, error="Unrecognized request argument supplied: chat_template_kwargs"),
        Step(pieces=["fine"]),
        Step(pieces=["again"]),
    ]
    provider = OpenAICompatProvider(fake.base_url, name="acme")
    params = GenerationParams(think=True)
    assert run(provider, params)[0] == TextDelta("fine")
    assert run(provider, params)[0] == TextDelta("again")
    first, second, third = (r["body"] for r in fake.requests)
    assert first["chat_template_kwargs"] == {"enable_thinking": True}
    assert "chat_template_kwargs" not in second and "chat_template_kwargs" not in third


def test_openais_own_api_is_never_sent_chat_template_kwargs():
    provider = OpenAICompatProvider("https://api.openai.com/v1", "sk-test", name="openai")
    params = GenerationParams(think=True, reasoning_effort="high")
    body = provider._request(MESSAGES, "o4-mini", params)
    assert "chat_template_kwargs" not in body and body["reasoning_effort"] == "high"


def test_the_thinking_switches_are_checked_and_layered_like_the_other_parameters():
    with pytest.raises(ValueError, match="think must be true or false"):
        GenerationParams(think="yes")
    with pytest.raises(ValueError, match="reasoning_effort must be one of"):
        GenerationParams(reasoning_effort="max")
    persona = GenerationParams(think=False)
    defaults = GenerationParams(think=True, reasoning_effort="high", temperature=0.5)
    layered = persona.over(defaults).to_dict()
    assert layered == {"temperature": 0.5, "think": False, "reasoning_effort": "high"}
    assert GenerationParams.from_mapping({"think": False}).think is False
