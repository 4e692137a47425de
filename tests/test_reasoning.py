"""The one parser that tells a reasoning model's thinking from its answer: whatever way the
thought comes (its own field, inline markers, a prompt that opened it) and however the stream
is cut into pieces, the thought and the answer come out the same, and no marker shows."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_chat.events import Event, ReasoningDelta, TextDelta
from desktop_chat.reasoning import THOUGHT_MARKERS, ReplyParser, ReplyParts, opens_thought


def fold(events: list[Event]) -> tuple[str, str]:
    parts = ReplyParts()
    for event in events:
        parts.add(event)
    return parts.reasoning, parts.text


def stream(pieces: list[tuple[str, str]], awaiting: str | None = None) -> list[Event]:
    """The events for ``(kind, piece)`` pieces: kind "text" (the answer's text, inline markers
    and all) or "reasoning" (a separate thinking field)."""
    parser = ReplyParser(awaiting)
    events: list[Event] = []
    for kind, piece in pieces:
        events += parser.text(piece) if kind == "text" else parser.reasoning(piece)
    return events + parser.close()


def cut(text: str, points: list[int]) -> list[str]:
    bounds = sorted({0, len(text), *(p % (len(text) + 1) for p in points)})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def whole(text: str, awaiting: str | None = None) -> tuple[str, str]:
    return fold(stream([("text", text)], awaiting))


# Fragments that stress the matcher: every marker, their halves and look-alikes, blank space,
# backticks and code fences, words.
MARKERS = [m for pair in THOUGHT_MARKERS for m in pair]
FRAGMENTS = st.sampled_from(
    [
        *MARKERS,
        "<",
        "</",
        "<th",
        "</thi",
        "think>",
        "<|",
        "|>",
        "[",
        "[/TH",
        "<|end",
        "<|return|>",
        "<|start|>assistant<|channel|>final<|message|>",
        " ",
        "\n",
        "\n\n",
        "`",
        "```",
        "a",
        "Paris",
        "word ",
        "é😀",
    ]
)
REPLIES = st.lists(FRAGMENTS, max_size=14).map("".join)
POINTS = st.lists(st.integers(min_value=0, max_value=10_000), max_size=12)
# Text with none of the markers in it, but plenty of their first characters.
FREE = st.text(alphabet="<>/|[]thinkTHINK a.\n`é", max_size=40).filter(
    lambda s: not any(m in s for m in MARKERS) and not s.endswith(("<", "<|", "["))
)


@settings(max_examples=400)
@given(REPLIES, POINTS, st.sampled_from([None, "</think>"]))
def test_any_chunking_gives_the_same_thought_and_answer(reply, points, awaiting):
    pieces = [("text", p) for p in cut(reply, points)]
    assert fold(stream(pieces, awaiting)) == whole(reply, awaiting)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(["text", "reasoning"]), REPLIES), max_size=5), POINTS)
def test_any_chunking_of_a_field_and_inline_text_gives_the_same_result(runs, points):
    """A server's thinking field and its content, each cut anywhere."""
    once = stream(runs)
    pieces = [(kind, p) for kind, text in runs for p in cut(text, points)]
    assert fold(stream(pieces)) == fold(once)


@given(FREE, FREE, POINTS, st.sampled_from(THOUGHT_MARKERS))
def test_an_inline_thought_is_told_from_the_answer_and_no_marker_shows(
    thought, answer, points, pair
):
    start, end = pair
    reply = f"\n{start}\n{thought}\n{end}\n\n{answer}"
    got = fold(stream([("text", p) for p in cut(reply, points)]))
    assert got == (thought.strip(), answer.lstrip())


@given(FREE, FREE, POINTS)
def test_a_thought_the_prompt_opened_ends_at_its_closing_marker(thought, answer, points):
    reply = f"{thought}\n</think>\n\n{answer}"
    events = stream([("text", p) for p in cut(reply, points)], awaiting="</think>")
    assert fold(events) == (thought.strip(), answer.lstrip())
    assert not any(isinstance(e, ReasoningDelta) and e.was_answer for e in events)
    first_answer = next((i for i, e in enumerate(events) if isinstance(e, TextDelta)), len(events))
    assert all(isinstance(e, ReasoningDelta) for e in events[:first_answer]), "thinking first"


@given(FREE.filter(lambda s: "`" not in s), FREE, POINTS)
def test_a_closing_marker_with_no_opening_one_moves_the_text_before_it_to_the_thought(
    thought, answer, points
):
    """A remote server whose template opened the thought: the text streams at once, as the
    answer, and moves into the thought when ``</think>`` shows it was one."""
    reply = f"{thought}\n</think>\n\n{answer}"
    events = stream([("text", p) for p in cut(reply, points)])
    assert fold(events) == (thought.strip(), answer.lstrip())


def test_a_plain_answer_is_passed_on_at_once_piece_by_piece():
    parser = ReplyParser()
    shown = []
    for piece in ["\n", "The capital", " of France", " is Paris."]:
        shown.append("".join(e.text for e in parser.text(piece)))
    assert shown == ["", "\nThe capital", " of France", " is Paris."]
    assert parser.close() == []


def test_a_marker_split_over_pieces_waits_only_for_the_next_piece():
    parser = ReplyParser()
    assert parser.text("<th") == []
    assert parser.text("ink>Let me see") == [ReasoningDelta("Let me see")]
    assert parser.thinking
    assert parser.text(".</thi") == [ReasoningDelta(".")]
    assert parser.text("nk>\n\nParis.") == [TextDelta("Paris.")]
    assert not parser.thinking


def test_markers_later_in_the_answer_are_its_own_text():
    reply = "<think>Short.</think>Use `<think>` tags, then </think>."
    assert whole(reply) == ("Short.", "Use `<think>` tags, then </think>.")
    # Quoted, or in a code block, a closing marker does not make the answer a thought.
    assert whole("Strip `</think>` like this.") == ("", "Strip `</think>` like this.")
    code = "```python\ntext.replace('</think>', '')\n```"
    assert whole(code) == ("", code)


def test_a_field_thought_then_the_answer():
    events = stream(
        [
            ("reasoning", "\nThe user greets."),
            ("reasoning", " Greet back.\n"),
            ("text", "\n\nHello!"),
        ]
    )
    assert events == [
        ReasoningDelta("The user greets."),
        ReasoningDelta(" Greet back."),
        TextDelta("Hello!"),
    ]


def test_an_empty_thought_gives_no_thinking():
    """Qwen3 with thinking off writes an empty thought; a template may have opened it."""
    assert stream([("text", "<think>\n\n</think>\n\nHi.")]) == [TextDelta("Hi.")]
    assert stream([("text", "\n</think>\n\nHi.")]) == [TextDelta("Hi.")]
    assert stream([("text", "</think>Hi.")], awaiting="</think>") == [TextDelta("Hi.")]


def test_harmony_channels_passed_through_unparsed():
    reply = (
        "<|channel|>analysis<|message|>User wants 2+2.<|end|>"
        "<|start|>assistant<|channel|>final<|message|>4<|return|>"
    )
    assert whole(reply) == ("User wants 2+2.", "4")


def test_the_prompt_tells_whether_it_opened_the_thought():
    assert opens_thought("<|im_start|>assistant\n<think>\n") == "</think>"
    assert opens_thought("<|im_start|>assistant\n<think>\n\n</think>\n\n") is None
    assert opens_thought("<|im_start|>assistant\n") is None
    assert opens_thought("<｜Assistant｜>[THINK]") == "[/THINK]"
