"""Streaming a long code block costs the same per token at 200 KB as at 1 KB, and what is shown
is highlighted as pygments highlights the whole text, while it streams and after; Copy gives
the exact text received. Real widgets offscreen, real pygments."""

from __future__ import annotations

import re
import sys

from pygments.lexers import get_lexer_by_name
from pygments.styles import get_style_by_name
from pygments.token import Comment, String
from PySide6.QtWidgets import QApplication

from tests.support.code_samples import PYTHON
from tests.support.gui import screenshot


def tokens_of(text: str) -> list[str]:
    """About four characters a token, as models emit code: words with their spaces."""
    return re.findall(r"\S*\s*", text)[:-1]


def reply_view(qapp):
    from desktop_chat.gui.conversation_view import ConversationView

    view = ConversationView()
    view.resize(900, 700)
    view.show()
    return view, view.begin_reply(0)


def regex_matches(action) -> int:
    """Regular-expression matches run by ``action``: the lexing work, whoever does it."""
    count = 0

    def profile(_frame, event, arg):
        nonlocal count
        if event == "c_call" and isinstance(getattr(arg, "__self__", None), re.Pattern):
            count += arg.__name__ == "match"

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return count


def per_token_work(qapp, size: int, tokens: list[str]) -> tuple[list[int], list[int]]:
    """(regex matches, lines formatted) for each token drawn once the block holds ``size``."""
    view, reply = reply_view(qapp)
    body = "```python\n"
    while len(body) < size:
        body += PYTHON
    reply.feed(body)
    reply.flush()
    qapp.processEvents()
    matches, formatted = [], []
    block = reply._tail_code

    def one(token):
        reply.feed(token)
        reply.flush()  # every token drawn, none coalesced
        qapp.processEvents()

    for token in tokens:
        before = block.highlighter.formatted if hasattr(block, "highlighter") else 0
        matches.append(regex_matches(lambda token=token: one(token)))
        after = block.highlighter.formatted if hasattr(block, "highlighter") else 0
        formatted.append(after - before)
    assert reply._tail_code is block and block.code.startswith(body[len("```python\n") :])
    view.close()
    return matches, formatted


def test_a_200_kb_code_block_streams_at_the_cost_per_token_of_a_1_kb_one(qapp):
    tokens = tokens_of(PYTHON * 2)[:60]
    small, formatted_small = per_token_work(qapp, 1_000, tokens)
    large, formatted = per_token_work(qapp, 200_000, tokens)
    assert sum(large) <= 1.5 * sum(small) + 200, (sum(large), sum(small))
    assert max(large) < 3_000, "a token lexed far more than its line"
    # A token formats its own line, the lines it starts, and the lines of a docstring that
    # it closes (they become one docstring token): the same at 200 KB as at 1 KB.
    assert formatted == formatted_small
    assert max(formatted) <= 6, f"lines formatted again for one token: {max(formatted)}"


def shown_colors(block) -> list[str | None]:
    """The foreground colour of each UTF-16 unit on show (what Qt counts), from the formats
    of each line; ``None`` where the line has none and at each line's end."""
    colors: list[str | None] = []
    line = block.text.document().begin()
    while line.isValid():
        units: list[str | None] = [None] * (len(line.text().encode("utf-16-le")) // 2)
        for part in line.layout().formats():
            brush = part.format.hasProperty(part.format.Property.ForegroundBrush)
            color = part.format.foreground().color().name() if brush else None
            units[part.start : part.start + part.length] = [color] * part.length
        colors += [*units, None]
        line = line.next()
    return colors[:-1]


def pygments_colors(language: str, text: str, style: str) -> list[str | None]:
    look = get_style_by_name(style)
    source = text if text.endswith("\n") else text + "\n"
    colors: list[str | None] = [None] * len(source)
    for start, ttype, value in get_lexer_by_name(language).get_tokens_unprocessed(source):
        color = look.style_for_token(ttype)["color"]
        colors[start : start + len(value)] = [f"#{color}" if color else None] * len(value)
    for i, ch in enumerate(source):
        if ch == "\n":
            colors[i] = None  # a line's end has no colour on screen
    return colors[: len(text)]


def test_a_streamed_block_is_highlighted_as_pygments_highlights_it_whole(qapp):
    from desktop_chat.gui import theme

    style = theme.current().pygments_style
    code = PYTHON + "/* not C */\n"
    view, reply = reply_view(qapp)
    reply.feed("Here it is:\n```python\n")
    seen_open_docstring = False
    for i, piece in enumerate(re.findall(r".{1,3}", code, re.S)):
        reply.feed(piece)
        reply.flush()
        block = reply._tail_code
        if i % 7 == 0 or '"""' in piece:  # while multi-line strings open and close
            shown = block.code
            assert shown_colors(block) == pygments_colors("python", shown, style), (
                f"after {len(shown)} characters"
            )
            seen_open_docstring |= shown.count('"""') == 1 and "docstring" in shown
    assert seen_open_docstring
    qapp.processEvents()
    view.verticalScrollBar().setValue(0)
    screenshot(view, "code-streaming")
    reply.feed("```\nDone.")
    reply.finish({})
    block = reply.code_blocks[0]
    assert block.code == code.rstrip("\n")
    assert block.text.document().toPlainText() == block.code
    assert shown_colors(block) == pygments_colors("python", block.code, style)
    doc_line = next(i for i, t in enumerate(block.code.split("\n")) if "A docstring" in t)
    formats = block.text.document().findBlockByNumber(doc_line).layout().formats()
    assert formats and all(part.format.fontItalic() for part in formats[1:]), (
        "the docstring is typed as one (italic) once its closing quotes came"
    )
    view.close()


def test_copy_gives_the_exact_code_and_wide_characters_keep_their_colours(qapp):
    from desktop_chat.gui import theme
    from desktop_chat.gui.code_block import CodeBlock

    code = 's = "😀 ok"  # smile\r\nprint(s)\n\ttabbed = 1'
    block = CodeBlock("python")
    for end in range(1, len(code) + 1):
        block.set_code(code[:end], streaming=True)
    block.copy()
    assert QApplication.clipboard().text() == code, "Copy gives exactly what was received"
    colors = shown_colors(block)
    comment = len('s = "😀 ok"  '.encode("utf-16-le")) // 2  # Qt counts the emoji twice
    look = get_style_by_name(theme.current().pygments_style)
    assert colors[comment] == f"#{look.style_for_token(Comment.Single)['color']}"
    assert colors[comment - 3] == f"#{look.style_for_token(String.Double)['color']}"
