"""A key echoed back by a server (a 401 body quoting ``Bearer sk-…``, an error event
mid-stream) is redacted before it is shown, printed, raised, logged or stored: checked on the
typed errors, the stored message and its exports, the Python API, llmchat and the log."""

from __future__ import annotations

import asyncio
import json

import pytest

from desktop_chat.errors import AuthenticationFailed, StreamInterrupted
from desktop_chat.params import GenerationParams
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.settings import write_config

#: Not shaped like any known key: only knowing it finds it.
ODD_KEY = "tok9F8e7D6c5B4a3921xyz"
SK_KEY = "sk-proj-Zz9Yy8Xx7Ww6Vv5Uu4Tt3"
ECHO = f"Incorrect API key provided: {ODD_KEY}. Authorization: Bearer {ODD_KEY}"


def _stream(provider):
    async def go():
        try:
            return [
                e
                async for e in provider.stream(
                    [{"role": "user", "content": "hi"}], "m", GenerationParams()
                )
            ]
        finally:
            await provider.aclose()

    return asyncio.run(go())


def _all_text(err: BaseException) -> str:
    return " ".join([str(err), repr(err), *map(str, err.args), getattr(err, "hint", "")])


def test_a_401_that_quotes_the_key_raises_without_it():
    with FakeOpenAI() as server:
        server.script = [Step(401, error=ECHO)]
        with pytest.raises(AuthenticationFailed) as info:
            _stream(OpenAICompatProvider(server.base_url, ODD_KEY, name="acme"))
    text = _all_text(info.value)
    assert ODD_KEY not in text and "[redacted]" in text
    assert "Incorrect API key provided" in text, "the server's reason is still said"


def test_token_shapes_are_redacted_even_when_the_key_is_unknown():
    from desktop_chat.redact import redact

    text = redact(f"bad: Bearer abcdefgh12345678 and {SK_KEY} and x-api-key: q1w2e3r4t5y6u7i8")
    assert "abcdefgh12345678" not in text and SK_KEY not in text and "q1w2e3r4t5y6" not in text
    assert redact("the model 'gpt-4o-mini' is fine") == "the model 'gpt-4o-mini' is fine"
    assert redact("task-management-system") == "task-management-system"


def test_an_error_event_mid_stream_is_stored_and_exported_without_the_key(
    monkeypatch, _isolated_home
):
    """Through the store, as the window and llmchat keep it: the message's metadata, the JSON
    export and the Markdown export."""
    from desktop_chat.config import ProviderSettings, Settings
    from desktop_chat.models import remote_choice
    from desktop_chat.session import ChatSession
    from desktop_chat.store import Store
    from desktop_chat.store_export import export_conversation, to_markdown

    monkeypatch.setenv("ACME_API_KEY", ODD_KEY)
    store = Store.open(_isolated_home / "chat.db")
    session = ChatSession(store, Settings(defaults=GenerationParams()))
    with FakeOpenAI() as server:
        server.script = [Step(pieces=["Half an ", "answer"], ending="error", error=ECHO)]
        provider = OpenAICompatProvider(server.base_url, ODD_KEY, name="acme")
        session.set_model(remote_choice(ProviderSettings("acme", server.base_url), "m"))

        async def go():
            try:
                async for _ in session.send("hi").events(provider):
                    pass
            finally:
                await provider.aclose()

        with pytest.raises(StreamInterrupted) as info:
            asyncio.run(go())
    assert ODD_KEY not in _all_text(info.value)
    assert info.value.partial_text == "Half an answer"
    conversation_id = session.conversation_id
    exported = json.dumps(export_conversation(store, conversation_id))
    assert "Half an answer" in exported and "[redacted]" in exported
    assert ODD_KEY not in exported
    assert ODD_KEY not in to_markdown("t", store.branch(conversation_id))
    store.close()
    assert ODD_KEY.encode() not in (_isolated_home / "chat.db").read_bytes()


def test_the_python_api_answer_has_no_key(monkeypatch, _isolated_home):
    from desktop_chat import LLMChat

    with FakeOpenAI() as server:
        server.script = [Step(401, error=ECHO)]
        chat = LLMChat(base_url=server.base_url, model="m", api_key=ODD_KEY)
        reply = chat.ask_response("hi")
        chat.close()
    assert not reply.success and ODD_KEY not in reply.error
    assert ODD_KEY not in json.dumps(reply.metadata, default=str)


@pytest.mark.slow
def test_llmchat_prints_the_failure_without_the_key(monkeypatch, _isolated_home):
    from tests.test_llmchat import PROMPT, finish, spawn

    with FakeOpenAI() as server:
        write_config(
            _isolated_home, f'[providers.acme]\nbase_url = "{server.base_url}"\nmodels = ["m"]\n'
        )
        server.script = [Step(401, error=ECHO)]
        child = spawn(["acme:m"], _isolated_home, ACME_API_KEY=ODD_KEY)
        child.expect_exact(PROMPT)
        child.sendline("hello?")
        child.expect("refused the API key")
        child.expect_exact(PROMPT)
        seen = child.before
        finish(child)
    assert ODD_KEY not in seen and "[redacted]" in seen


def test_the_log_formatter_uses_the_same_redaction(monkeypatch, _isolated_home):
    import logging

    from desktop_chat import logs, redact
    from desktop_chat.paths import app_paths

    redact.remember(ODD_KEY)
    path = logs.setup(app_paths())
    logging.getLogger("desktop_chat.test").warning("server said %s", ECHO)
    for handler in logging.getLogger("desktop_chat").handlers:
        handler.flush()
    text = path.read_text()
    assert "server said" in text and ODD_KEY not in text
    assert not hasattr(logs, "_SECRET_RE"), "one redaction, in desktop_chat.redact"
