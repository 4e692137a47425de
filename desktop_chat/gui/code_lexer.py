"""Pygments tokens for a code block that grows while it streams, lexed incrementally.

Highlighting the whole block again per frame grows with its length (1.2 s a frame at 200 KB).
Here a change is lexed again only from a *restart point* before it: a line start, with the
lexer's state stack as it stood there. A pygments ``RegexLexer`` is a pure function of (text,
position, stack), so lexing on from a restart point gives exactly the tokens a lex of the
whole text gives from there. The work per frame is the open line, however long the block.

Two kinds of construct reach back before the open line, and both are handled:
- Stateful ones (a Python triple-quoted string, a C comment in the C lexer) leave the lexer
  out of its root state at the line starts they cover. A change is lexed again from the last
  line start in the *root* state, so when such a string closes, its opening line is typed
  again (pygments makes a docstring one token only once its closing quotes are there).
- Look-ahead ones (JavaScript's or Go's ``/\\*.*?\\*/``, a shell here-document) are a single
  regular expression that fails, or matches something shorter, while the construct is open,
  and the lexer goes on as if it were code. Each rule tried on a finished line is tried once
  more against the text followed by common closers (``*/``, quotes, ``-->``, ``EOF``…); if
  it would then match otherwise, the construct is open and its position becomes a floor the
  next lexes start at or before, until it settles.
Both reach back at most ``LOOKBACK`` characters: past that (a 200 KB docstring), lexing goes
on from the line start's own state, so the cost per frame stays bounded.

Lexers not built on ``RegexLexer``'s loop restart at every line with a fresh state: JSON,
Makefile, console sessions, and YAML (whose indentation context a restart cannot rebuild).
``ExtendedRegexLexer`` ones (Ruby, Terraform) run their own loop from a restart point's stack.
No Qt here: the widget maps the tokens onto its lines (``code_block.py``).
"""

from __future__ import annotations

from bisect import bisect_right

from pygments.lexer import ExtendedRegexLexer, LexerContext, RegexLexer
from pygments.token import Error, Whitespace, _TokenType

#: How far back (characters) a change may make the lexer start again.
LOOKBACK = 8_000
#: Appended to the text to see whether a failed rule is an open multi-line construct.
_CLOSERS = "\n*/ \"\"\" ''' \" ' ` --> ]]> ]] ]=] }} %} ?>\n=end\nEND\nEOF\n)}]\n"
_ROOT = ("root",)


class IncrementalLexer:
    def __init__(self, lexer) -> None:
        self._lexer = lexer
        own = type(lexer).get_tokens_unprocessed
        if isinstance(lexer, ExtendedRegexLexer):
            plain = own is ExtendedRegexLexer.get_tokens_unprocessed
            self._mode = "context" if plain else "lines"
        elif isinstance(lexer, RegexLexer):
            # C, PHP, Lua and a few more re-type names in an override of RegexLexer's loop:
            # their own tokens are used, the stack from the same loop run here beside them.
            self._mode = "regex" if own is RegexLexer.get_tokens_unprocessed else "filtered"
        else:
            self._mode = "lines"
        self.text = ""
        #: Token i covers ``starts[i]`` up to ``starts[i + 1]`` (the last one, to the end).
        self.starts: list[int] = []
        self.types: list[_TokenType] = []
        # Restart points, in order: position, index of the first token there, state stack.
        self._at: list[int] = [0]
        self._first: list[int] = [0]
        self._stack: list[tuple[str, ...]] = [_ROOT]
        self._floor: int | None = None  # an open look-ahead construct starts here
        self._probe = ""  # the text with closers after it, while lexing a streaming text
        self._complete = 0  # lines before this position have their newline
        #: Characters lexed so far, all updates together: the work the tests bound.
        self.lexed = 0

    def update(self, text: str, streaming: bool = True) -> tuple[int, int]:
        """Take the block's whole text (usually the last one with more at its end). Returns
        (kept, retyped): the length of the start of the text that did not change, and the
        first position before it whose token type changed (``kept`` when none did).
        ``streaming`` False says the text is final: no construct can close any more."""
        kept = common_prefix(self.text, text)
        if kept == len(self.text) == len(text):
            return kept, kept
        i = self._restart_for(kept)
        pos, first, stack = self._at[i], self._first[i], self._stack[i]
        del self._at[i + 1 :], self._first[i + 1 :], self._stack[i + 1 :]
        old_starts, old_types = self.starts[first:], self.types[first:]
        del self.starts[first:], self.types[first:]
        self.text = text
        # Lexers expect a final newline (pygments adds one too); the open line gets it here.
        source = text if text.endswith("\n") else text + "\n"
        self._probe = text + _CLOSERS if streaming and self._mode != "lines" else ""
        self._complete = text.rfind("\n") + 1
        self._floor = None
        self.lexed += len(source) - pos
        getattr(self, "_lex_" + self._mode)(source, pos, stack)
        self._probe = ""
        retyped = _first_difference(
            old_starts, old_types, self.starts[first:], self.types[first:], pos, kept
        )
        return kept, retyped

    def token_at(self, index: int) -> int:
        """The index of the token that holds position ``index`` (-1 before the first)."""
        return bisect_right(self.starts, index) - 1

    def _restart_for(self, kept: int) -> int:
        """The restart point to lex again from, for a text that changed at ``kept``: the last
        one in the root state before the change (and before an open look-ahead construct),
        within ``LOOKBACK``; else the last one before the change, whatever its state."""
        reach = kept - LOOKBACK
        limit = kept
        if self._floor is not None and reach <= self._floor < kept:
            limit = self._floor
        i = last = bisect_right(self._at, limit) - 1
        while i > 0 and self._stack[i] != _ROOT and self._at[i - 1] >= reach:
            i -= 1
        return i if self._stack[i] == _ROOT else last

    def _token(self, start: int, ttype: _TokenType) -> None:
        if self.starts and self.starts[-1] >= start:  # a callback's empty or repeated start
            self.types[-1] = ttype
            return
        self.starts.append(start)
        self.types.append(ttype)

    def _restart_here(self, pos: int, stack) -> None:
        if pos > self._at[-1]:
            self._at.append(pos)
            self._first.append(len(self.starts))
            self._stack.append(tuple(stack))

    def _settled(self, rexmatch, pos: int, m) -> None:
        """A rule tried on a finished line: would it match otherwise once more text came?"""
        if pos < self._complete and (self._floor is None or pos < self._floor):
            other = rexmatch(self._probe, pos)
            if (m is None) != (other is None) or (m is not None and m.regs != other.regs):
                self._floor = pos

    def _lex_regex(self, source: str, pos: int, stack, emit: bool = True) -> None:
        """``RegexLexer.get_tokens_unprocessed`` (pygments 2.x) from ``pos`` with ``stack``,
        noting each line start on the way as a restart point."""
        lexer = self._lexer
        tokendefs = lexer._tokens
        stack = list(stack)
        statetokens = tokendefs[stack[-1]]
        probe = bool(self._probe)
        while True:
            for rexmatch, action, new_state in statetokens:
                m = rexmatch(source, pos)
                if probe:
                    self._settled(rexmatch, pos, m)
                if not m:
                    continue
                if emit and action is not None:
                    if type(action) is _TokenType:
                        if m.end() > pos:
                            self._token(pos, action)
                    else:
                        for start, ttype, value in action(lexer, m):
                            if value:
                                self._token(start, ttype)
                pos = m.end()
                if new_state is not None:
                    if isinstance(new_state, tuple):
                        for state in new_state:
                            if state == "#pop":
                                if len(stack) > 1:
                                    stack.pop()
                            elif state == "#push":
                                stack.append(stack[-1])
                            else:
                                stack.append(state)
                    elif isinstance(new_state, int):  # pop as many, keeping the root
                        if abs(new_state) >= len(stack):
                            del stack[1:]
                        else:
                            del stack[new_state:]
                    elif new_state == "#push":
                        stack.append(stack[-1])
                    statetokens = tokendefs[stack[-1]]
                break
            else:
                if pos >= len(source):
                    return
                if source[pos] == "\n":  # no rule matched the line's end: back to root
                    stack = ["root"]
                    statetokens = tokendefs["root"]
                    if emit:
                        self._token(pos, Whitespace)
                elif emit:
                    self._token(pos, Error)
                pos += 1
            if pos < len(source) and source[pos - 1] == "\n":
                self._restart_here(pos, stack)

    def _lex_filtered(self, source: str, pos: int, stack) -> None:
        if stack != _ROOT:  # the lexer's own loop starts at the root only
            return self._lex_regex(source, pos, stack)
        known = len(self._at)
        self._lex_regex(source, pos, stack, emit=False)  # the restart points only
        points = list(zip(self._at[known:], self._stack[known:], strict=True))
        del self._at[known:], self._first[known:], self._stack[known:]
        # The lexer's own tokens for the same stretch (it starts in the root state too).
        points.reverse()
        for start, ttype, value in self._lexer.get_tokens_unprocessed(source[pos:]):
            while points and points[-1][0] <= pos + start:
                at, state = points.pop()
                if at == pos + start:
                    self._restart_here(at, state)
            if value:
                self._token(pos + start, ttype)

    def _lex_context(self, source: str, pos: int, stack) -> None:
        if self._probe:  # RegexLexer's loop, only to find an open look-ahead construct
            known = len(self._at)
            self._lex_regex(source, pos, stack, emit=False)
            del self._at[known:], self._first[known:], self._stack[known:]
        ctx = LexerContext(source, pos, list(stack))
        for start, ttype, value in self._lexer.get_tokens_unprocessed(context=ctx):
            if start and ctx.pos == start and source[start - 1] == "\n":
                self._restart_here(start, ctx.stack)
            if value:
                self._token(start, ttype)

    def _lex_lines(self, source: str, pos: int, _stack) -> None:
        while pos < len(source):
            end = source.index("\n", pos) + 1
            for start, ttype, value in self._lexer.get_tokens_unprocessed(source[pos:end]):
                if value:
                    self._token(pos + start, ttype)
            if end < len(source):
                self._restart_here(end, _ROOT)
            pos = end


def common_prefix(a: str, b: str) -> int:
    """Length of the common start of ``a`` and ``b``, found with memory compares."""
    if b.startswith(a):
        return len(a)
    if a.startswith(b):
        return len(b)
    low, high = 0, min(len(a), len(b))
    while low < high:  # a[:low] == b[:low] and a[:high + 1] != b[:high + 1]
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _first_difference(old_starts, old_types, new_starts, new_types, pos, limit) -> int:
    """The first position in [pos, limit) whose type differs between two token runs that
    both begin at ``pos``; ``limit`` when none does (the text itself changed from there)."""
    i = j = 0
    while pos < limit:
        while i + 1 < len(old_starts) and old_starts[i + 1] <= pos:
            i += 1
        while j + 1 < len(new_starts) and new_starts[j + 1] <= pos:
            j += 1
        if i >= len(old_types) or j >= len(new_types) or old_types[i] is not new_types[j]:
            return pos
        pos = min(old_starts[i + 1 : i + 2] + new_starts[j + 1 : j + 2] + [limit])
    return limit
