"""Stop strings found in the tail of a streamed reply, however the reply is cut into pieces:
the text shown is the text before the first stop string to complete, nothing after it, and
text that may begin a stop string waits only until the next piece says."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from desktop_chat.stop_strings import StopMatcher


def cut_whole(text: str, stops: list[str]) -> tuple[str, bool]:
    """The answer from the whole text at once, character by character: the reply ends at the
    first character that completes a stop string (the longer one, if two end there)."""
    stops = [s for s in stops if s]
    for end in range(1, len(text) + 1):
        done = [s for s in stops if text[:end].endswith(s)]
        if done:
            return text[: end - max(map(len, done))], True
    return text, False


def stream(pieces: list[str], stops: list[str]) -> tuple[str, bool, int]:
    """(what was shown, whether it stopped, the most ever held back)."""
    matcher = StopMatcher(stops)
    shown, fed, most_held = "", "", 0
    for piece in pieces:
        fed += piece
        shown += matcher.feed(piece)
        if not matcher.stopped:
            most_held = max(most_held, len(fed) - len(shown))
    shown += matcher.flush()
    return shown, matcher.stopped, most_held


def split(text: str, cuts: set[int]) -> list[str]:
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(text)), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@given(
    text=st.text(alphabet="abc ", max_size=24),
    stops=st.lists(st.text(alphabet="abc", max_size=4), max_size=3),
    cuts=st.sets(st.integers(min_value=1, max_value=23)),
)
def test_any_split_shows_what_the_whole_text_would(text, stops, cuts):
    shown, stopped, most_held = stream(split(text, cuts), stops)
    assert (shown, stopped) == cut_whole(text, stops)
    longest = max((len(s) for s in stops), default=0)
    assert most_held <= max(longest - 1, 0), "only a possible start of a stop string waits"


def test_every_split_of_a_sentence_with_a_stop_string_in_it():
    text = "The capital of France is Paris."
    expected = ("The capital of France is ", True)
    for mask in range(1 << 11):  # every split of the last 12 characters, around the stop
        cuts = {19 + i for i in range(11) if mask >> i & 1} | {5, 12}
        assert stream(split(text, cuts), ["Paris"])[:2] == expected, cuts


def test_a_possible_start_of_a_stop_string_is_shown_once_it_is_not_one():
    matcher = StopMatcher(["</answer>"])
    assert matcher.feed("x <") == "x "  # "<" may begin the stop string: held
    assert matcher.feed(" y") == "< y"  # it did not
    assert matcher.feed("</ans") == ""
    assert matcher.feed("wer> hidden") == "" and matcher.stopped
    assert matcher.feed("later") == "" and matcher.flush() == ""


def test_no_stop_strings_pass_every_piece_through_at_once():
    matcher = StopMatcher(["", ""])
    assert [matcher.feed(p) for p in ["Par", "is"]] == ["Par", "is"] and not matcher.stopped
