"""How ``llmchat`` prints a reply as it streams: a reasoning model's thinking first, dimmed on a
terminal that shows it, then the answer, then the reply's figures.

Where dimming cannot show (output piped or written to a file, ``TERM=dumb``, ``NO_COLOR``),
words mark the parts instead, "Thinking:" and "Answer:", so that a transcript read later still
tells them apart; no escape code lands in a file.
"""

from __future__ import annotations

import os
from typing import TextIO

from desktop_chat.events import Finished, ReasoningDelta
from desktop_chat.prompt_caches import cached_words

DIM, RESET = "\x1b[2m", "\x1b[0m"


def dims(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal that shows ANSI dim (and the user wants colour)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM", "dumb") in ("", "dumb"):
        return False
    return stream.isatty()


class ReplyView:
    """One reply on ``stream``: ``thought()`` and ``text()`` for its pieces, in order, then
    ``end()`` (also when it stopped mid-way: a dimmed thought is closed, the terminal left as
    it was)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.dim = dims(stream)
        self.part = ""  # "thought" or "answer" once one has begun

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def thought(self, event: ReasoningDelta) -> None:
        if event.was_answer:
            # What was printed as the answer was thinking (the model's template opened the
            # thought, and only its end showed it): printed text cannot be taken back, so say so.
            note = "[that was the model's thinking; its answer follows]"
            self._write(f"\n{DIM}{note}{RESET}\n\n" if self.dim else f"\n{note}\n\n")
            self.part = "answer"
            return
        if not self.part:
            self._write(f"{DIM}Thinking: " if self.dim else "Thinking: ")
            self.part = "thought"
        self._write(event.text)

    def text(self, text: str) -> None:
        if self.part == "thought":
            self._write(f"{RESET}\n\n" if self.dim else "\n\nAnswer: ")
        self.part = "answer"
        self._write(text)

    def end(self) -> None:
        if self.part == "thought" and self.dim:
            self._write(RESET)
        self.part = "ended"


def figures(event: Finished) -> str:
    """The reply's figures line; for a reply that thought, its thinking tokens and the time to
    its first answer token beside the time to its first token."""
    usage = event.usage
    thought = usage.reasoning_tokens is not None
    bits = [f"{event.total_s:.2f} s"]
    if event.tokens_per_s:
        bits.append(f"{event.tokens_per_s:.1f} tok/s")
    if usage.completion_tokens is not None:
        thinking = f" ({usage.reasoning_tokens} thinking)" if thought else ""
        bits.append(f"{usage.completion_tokens} tokens{thinking}")
    if thought and event.ttft_s is not None:
        bits.append(f"first token {event.ttft_s:.2f} s")
    if thought and event.answer_ttft_s is not None:
        bits.append(f"first answer token {event.answer_ttft_s:.2f} s")
    # A local reply: what of the prompt the engine had read already (its prompt cache).
    if cached := cached_words(
        int(event.extra.get("cached_prompt_tokens") or 0), usage.prompt_tokens
    ):
        bits.append(cached)
    return " · ".join(bits)
