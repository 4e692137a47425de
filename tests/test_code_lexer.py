"""A streaming code block is lexed incrementally, and at every step it is typed exactly as
pygments types the whole text so far: multi-line strings, docstrings and comments included,
however the text is cut into tokens."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pygments.lexers import get_lexer_by_name

from desktop_chat.gui.code_lexer import LOOKBACK, IncrementalLexer

SAMPLES = {
    "python": '''import re


def keep(lines, limit=10):
    """Keep the lines that matter.

    A docstring over lines.
    """
    note = \'\'\'a multi-line
string\'\'\'
    out = []  # a comment
    for line in lines:
        if line.strip() and len(out) < limit:
            out.append(f"{line!r} and {limit}")
    return out
''',
    # The C lexer re-types names after its loop (size_t is a type) and has a stateful comment.
    "c": """#include <stdio.h>
/* a comment
   over lines */
size_t count(const char *s) {
    size_t n = 0; // count
    while (*s++) n++;
    return n;
}
""",
    # JavaScript's and Go's block comments are one look-ahead expression each.
    "javascript": """/**
 * A JSDoc comment.
 */
const x = `template
${y} string`;
function f(a) { return a * 2; } // done
""",
    "go": "package main\n/* a\nb */\nfunc main() { s := `raw\nx` }\n",
    "bash": 'cat <<EOF\nheredoc $HOME\nEOF\necho "multi\nline" # c\n',
    "html": '<p><!-- a\ncomment --><script>\nvar x = 1;\n</script><b class="a">hi</b></p>\n',
    "rust": '/// doc\nfn main() {\n    let s = r#"raw\nstring"#;\n    /* block\n    comment */\n}\n',
    "json": '{\n  "key": [1, 2, {"a": true}],\n  "b": "str"\n}\n',
    "sql": "SELECT a, /* c\n */ 'x\ny' FROM t;\n",
}


def pygments_types(language: str, text: str) -> list:
    """The token type of each character, from pygments lexing the whole text."""
    source = text if text.endswith("\n") else text + "\n"
    types: list = [None] * len(source)
    for start, ttype, value in get_lexer_by_name(language).get_tokens_unprocessed(source):
        types[start : start + len(value)] = [ttype] * len(value)
    for i in range(1, len(types)):  # characters a rule skipped: as the token before them
        types[i] = types[i] if types[i] is not None else types[i - 1]
    return types[: len(text)]


def incremental_types(lexer: IncrementalLexer) -> list:
    out = []
    for i in range(len(lexer.text)):
        k = lexer.token_at(i)
        out.append(lexer.types[k] if k >= 0 else None)
    return out


def stream(language: str, text: str, sizes: list[int]):
    """Feed ``text`` in pieces of ``sizes`` (then the rest); yield the lexer after each."""
    lexer = IncrementalLexer(get_lexer_by_name(language))
    i = 0
    for size in [*sizes, len(text)]:
        i = min(len(text), i + size)
        lexer.update(text[:i])
        yield lexer
        if i == len(text):
            return


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_every_step_of_a_stream_is_typed_as_pygments_types_the_whole(language):
    text = SAMPLES[language] * 2
    for lexer in stream(language, text, [3] * (len(text) // 3)):
        assert incremental_types(lexer) == pygments_types(language, lexer.text), (
            f"{language} differs after {len(lexer.text)} characters"
        )


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(SAMPLES)),
    st.lists(st.integers(min_value=1, max_value=25), min_size=1, max_size=80),
)
def test_any_cutting_ends_typed_as_pygments_types_the_whole(language, sizes):
    text = SAMPLES[language]
    *_, lexer = stream(language, text, sizes)
    assert incremental_types(lexer) == pygments_types(language, text)


def test_a_docstring_is_typed_again_when_its_closing_quotes_arrive():
    code = 'def f():\n    """Doc\n    more.\n    '
    lexer = IncrementalLexer(get_lexer_by_name("python"))
    lexer.update(code)
    assert "Doc" not in str(lexer.types[lexer.token_at(code.index('"""'))])
    kept, retyped = lexer.update(code + '"""\n')
    assert kept == len(code)
    assert code.index("\n") < retyped <= code.index('"""'), "the opening line is typed again"
    assert str(lexer.types[lexer.token_at(code.index("more"))]) == "Token.Literal.String.Doc"


def test_a_200_kb_block_lexes_only_its_open_line_per_token():
    unit = SAMPLES["python"]
    text = unit * (200_000 // len(unit))
    lexer = IncrementalLexer(get_lexer_by_name("python"))
    lexer.update(text[:-200])
    for end in range(len(text) - 200, len(text), 4):  # tokens of about four characters
        before = lexer.lexed
        lexer.update(text[:end])
        assert lexer.lexed - before <= 120, "more than the open line was lexed again"


def test_an_unclosed_string_costs_at_most_the_lookback_per_token():
    # A stray quote leaves pygments' Python lexer inside a string to the end of the text.
    text = 'x = "\n' + "a line of words\n" * 5_000
    lexer = IncrementalLexer(get_lexer_by_name("python"))
    lexer.update(text)
    before = lexer.lexed
    lexer.update(text + "more")
    assert lexer.lexed - before <= LOOKBACK + 100
