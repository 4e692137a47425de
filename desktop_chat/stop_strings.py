"""Stop strings cut out of a streamed reply, as a server does: the reply ends where the first
one completes, and neither it nor anything after it reaches the user or the store.

Only the tail is searched: the text held back (at most the longest stop string less one
character) plus the new piece. Text that could be the start of a stop string is held back
until the next piece shows it is not one, then shown.
"""

from __future__ import annotations

from collections.abc import Iterable


class StopMatcher:
    """Feed the pieces as they come; show what ``feed`` returns, then what ``flush`` returns
    when the reply ends. ``stopped`` turns true once a stop string has completed."""

    def __init__(self, stops: Iterable[str]) -> None:
        self.stops = tuple(s for s in stops if s)  # "" would stop before the first word
        self.stopped = False
        self._held = ""

    def feed(self, piece: str) -> str:
        """The part of the reply that can be shown now."""
        if self.stopped:
            return ""
        if not self.stops:
            return piece
        tail = self._held + piece
        # The stop string that completes first ends the reply (as when generation halts on
        # it); of two ending at the same character, the longer one, which starts earlier.
        ends = [(i + len(s), i) for s in self.stops if (i := tail.find(s)) >= 0]
        if ends:
            self.stopped = True
            self._held = ""
            return tail[: min(ends, key=lambda end: (end[0], end[1]))[1]]
        keep = self._partial(tail)
        self._held = tail[len(tail) - keep :]
        return tail[: len(tail) - keep]

    def flush(self) -> str:
        """What was held back, once the reply has ended without completing a stop string."""
        held, self._held = self._held, ""
        return "" if self.stopped else held

    def discard(self) -> None:
        """Forget what was held back: it turned out not to be the answer's (it was thinking)."""
        self._held = ""

    def _partial(self, text: str) -> int:
        """The length of the longest end of ``text`` that begins some stop string."""
        best = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:n]):
                    best = n
                    break
        return best
