"""A 2 MB message to an OpenAI-compatible server: its JSON is made off the event loop's thread
(the window's), in slices that let the GIL pass, and the server gets exactly the message.
(The loop's lag while sending is measured in ``tests/bench``.)"""

from __future__ import annotations

import asyncio
import json
import threading

from hypothesis import given
from hypothesis import strategies as st

from desktop_chat.events import Finished, TextDelta
from desktop_chat.params import GenerationParams
from desktop_chat.providers import request_body
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from tests.support.fake_openai import FakeOpenAI, Step

# Quotes, backslashes, control characters, accents, CJK and an emoji: all that JSON escapes
# or UTF-8 widens, at every offset of the slices.
TRICKY = 'line "one"\\ \t\x01 café 東京 😀\n'
BIG = TRICKY * (2_000_000 // len(TRICKY))


def sdk_json(body) -> bytes:
    """What the openai SDK itself sends (``openai._utils._json.openapi_dumps``)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def test_a_big_body_encodes_to_the_same_bytes_as_the_sdks():
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": BIG}],
        "stream": True,
        "temperature": 0.5,
        "stop": ["END"],
        "seed": None,
    }
    assert request_body.encode(body) == sdk_json(body)
    edge = "x" * (request_body.SLICE - 1) + "é😀" + "\\" * request_body.SLICE
    assert request_body.encode({"content": edge}) == sdk_json({"content": edge})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_any_json_body_encodes_as_the_sdk_would(value):
    assert request_body.encode(value) == sdk_json(value)


def test_a_2_mb_message_is_encoded_off_the_loop_and_arrives_whole(monkeypatch):
    dumps, encoded = json.dumps, []

    def recording(*args, **kwargs):
        out = dumps(*args, **kwargs)
        encoded.append((threading.get_ident(), len(out)))
        return out

    monkeypatch.setattr(json, "dumps", recording)
    messages = [{"role": "user", "content": BIG}]
    params = GenerationParams(temperature=0.2, top_k=5, stop=("END",))
    with FakeOpenAI() as fake:
        fake.script = [Step(pieces=["Got ", "it."])]
        provider = OpenAICompatProvider(fake.base_url, "sk-test", name="acme")

        async def go():
            try:
                loop_thread = threading.get_ident()
                return loop_thread, [e async for e in provider.stream(messages, "m", params)]
            finally:
                await provider.aclose()

        loop_thread, events = asyncio.run(go())
        body = fake.requests[-1]["body"]
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Got "), TextDelta("it.")]
    assert isinstance(events[-1], Finished)
    assert body["messages"] == messages, "the server got the message exactly"
    assert body["top_k"] == 5 and body["stop"] == ["END"] and body["temperature"] == 0.2
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    on_loop = [size for thread, size in encoded if thread == loop_thread]
    assert max(on_loop, default=0) < 10_000, "the loop's thread encoded the message itself"
    off_loop = sum(size for thread, size in encoded if thread != loop_thread)
    assert off_loop >= len(BIG), "the message was encoded (in another thread)"
    assert max(size for _, size in encoded) < 1_000_000, "never the whole message in one call"
