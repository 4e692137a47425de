"""A request's JSON body, made so that a thread making it never stops the window's thread.

``json.dumps`` holds the GIL for the whole of each string it escapes: a 2 MB message encoded
in one call stops every other thread (the window's too) for ~10 ms, even from a worker
thread. Here a long string is escaped in slices, between which the GIL can pass, and the
result is the same bytes ``json.dumps`` gives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

#: Characters escaped in one call: a fraction of a millisecond.
SLICE = 32_768


def encode(body: Any) -> bytes:
    """``body`` as compact UTF-8 JSON: byte for byte what the openai SDK sends
    (``json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)``)."""
    return b"".join(_pieces(body))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _pieces(value: Any) -> Iterator[bytes]:
    if isinstance(value, str) and len(value) > SLICE:
        yield b'"'
        for start in range(0, len(value), SLICE):
            yield _dumps(value[start : start + SLICE])[1:-1]  # each without its quotes
        yield b'"'
    elif isinstance(value, dict):
        yield b"{"
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"keys must be str, not {type(key).__name__}")
            yield (b",%s:" if i else b"%s:") % _dumps(key)
            yield from _pieces(item)
        yield b"}"
    elif isinstance(value, (list, tuple)):
        yield b"["
        for i, item in enumerate(value):
            if i:
                yield b","
            yield from _pieces(item)
        yield b"]"
    else:
        yield _dumps(value)
