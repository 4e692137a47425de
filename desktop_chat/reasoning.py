"""A reasoning model's thinking, told apart from its answer: one parser for every way it comes.

Thinking arrives in a field of its own (``reasoning_content`` from DeepSeek, vLLM, LM Studio
and llama.cpp; ``reasoning`` from mlx_lm.server, OpenRouter and Ollama), or inline in the
answer's text between markers (``<think>…</think>`` and the variants below), the markers
split across pieces at any point. A model whose chat template opens the thought in the
prompt sends only the closing marker: where the prompt is known (the local engine) the parser
starts inside the thought; where it is not (a remote server), the text streams as answer
until a closing marker with no opening one shows it was thinking, and one
``ReasoningDelta(was_answer=True)`` then takes it out of the answer. Holding everything back
until the first marker would have delayed every plain answer by its whole length.

Only the first thought counts, and only at the start of the reply: markers later in the
answer (an answer about ``<think>`` tags, a code sample) are the answer's own text. The
thought is trimmed of the blank lines around it, and the answer of those before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from desktop_chat.events import Event, ReasoningDelta, TextDelta

#: (opening, closing) markers that servers and models put around a thought in the answer's
#: text: mlx-lm's list (tokenizer_utils ``_infer_thinking``) and a few more. gpt-oss's
#: harmony channels count when a server passes them through unparsed.
THOUGHT_MARKERS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"),  # Qwen3, DeepSeek-R1, QwQ, GLM, MiniMax, Kimi…
    ("<longcat_think>", "</longcat_think>"),
    ("<|think:start|>", "<|think:end|>"),
    ("<seed:think>", "</seed:think>"),  # Seed-OSS
    ("[THINK]", "[/THINK]"),  # Magistral
    ("<|channel>thought", "<channel|>"),  # Gemma (mlx-lm's multi-token markers)
    ("<|open|>think<|sep|>", "<|close|>think<|sep|>"),
    ("<|channel|>analysis<|message|>", "<|end|>"),  # gpt-oss (harmony)
)
#: Structural markers that are neither thought nor answer, dropped from the answer.
DROPPED: tuple[str, ...] = (
    "<|start|>assistant<|channel|>final<|message|>",  # harmony: the answer starts
    "<|channel|>final<|message|>",
    "<|return|>",
    "<|open|>response<|sep|>",  # mlx-lm's structural markers (``_infer_structural_markers``)
    "<|close|>response<|sep|>",
    "<|close|>message<|sep|>",
)

_START, _THOUGHT, _ANSWER = "start", "thought", "answer"


def opens_thought(prompt: str, pairs: Iterable[tuple[str, str]] = THOUGHT_MARKERS) -> str | None:
    """The closing marker awaited when the templated ``prompt`` ends inside a thought (its
    generation prompt ends with an opening marker, as DeepSeek-R1's and QwQ's do); else None."""
    tail = prompt.rstrip()
    return next((end for start, end in pairs if tail.endswith(start)), None)


@dataclass(slots=True)
class ReplyParser:
    """Feed the reply's pieces as they come: ``text()`` for the answer's text (inline markers
    and all), ``reasoning()`` for a separate thinking field; each returns the events to pass
    on, in order. ``close()`` returns what was held back once the reply has ended.

    ``awaiting`` is the closing marker to wait for when the prompt opened the thought
    (``opens_thought``); ``pairs`` and ``dropped`` default to every known marker."""

    awaiting: str | None = None
    pairs: tuple[tuple[str, str], ...] = THOUGHT_MARKERS
    dropped: tuple[str, ...] = DROPPED
    _state: str = field(default=_START, init=False, repr=False)
    #: In a thought: the closing marker that ends it (None: any, for a field's thought).
    _end: str | None = field(default=None, init=False, repr=False)
    #: Text that may be the start of a marker, held until the next piece says.
    _held: str = field(default="", init=False, repr=False)
    #: Whitespace held back: before the answer's first word, or at the thought's end so far.
    _space: str = field(default="", init=False, repr=False)
    #: Whether the thought (or the answer) has had a word yet.
    _begun: bool = field(default=False, init=False, repr=False)
    #: A thought has been seen: later markers are the answer's own text.
    _thought: bool = field(default=False, init=False, repr=False)
    #: The answer so far, while a bare closing marker could still show it was a thought.
    _answer: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.awaiting is not None:
            self._state, self._end, self._thought = _THOUGHT, self.awaiting, True

    @property
    def thinking(self) -> bool:
        """True while the reply is inside its thought."""
        return self._state == _THOUGHT

    def text(self, piece: str) -> list[Event]:
        out: list[Event] = []
        if not piece:
            return out
        if self._state == _THOUGHT and self._end is None:
            self._finish_thought()  # a field's thought ends where the answer's text begins
        buffer = self._held + piece
        while True:
            markers = self._markers()
            found = _earliest(buffer, markers)
            if found is None:
                keep = _partial(buffer, markers)
                self._held = buffer[len(buffer) - keep :]
                self._plain(buffer[: len(buffer) - keep], out)
                return out
            at, marker = found
            self._plain(buffer[:at], out)
            if self._markers() != markers:  # the text before it began the answer or thought:
                buffer = buffer[at:]  # look again from there for what counts now
                continue
            self._marker(marker, out)
            buffer = buffer[at + len(marker) :]

    def reasoning(self, piece: str) -> list[Event]:
        out: list[Event] = []
        if not piece:
            return out
        if self._state == _START:
            self._state, self._end, self._thought, self._begun = _THOUGHT, None, True, False
            self._space = ""
        if self._state == _THOUGHT:
            self._think(piece, out)
        else:  # thinking after the answer began (interleaved): still thinking, in order
            out.append(ReasoningDelta(piece))
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        held, self._held = self._held, ""
        self._plain(held, out)
        if self._state == _START and self._space:  # a reply of nothing but blank space
            out.append(TextDelta(self._space))
        self._space = ""
        return out

    # --- the states ----------------------------------------------------------------------

    def _markers(self) -> tuple[str, ...]:
        if self._state == _THOUGHT:
            ends = (self._end,) if self._end else tuple(end for _, end in self.pairs)
            # A repeated opening marker (the prompt opened it, the model opens it again).
            starts = () if self._begun else tuple(start for start, _ in self.pairs)
            return ends + starts
        if self._state == _START:
            return tuple(m for pair in self.pairs for m in pair) + self.dropped
        bare = () if self._thought else tuple(end for _, end in self.pairs)
        return bare + self.dropped

    def _plain(self, text: str, out: list[Event]) -> None:
        """Text between markers, in the current state."""
        if not text:
            return
        if self._state == _THOUGHT:
            self._think(text, out)
            return
        if not self._begun:
            text = (self._space + text) if not self._thought else text
            stripped = text.lstrip()
            if not stripped:
                self._space = "" if self._thought else text
                return
            # Blank lines before a plain answer are its own; after a thought, they are not.
            text = stripped if self._thought else text
            self._space, self._begun, self._state = "", True, _ANSWER
        if not self._thought:
            self._answer.append(text)
        out.append(TextDelta(text))

    def _think(self, text: str, out: list[Event]) -> None:
        if not self._begun:
            text = text.lstrip()
            if not text:
                return
            self._begun = True
        body = text.rstrip()
        if body:
            out.append(ReasoningDelta(self._space + body))
            self._space = text[len(body) :]
        else:
            self._space += text

    def _marker(self, marker: str, out: list[Event]) -> None:
        if marker in self.dropped:
            return
        if self._state == _START:
            end = dict(self.pairs).get(marker)
            if end is not None:  # the thought opens
                self._state, self._end, self._thought, self._begun = _THOUGHT, end, True, False
                self._space = ""
            else:  # a closing marker before any word: the prompt opened an empty thought
                self._finish_thought()
            return
        if self._state == _THOUGHT:
            if self._begun or marker in (end for _, end in self.pairs):
                self._finish_thought()
            return  # else an opening marker repeated before the thought's first word
        # A closing marker in an answer with no thought yet: was that answer a thought?
        before = "".join(self._answer)
        if before.endswith("`") or before.count("```") % 2:  # quoted, or in a code block
            self._answer.append(marker)
            out.append(TextDelta(marker))
            return
        self._answer.clear()
        self._finish_thought()
        if thought := before.strip():
            out.append(ReasoningDelta(thought, was_answer=True))

    def _finish_thought(self) -> None:
        self._state, self._end, self._thought = _ANSWER, None, True
        self._begun, self._space = False, ""
        self._answer.clear()


def piece_kind(events: list[Event], thinking: bool) -> str:
    """What a piece of the stream was, for ``ReplyClock.tick``: ``"answer"`` if it showed
    answer text, ``"reasoning"`` if it showed thinking or came while the reply was
    ``thinking`` (a closing marker alone), else ``"held"``."""
    if any(isinstance(e, TextDelta) for e in events):
        return "answer"
    if thinking or any(isinstance(e, ReasoningDelta) for e in events):
        return "reasoning"
    return "held"


def _earliest(text: str, markers: tuple[str, ...]) -> tuple[int, str] | None:
    """The marker that starts first in ``text`` (the longest of those starting there)."""
    best: tuple[int, int, str] | None = None
    for marker in markers:
        at = text.find(marker)
        if at >= 0 and (best is None or (at, -len(marker)) < (best[0], best[1])):
            best = (at, -len(marker), marker)
    return None if best is None else (best[0], best[2])


def _partial(text: str, markers: tuple[str, ...]) -> int:
    """The length of the longest end of ``text`` that begins some marker."""
    best = 0
    for marker in markers:
        for n in range(min(len(marker) - 1, len(text)), best, -1):
            if text.endswith(marker[:n]):
                best = n
                break
    return best


@dataclass(slots=True)
class ReplyParts:
    """A reply's answer and thought, joined from its events as they come."""

    _text: list[str] = field(default_factory=list, init=False)
    _reasoning: list[str] = field(default_factory=list, init=False)

    def add(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            if event.was_answer:
                self._text.clear()
            self._reasoning.append(event.text)

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    @property
    def started(self) -> bool:
        """Anything at all has arrived (an answer, or a thought)."""
        return bool(self._text or self._reasoning)
