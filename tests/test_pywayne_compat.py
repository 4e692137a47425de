"""pywayne's ``LLMChat`` / ``LLMConfig`` / ``ChatManager``: its documented examples, verbatim
apart from the import line, against the real mlx_lm.server, and a scripted server where the
key or the request body must be seen."""

from __future__ import annotations

import math
import socket

import pytest

from desktop_chat import ChatManager, LLMChat, LLMConfig
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.system import missing


def _auth(request) -> str:
    return {k.lower(): v for k, v in request["headers"].items()}.get("authorization", "")


def test_the_documented_config_pattern_keeps_the_key():
    """``chat = LLMChat(**config.to_dict())`` (pywayne's README) reaches the server with the
    key; the key stays out of repr and str."""
    with FakeOpenAI() as fake:
        fake.script = [Step(pieces=["Hi."])]
        config = LLMConfig(base_url=fake.base_url, api_key="sk-docs-0123456789", model="m")
        chat = LLMChat(**config.to_dict())
        assert chat.ask("Hello") == "Hi."
        chat.close()
        assert _auth(fake.requests[-1]) == "Bearer sk-docs-0123456789"
    for shown in (repr(config), str(config), repr(chat.config)):
        assert "sk-docs" not in shown


def test_the_documented_defaults_are_sent():
    with FakeOpenAI() as fake:
        fake.script = [Step(pieces=["Hi."])]
        chat = LLMChat(base_url=fake.base_url, api_key="sk-docs-0123456789")
        # A fresh chat's history holds the default system prompt.
        assert chat.history == [{"role": "system", "content": "你是一个严谨的助手"}]
        chat.ask("Hello")
        chat.close()
        body = fake.requests[-1]["body"]
    assert body["model"] == "deepseek-chat"
    assert (body["temperature"], body["max_tokens"], body["top_p"]) == (0.7, 2048, 1.0)
    assert (body["frequency_penalty"], body["presence_penalty"]) == (0.0, 0.0)
    assert body["messages"][0] == {"role": "system", "content": "你是一个严谨的助手"}


def test_sessions_never_expire_unless_a_timeout_is_given(mlx_server):
    manager = ChatManager(base_url=mlx_server.base_url, model=mlx_server.model_id)
    assert manager.timeout == math.inf
    chat = manager.get_chat("user1")
    chat._async.last_activity -= 10 * 365 * 24 * 3600  # idle for ten years
    assert manager.get_chat("user1") is chat


def test_update_system_prompt_takes_prompt(mlx_server):
    chat = LLMChat(base_url=mlx_server.base_url, model=mlx_server.model_id)
    chat.update_system_prompt(prompt="You are a helpful assistant.")
    assert chat.history[0] == {"role": "system", "content": "You are a helpful assistant."}
    assert chat.ask("Say hello.").startswith("Hello!")  # the tiny model knows this prompt
    chat.close()


def _lan_address() -> str:
    """This machine's address on its network (not loopback): a server there is "another
    machine" to the key check, as Ollama on another Mac would be."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = s.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        missing("no network address besides loopback to stand for a LAN server")
    return address


def test_a_lan_server_over_http_with_a_key_needs_allow_insecure_key():
    with FakeOpenAI(host=_lan_address()) as lan:
        lan.script = [Step(pieces=["Hi from the LAN."])]
        refused = LLMChat(base_url=lan.base_url, api_key="sk-lan-0123456789", model="llama3")
        response = refused.ask_response("Hello")
        refused.close()
        assert not response.success and "allow_insecure_key=True" in response.error
        assert lan.requests == [], "the key never left"
        config = LLMConfig(
            base_url=lan.base_url,
            api_key="sk-lan-0123456789",
            model="llama3",
            allow_insecure_key=True,
        )
        chat = LLMChat(**config.to_dict())
        assert chat.ask("Hello") == "Hi from the LAN."
        chat.close()
        assert _auth(lan.requests[-1]) == "Bearer sk-lan-0123456789"


@pytest.mark.parametrize("name", ["LLMChat", "LLMConfig", "ChatManager", "ChatResponse"])
def test_the_drop_in_import_line(name):
    import desktop_chat

    assert getattr(desktop_chat, name).__module__ == "desktop_chat.api"


def test_get_chat_with_a_config_keeps_the_conversation(mlx_server):
    """Published clients call ``manager.get_chat("user3", config=custom_config)`` for every
    message: the chat, and its history, must be the same each time."""
    manager = ChatManager(base_url=mlx_server.base_url, model=mlx_server.model_id)
    custom_config = LLMConfig(
        base_url=mlx_server.base_url,
        model=mlx_server.model_id,
        temperature=0.0,
        max_tokens=32,
        system_prompt="",
    )
    chat = manager.get_chat("user3", config=custom_config)
    "".join(chat.chat("What is the capital of France?"))  # streamed: get_chat's default
    again = manager.get_chat("user3", config=custom_config)
    assert again is chat and len(again.history) == 2
    # A changed config changes the settings, not the history.
    warmer = LLMConfig(
        **{
            **custom_config.to_dict(),
            "temperature": 0.5,
            "system_prompt": "You are a helpful assistant.",
        }
    )
    changed = manager.get_chat("user3", config=warmer)
    assert changed is chat and changed.config.temperature == 0.5
    assert changed.history[0] == {"role": "system", "content": "You are a helpful assistant."}
    assert [m["role"] for m in changed.history] == ["system", "user", "assistant"]
    chat.close()


def test_a_config_for_another_server_closes_the_old_connection(mlx_server):
    with FakeOpenAI() as fake:
        fake.script = [Step(pieces=["From the fake."])]
        manager = ChatManager(
            base_url=mlx_server.base_url, model=mlx_server.model_id, system_prompt=""
        )
        chat = manager.get_chat("u")
        "".join(chat.chat("Say hello."))
        old_client = chat._async._provider._client  # the SDK client of the first server
        moved = manager.get_chat(
            "u", config=LLMConfig(base_url=fake.base_url, model="m", system_prompt="")
        )
        assert moved is chat
        assert "".join(chat.chat("And now?")) == "From the fake."
        assert old_client.is_closed(), "the first server's HTTP client was closed"
        # The fake saw the whole conversation, history included.
        sent = fake.requests[-1]["body"]["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
        chat.close()
