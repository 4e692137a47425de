"""Streamed Markdown splits into blocks that render the same as the whole."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_chat.markdown_blocks import MarkdownStream

DOC = """# Reversing a list

Use slicing, which makes a copy:

```python
items = [1, 2, 3]

print(items[::-1])
```

Or in place:

1. call `items.reverse()`

   it returns `None`
2. done

| way | copies |
| --- | --- |
| slicing | yes |

~~~
a tilde fence
```
still inside
~~~
The end."""


def blocks_of(chunks: list[str]) -> list[str]:
    stream = MarkdownStream()
    out: list[str] = []
    for chunk in chunks:
        out += stream.feed(chunk)
    return out + stream.finish()


def test_blocks_split_at_safe_places_only():
    blocks = blocks_of([DOC])
    assert "".join(blocks) == DOC
    assert blocks[0] == "# Reversing a list\n\n"
    code = next(b for b in blocks if b.startswith("```python"))
    assert code.endswith("```\n") and "print(items[::-1])" in code, "blank lines inside code stay"
    numbered = next(b for b in blocks if b.startswith("1."))
    assert "it returns `None`" in numbered and "2. done" in numbered, (
        "a list item's paragraph stays"
    )
    tilde = next(b for b in blocks if b.startswith("~~~"))
    assert "still inside" in tilde and tilde.endswith("~~~\n")


def test_the_tail_is_what_is_not_yet_final():
    stream = MarkdownStream()
    assert stream.feed("Hello wor") == [] and stream.tail == "Hello wor"
    assert stream.feed("ld.\n\nNext") == ["Hello world.\n\n"]
    assert stream.tail == "Next"


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
def test_any_chunking_gives_the_same_blocks(sizes):
    chunks, i = [], 0
    for size in sizes:
        chunks.append(DOC[i : i + size])
        i += size
    chunks.append(DOC[i:])
    assert blocks_of(chunks) == blocks_of([DOC])


def test_a_fence_right_after_prose_starts_a_block_of_its_own():
    # Models often write "Here it is:" and the fence on the next line, with no blank line:
    # the prose is final there, and the code then streams alone (not re-rendered with it).
    stream = MarkdownStream()
    assert stream.feed("Here it is:\n```python\nx = 1\n") == ["Here it is:\n"]
    assert stream.tail == "```python\nx = 1\n"
    assert stream.feed("```\nDone.") == ["```python\nx = 1\n```\n"]
    listed = blocks_of(["- a list\n```\ncode\n```\n"])
    assert listed == ["- a list\n", "```\ncode\n```\n"], "a fence at column 0 ends the list"
    indented = blocks_of(["- item\n\n  ```\n  code\n  ```\n"])
    assert indented == ["- item\n\n  ```\n  code\n  ```\n"], "an indented fence stays in it"
