"""Failures no real server produces on demand, from a scripted local HTTP server."""

from __future__ import annotations

import asyncio
import time

import pytest

from desktop_chat.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    MalformedResponse,
    ModelNotFound,
    RateLimited,
    RequestTimeout,
    ServerError,
    StreamInterrupted,
)
from desktop_chat.events import Finished, TextDelta
from desktop_chat.params import GenerationParams
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.servers import free_port
from tests.support.streams import MESSAGES
from tests.support.streams import stream_events as run


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def provider_for(fake, **kw):
    return OpenAICompatProvider(fake.base_url, "sk-test", name="acme", backoff_s=0.01, **kw)


def test_bad_key_is_not_retried_and_says_where_to_put_a_key(fake):
    fake.script = [Step(401, error="Incorrect API key")]
    with pytest.raises(AuthenticationFailed) as info:
        run(provider_for(fake))
    assert len(fake.requests) == 1
    assert "Incorrect API key" in str(info.value)
    assert "ACME_API_KEY" in info.value.hint and "Settings" in info.value.hint


def test_unknown_model_names_the_model(fake):
    fake.script = [Step(404, error="model 'm' not found")]
    with pytest.raises(ModelNotFound) as info:
        run(provider_for(fake))
    assert "'m'" in str(info.value) and len(fake.requests) == 1


def test_rate_limit_honours_retry_after_then_succeeds(fake):
    fake.script = [Step(429, headers={"retry-after": "0.3"}), Step(pieces=["Hel", "lo"])]
    start = time.perf_counter()
    events = run(provider_for(fake))
    assert time.perf_counter() - start >= 0.3
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello"
    assert len(fake.requests) == 2


def test_a_long_retry_after_is_reported_not_waited_on(fake):
    fake.script = [Step(429, headers={"retry-after": "120"}, error="slow down")]
    start = time.perf_counter()
    with pytest.raises(RateLimited) as info:
        run(provider_for(fake))
    assert time.perf_counter() - start < 2
    assert info.value.retry_after == 120 and "in 120 s" in info.value.hint


def test_server_errors_are_retried_with_backoff_then_reported(fake):
    fake.script = [Step(503, error="overloaded")] * 3
    with pytest.raises(ServerError) as info:
        run(provider_for(fake, max_attempts=3))
    assert len(fake.requests) == 3 and "overloaded" in str(info.value)


def test_connection_refused_is_clear():
    port = free_port()
    provider = OpenAICompatProvider(
        f"http://127.0.0.1:{port}/v1", name="local", max_attempts=2, backoff_s=0.01
    )
    with pytest.raises(ConnectionFailed) as info:
        run(provider)
    assert f"127.0.0.1:{port}" in str(info.value) and "running" in info.value.hint


def test_timeout_is_typed(fake):
    fake.script = [Step(pieces=["a", "b"], delay_s=2.0)]
    provider = OpenAICompatProvider(
        fake.base_url, name="slow", timeout_s=0.3, max_attempts=1, first_token_timeout_s=0.2
    )
    with pytest.raises((RequestTimeout, StreamInterrupted)):
        run(provider)


def test_stream_cut_mid_way_keeps_the_partial_text_and_is_not_retried(fake):
    fake.script = [Step(pieces=["The capital ", "of France"], ending="cut")]
    with pytest.raises(StreamInterrupted) as info:
        run(provider_for(fake))
    assert info.value.partial_text == "The capital of France"
    assert len(fake.requests) == 1, "a reply already shown must never be asked for again"


def test_stream_that_ends_without_finishing_is_interrupted(fake):
    fake.script = [Step(pieces=["half a ", "reply"], ending="end")]
    with pytest.raises(StreamInterrupted) as info:
        run(provider_for(fake))
    assert info.value.partial_text == "half a reply"


def test_garbage_sse_is_a_malformed_response_keeping_text(fake):
    fake.script = [Step(pieces=["ok so far"], ending="garbage")]
    with pytest.raises((MalformedResponse, StreamInterrupted)) as info:
        run(provider_for(fake))
    assert info.value.partial_text == "ok so far"
    assert "valid" in str(info.value) or "stopped" in str(info.value)


def test_garbage_before_any_text_is_malformed(fake):
    fake.script = [Step(pieces=[], ending="garbage")] * 3
    with pytest.raises(MalformedResponse) as info:
        run(provider_for(fake))
    assert "/v1" in info.value.hint


def test_usage_from_the_server_is_used_else_counted(fake):
    fake.script = [
        Step(
            pieces=["a", "b", "c"],
            usage={"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        )
    ]
    final = run(provider_for(fake))[-1]
    assert isinstance(final, Finished)
    assert (final.usage.prompt_tokens, final.usage.completion_tokens, final.usage.estimated) == (
        7,
        3,
        False,
    )
    assert fake.requests[0]["body"]["stream_options"] == {"include_usage": True}

    fake.script = [Step(pieces=["a", "b", "c"])]
    final = run(provider_for(fake))[-1]
    assert final.usage.completion_tokens == 3 and final.usage.estimated is True


def test_a_server_refusing_stream_options_is_asked_again_without_them(fake):
    fake.script = [
        Step(400, error="Unrecognized request argument supplied: stream_options"),
        Step(pieces=["fine"]),
    ]
    events = run(provider_for(fake))
    assert events[0] == TextDelta("fine")
    assert "stream_options" not in fake.requests[1]["body"]


def test_only_parameters_the_user_set_are_sent(fake):
    fake.script = [Step(pieces=["x"])]
    params = GenerationParams(temperature=0.2, top_k=5, max_tokens=9, seed=3, stop=("END",))
    run(provider_for(fake), params)
    body = fake.requests[0]["body"]
    assert body["temperature"] == 0.2 and body["top_k"] == 5 and body["max_tokens"] == 9
    assert body["seed"] == 3 and body["stop"] == ["END"]
    assert "top_p" not in body and "presence_penalty" not in body
    headers = {k.lower(): v for k, v in fake.requests[0]["headers"].items()}
    assert headers["authorization"] == "Bearer sk-test"


def test_cancelling_closes_the_http_stream(fake):
    fake.script = [Step(pieces=["tick "] * 200, delay_s=0.02)]
    provider = provider_for(fake)

    async def go():
        got = []

        async def consume():
            async for event in provider.stream(MESSAGES, "m", GenerationParams()):
                got.append(event)

        task = asyncio.create_task(consume())
        while len(got) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await provider.aclose()
        return len(got)

    received = asyncio.run(go())
    assert fake.disconnected.wait(3), "the server should see the client hang up"
    assert received < 50


def test_a_failing_models_list_is_reported_not_fatal(fake):
    fake.script = [Step(500, error="models endpoint broken"), Step(401, error="bad key")]
    provider = provider_for(fake)

    async def go():
        with pytest.raises(ServerError, match="models endpoint broken"):
            await provider.list_models()
        health = await provider.health()  # never raises
        await provider.aclose()
        return health

    health = asyncio.run(go())
    assert not health.ok and "refused the API key" in health.detail
    # Chatting still works when /models does not.
    fake.script = [Step(pieces=["still ", "here"])]
    assert (
        "".join(e.text for e in run(provider_for(fake)) if isinstance(e, TextDelta)) == "still here"
    )


def test_the_variable_named_in_a_hint_is_the_one_the_app_reads(fake):
    """A provider called "lm.studio": the hint must name LM_STUDIO_API_KEY, the variable
    ``find_key`` really reads, not "LM.STUDIO_API_KEY"."""
    from desktop_chat.keys import env_var_for, find_key

    fake.script = [Step(401, error="no key")]
    provider = OpenAICompatProvider(fake.base_url, "sk-test", name="lm.studio", backoff_s=0.01)
    with pytest.raises(AuthenticationFailed) as info:
        run(provider)
    assert env_var_for("lm.studio") == "LM_STUDIO_API_KEY"
    assert "LM_STUDIO_API_KEY" in info.value.hint
    assert find_key("lm.studio", None, {"LM_STUDIO_API_KEY": "x"}).source == "LM_STUDIO_API_KEY"


@pytest.mark.parametrize("value", ["soon", "Wed, 99 Foo 2026 25:00:00 GMT", "inf", "nan", "-"])
def test_a_retry_after_that_is_neither_seconds_nor_a_date_still_says_rate_limited(fake, value):
    fake.script = [
        Step(429, headers={"retry-after": value, "retry-after-ms": "x"}, error="slow down")
    ] * 2
    with pytest.raises(RateLimited) as info:
        run(provider_for(fake, max_attempts=2))
    assert info.value.retry_after is None and "in a moment" in info.value.hint
    assert len(fake.requests) == 2, "a rate limit is still retried, after the usual backoff"
