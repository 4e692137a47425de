"""A local model's tool calls told apart from its answer, in the text it streams.

A tool model writes each call between its tokenizer's markers (mlx-lm's ``tool_call_start`` and
``tool_call_end``: ``<tool_call>…</tool_call>`` for Qwen, ``[TOOL_CALLS]`` with no end for
Mistral); what lies between them is the call's text, which mlx-lm's own parser for the model
(``tool_parser``) reads once the reply has ended, as mlx_lm.server does. The rest is the answer.
A marker may be split across pieces at any point: text that could be its start is held until
the next piece says. Plain Python: the engine runs it on its thread beside ``ReplyParser``.
"""

from __future__ import annotations


class ToolCallText:
    """Feed the answer's text in pieces (``feed``): it returns what to show; each call's text
    is kept in ``calls``, in order. ``close()`` returns what was held back once the reply has
    ended (a call cut short by the token limit is kept as it stands, as mlx_lm.server does)."""

    def __init__(self, start: str, end: str | None) -> None:
        self.start = start
        #: None or empty: a call runs to the end of the reply.
        self.end = end or None
        self.calls: list[str] = []
        self._inside = False
        self._call: list[str] = []
        self._held = ""

    def feed(self, piece: str) -> str:
        shown: list[str] = []
        buffer = self._held + piece
        while True:
            marker = self.end if self._inside else self.start
            if marker is None:  # inside a call that ends with the reply
                self._call.append(buffer)
                self._held = ""
                return "".join(shown)
            at = buffer.find(marker)
            if at < 0:
                keep = _partial(buffer, marker)
                self._held = buffer[len(buffer) - keep :]
                self._plain(buffer[: len(buffer) - keep], shown)
                return "".join(shown)
            self._plain(buffer[:at], shown)
            if self._inside:
                self.calls.append("".join(self._call))
                self._call = []
            self._inside = not self._inside
            buffer = buffer[at + len(marker) :]

    def close(self) -> str:
        held, self._held = self._held, ""
        if self._inside:
            self._call.append(held)
            self.calls.append("".join(self._call))
            self._call, self._inside = [], False
            return ""
        return held

    def _plain(self, text: str, shown: list[str]) -> None:
        if not text:
            return
        (self._call if self._inside else shown).append(text)


def _partial(text: str, marker: str) -> int:
    """How many characters at the end of ``text`` could begin ``marker``."""
    for size in range(min(len(text), len(marker) - 1), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
