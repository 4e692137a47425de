"""The async Chat module's clients (``ChatClient``, ``OpenAIClient``, ``AIMLClient``): its
documented examples, written as a user writes them, against the real mlx_lm.server; a scripted
server where a header or a failure (401, 429, refused connection, a cut stream) must be seen."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import AsyncGenerator

import pytest

from desktop_chat import AIMLClient, AsyncLLMChat, ChatClient, ChatResponse, LLMChat, OpenAIClient
from desktop_chat.errors import InsecureTransportError
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.servers import free_port

KEY = "k3y-aiml-0123456789abcdef"


# --- the documented examples, against the real mlx_lm.server ----------------------------------


@pytest.fixture
def client(mlx_server):
    return OpenAIClient(base_url=mlx_server.base_url, model=mlx_server.model_id)


@pytest.mark.slow
def test_chat_stream_analyze_batch_and_health_as_documented(client):
    async def chat_example():
        response = await client.chat(
            prompt="What is the capital of France?",
            system_prompt="You are a helpful assistant.",
            temperature=0.2,
        )
        return response

    async def stream_example():
        pieces = []
        async for message in client.stream_chat(prompt="Tell me a story", temperature=0.8):
            pieces.append(message)
        return pieces, client.last_response

    async def analyze_example():
        return await client.analyze_text(
            text="I love this little robot!", analysis_type="sentiment"
        )

    async def batch_example():
        prompts = ["What is the capital of France?", "Say hello.", "List three colours."]
        return await client.batch_process(prompts, temperature=0.0)

    response = asyncio.run(chat_example())
    assert isinstance(response, ChatResponse) and response.success and not response.is_error
    assert response.content and response.error is None
    assert response.metadata["model"] == client.model
    usage = response.metadata["usage"]
    assert usage["prompt_tokens"] > 5 and usage["completion_tokens"] > 3 and not usage["estimated"]

    pieces, streamed = asyncio.run(stream_example())
    assert len(pieces) > 3 and all(isinstance(p, str) for p in pieces)
    assert streamed.success and streamed.content == "".join(pieces)
    assert streamed.metadata["usage"]["completion_tokens"] >= len(pieces) - 1

    analysis = asyncio.run(analyze_example())
    assert analysis.success and analysis.content
    assert analysis.metadata["analysis_type"] == "sentiment"
    assert analysis.metadata["usage"]["completion_tokens"] > 0

    first, second, third = asyncio.run(batch_example())
    assert first.content == "The capital of France is Paris."
    assert second.content.startswith("Hello!")
    assert "- red" in third.content

    health = asyncio.run(client.health_check())
    assert health.success and health and client.model in health.metadata["models"]


@pytest.mark.slow
def test_an_unknown_analysis_type_or_option_is_a_response_not_an_exception(client):
    async def go():
        unknown = await client.analyze_text("Some text.", analysis_type="poetry")
        bad_option = await client.chat("Say hello.", temprature=0.5)
        out_of_range = await client.chat("Say hello.", temperature=7)
        empty = await client.chat("   ")
        pieces = [p async for p in client.stream_chat("Say hello.", temperature=7)]
        return unknown, bad_option, out_of_range, empty, pieces

    unknown, bad_option, out_of_range, empty, pieces = asyncio.run(go())
    assert not unknown.success and "'poetry'" in unknown.error
    assert "sentiment, summary, keywords" in unknown.error
    assert not bad_option.success and "temprature" in bad_option.error
    assert "temperature" in bad_option.error.split("Known options")[1]
    assert not out_of_range.success and "between 0 and 2" in out_of_range.error
    assert not empty.success and "empty" in empty.error
    assert pieces == [f"Error: {client.last_response.error}"]
    assert "between 0 and 2" in pieces[0]


@pytest.mark.slow
def test_model_none_uses_the_model_the_server_lists(mlx_server):
    client = OpenAIClient(base_url=mlx_server.base_url)
    response = asyncio.run(client.chat("Say hello.", temperature=0.0))
    assert response.success and response.content.startswith("Hello!")
    assert client.model == mlx_server.model_id == response.metadata["model"]


@pytest.mark.slow
def test_ask_response_takes_a_system_prompt_and_sampling_options_per_call(mlx_server):
    chat = LLMChat(
        base_url=mlx_server.base_url, model=mlx_server.model_id, system_prompt="Be terse."
    )
    reply = chat.ask_response(
        "Say hello.", system_prompt="You are a helpful assistant.", temperature=0.0, max_tokens=32
    )
    assert reply.success and reply.content == "Hello! How can I help you today?"
    assert chat.system_prompt == "Be terse.", "the per-call prompt does not stick"
    wrong = chat.ask_response("Say hello.", temprature=0.1)
    assert not wrong.success and "temprature" in wrong.error
    chat.close()


def test_ask_response_sends_the_per_call_choices_and_only_for_that_call():
    with FakeOpenAI() as fake:
        chat = LLMChat(base_url=fake.base_url, model="m", system_prompt="Be terse.")
        chat.ask_response(
            "one",
            system_prompt="You are a pirate.",
            temperature=0.0,
            top_p=0.5,
            max_tokens=7,
            stop="END",
        )
        chat.ask_response("two")
        chat.close()
    first, second = (r["body"] for r in fake.requests)
    assert first["messages"][0] == {"role": "system", "content": "You are a pirate."}
    assert (first["temperature"], first["top_p"], first["max_tokens"]) == (0.0, 0.5, 7)
    assert first["stop"] == ["END"]
    assert second["messages"][0] == {"role": "system", "content": "Be terse."}
    # The chat's own (pywayne's documented defaults) come back for the next call.
    assert (second["temperature"], second["top_p"], second["max_tokens"]) == (0.7, 1.0, 2048)


# --- a user's own ChatClient ---------------------------------------------------------------


class LocalClient(ChatClient):
    """The Chat module's "Extending" example, written over desktop_chat's own async chat."""

    def __init__(self, base_url: str, model: str) -> None:
        super().__init__(base_url=base_url)
        self._chat = AsyncLLMChat(base_url=base_url, model=model, system_prompt="")

    async def chat(self, prompt: str, system_prompt: str | None = None, **kwargs) -> ChatResponse:
        return await self._chat.ask_response(prompt, system_prompt=system_prompt, **kwargs)

    async def stream_chat(self, prompt: str, **kwargs) -> AsyncGenerator[str, None]:
        async for piece in self._chat.ask(prompt, stream=True):
            yield piece


@pytest.mark.slow
def test_a_subclass_gets_analysis_batch_and_health_from_its_chat(mlx_server):
    client = LocalClient(mlx_server.base_url, mlx_server.model_id)

    async def go():
        chat = await client.chat(
            "Say hello.", system_prompt="You are a helpful assistant.", temperature=0.0
        )
        pieces = [p async for p in client.stream_chat("Say hello.")]
        summary = await client.analyze_text("The robot read one page every night.", "summary")
        batch = await client.batch_process(["Say hello.", "List three colours."], temperature=0.0)
        health = await client.health_check()
        return chat, pieces, summary, batch, health

    chat, pieces, summary, batch, health = asyncio.run(go())
    assert chat.success and chat.content.startswith("Hello!")
    assert chat.metadata["usage"]["prompt_tokens"] > 0
    assert "".join(pieces).startswith("Hello")
    assert summary.success and summary.metadata["analysis_type"] == "summary"
    assert [r.content for r in batch] == [
        "Hello! How can I help you today?",
        "Here are three colours:\n\n- red\n- green\n- blue\n",
    ]
    assert health.success and health


def test_chat_client_is_abstract_and_batch_keeps_order_with_bounded_concurrency():
    with pytest.raises(TypeError, match="abstract"):
        ChatClient()  # type: ignore[abstract]

    class Slow(ChatClient):
        """Later prompts answer sooner, so finishing order is the reverse of prompt order."""

        def __init__(self) -> None:
            super().__init__()
            self.running = self.most = 0

        async def chat(self, prompt: str, system_prompt: str | None = None, **kw) -> ChatResponse:
            self.running += 1
            self.most = max(self.most, self.running)
            try:
                await asyncio.sleep(0.01 * (20 - int(prompt)))
                if prompt == "13":
                    raise RuntimeError("the backend fell over")
                return ChatResponse(f"answer {prompt}")
            finally:
                self.running -= 1

        async def stream_chat(self, prompt: str, **kw):
            yield prompt

    client = Slow()
    answers = asyncio.run(client.batch_process([str(i) for i in range(20)], concurrency=3))
    assert [a.content for a in answers if a.success] == [
        f"answer {i}" for i in range(20) if i != 13
    ]
    assert not answers[13].success and "the backend fell over" in answers[13].error
    assert client.most == 3


# --- what only a scripted server shows -----------------------------------------------------------


def test_the_key_goes_in_the_authorization_header_and_usage_comes_back_exact():
    with FakeOpenAI() as fake:
        fake.script = [
            Step(pieces=["It is ", "sunny."], usage={"prompt_tokens": 17, "completion_tokens": 4})
        ]
        client = AIMLClient(api_key=KEY, base_url=fake.base_url)
        response = asyncio.run(
            client.chat(
                "What is the weather like?",
                system_prompt="You are a helpful assistant",
                temperature=0.2,
                max_tokens=50,
            )
        )
    assert response.success and response.content == "It is sunny."
    assert response.metadata["usage"]["prompt_tokens"] == 17
    assert response.metadata["usage"]["completion_tokens"] == 4
    assert response.metadata["model"] == "gpt-4o-mini"
    sent = fake.requests[0]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["authorization"] == f"Bearer {KEY}"
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "You are a helpful assistant"},
        {"role": "user", "content": "What is the weather like?"},
    ]
    assert sent["body"]["temperature"] == 0.2 and sent["body"]["max_tokens"] == 50
    assert KEY not in repr(client) and KEY not in str(client)


def test_aiml_defaults_and_where_its_key_may_come_from(monkeypatch):
    assert AIMLClient(api_key=KEY).base_url == "https://api.aimlapi.com/v1"
    assert AIMLClient(KEY, api_url="https://example.com/v1").base_url == "https://example.com/v1"
    monkeypatch.setenv("AIMLAPI_API_KEY", KEY)
    assert AIMLClient().api_key == KEY, "the variable serves AI/ML API's own URL"
    with FakeOpenAI() as fake:
        elsewhere = AIMLClient(base_url=fake.base_url)
        refused = asyncio.run(elsewhere.chat("hi"))
    assert fake.requests == [], "the AI/ML API key never goes to another server"
    assert not refused.success and "needs an API key" in refused.error
    assert "AIMLClient(api_key=...)" in refused.error
    with pytest.raises(InsecureTransportError, match="plain http"):
        AIMLClient(api_key=KEY, base_url="http://192.0.2.7/v1")


def test_errors_are_responses_with_a_clear_sentence_and_never_carry_the_key(caplog):
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI() as fake:
        client = AIMLClient(api_key=KEY, base_url=fake.base_url)
        fake.script = [Step(status=401, error=f"Incorrect API key provided: {KEY}")]
        refused = asyncio.run(client.chat("hi"))
        fake.script = [Step(status=429, headers={"retry-after": "0"}, error="slow down")] * 3
        limited = asyncio.run(client.chat("hi"))
        asked = len(fake.requests)
        fake.script = [Step(pieces=["Once upon ", "a time"], ending="cut")]
        cut = asyncio.run(client.chat("Tell me a story"))
        fake.script = [Step(pieces=["Once upon ", "a time"], ending="cut")]
        pieces = asyncio.run(_collect(client.stream_chat("Tell me a story")))
        streamed = client.last_response
        fake.script = [Step(status=401, error=f"Incorrect API key provided: {KEY}")]
        health = asyncio.run(client.health_check())

    assert not refused.success and refused.content == ""
    assert "refused the API key (401" in refused.error
    assert "Pass a valid key: AIMLClient(api_key=...)." in refused.error
    assert "Settings" not in refused.error and KEY not in refused.error
    assert refused.metadata["error_type"] == "AuthenticationFailed"

    assert not limited.success and "rate-limiting" in limited.error and "slow down" in limited.error
    assert asked == 1 + 3, "a 429 is retried before it is reported"

    assert not cut.success and cut.content == "Once upon a time"
    assert "stopped before it was finished" in cut.error

    assert pieces[:2] == ["Once upon ", "a time"]
    assert pieces[2].startswith("\nError: The reply from") and len(pieces) == 3
    assert not streamed.success and streamed.content == "Once upon a time"

    assert not health.success and not health and "refused the API key" in health.error
    assert KEY not in health.error
    assert KEY not in caplog.text


def test_a_server_that_is_not_there():
    client = OpenAIClient(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m")

    async def go():
        return (
            await client.chat("hi"),
            await _collect(client.stream_chat("hi")),
            await client.health_check(),
            await client.batch_process(["a", "b"]),
        )

    chat, pieces, health, batch = asyncio.run(go())
    assert not chat.success and chat.error.startswith("Could not connect to 127.0.0.1:")
    assert "Check that the server is running" in chat.error
    assert pieces == [f"Error: {chat.error}"]
    assert not health.success and "Could not connect" in health.error
    assert [r.success for r in batch] == [False, False]


def test_one_client_serves_several_asyncio_runs():
    """A script that calls asyncio.run per example (as the Chat module's README does)."""
    with FakeOpenAI() as fake:
        client = OpenAIClient(base_url=fake.base_url, model="m", temperature=0.3)
        first = asyncio.run(client.chat("one"))
        second = asyncio.run(client.chat("two", temperature=0.9, model="other"))
    assert first.success and second.success
    assert [r["body"]["temperature"] for r in fake.requests] == [0.3, 0.9]
    assert [r["body"]["model"] for r in fake.requests] == ["m", "other"]


def test_importing_the_clients_is_cheap():
    code = (
        "import sys, json; from desktop_chat import ChatClient, AIMLClient, ChatResponse;"
        "import desktop_chat.api as api; assert ChatResponse is api.ChatResponse;"
        "print(json.dumps([m for m in ('openai', 'httpx', 'keyring') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


async def _collect(pieces) -> list[str]:
    return [p async for p in pieces]
