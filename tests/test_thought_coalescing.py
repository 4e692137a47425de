"""Streaming thought is appended in frames, not per token: thousands of thinking tokens must
cost the window tens of appends a second, while still showing live (issue 15)."""

from __future__ import annotations

import time

from desktop_chat.gui.conversation_view import ConversationView
from desktop_chat.gui.thought_view import FRAME_MS

RATE = 400  # tokens a second: faster than any local model here, twice the benchmark's


def test_a_streaming_thought_is_drawn_in_frames_and_shows_as_it_streams(qapp, qtbot) -> None:
    view = ConversationView()
    view.resize(800, 600)
    view.show()
    reply = view.begin_reply(0)
    tokens = [f"step {i} " for i in range(400)]  # a second of thinking at RATE
    seen_live = []
    start = time.monotonic()
    for i, token in enumerate(tokens):
        reply.think(token)
        qtbot.wait(int(max(0.0, start + (i + 1) / RATE - time.monotonic()) * 1000))
        if i == len(tokens) // 2:
            seen_live.append(reply.thought.body.toPlainText())  # what is on screen mid-way
    elapsed = time.monotonic() - start
    thought = reply.thought
    frames = elapsed * 1000 / FRAME_MS
    # One append a frame at most (two of slack for timers firing late), never one per token.
    assert thought.appends <= frames + 2, (thought.appends, frames)
    assert thought.appends < len(tokens) / 5
    # Live: text was on show half-way through, not held back to the end.
    assert seen_live[0] and len(seen_live[0]) < len("".join(tokens))
    assert thought.appends >= frames / 4
    reply.feed("The answer.")
    reply.finish({})
    assert thought.text == "".join(tokens)  # nothing lost or doubled by the coalescing
    assert not thought.is_open and thought.title.startswith("Thought for")
    view.close()
