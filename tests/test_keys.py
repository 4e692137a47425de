"""Keys in a real Secret Service (gnome-keyring on D-Bus), the lookup order, and proof that no
key reaches a file the app wrote."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from desktop_chat.config import ProviderSettings
from desktop_chat.errors import InsecureTransportError, KeyringUnavailable
from desktop_chat.keys import KeyStore, ensure_safe_transport, env_var_for, find_key
from desktop_chat.targets import key_for

SECRET = "sk-test-7f3a9c2e1b0d4f6a8e5c"


def secret_service_store() -> KeyStore:
    from keyring.backends import SecretService

    return KeyStore(backend=SecretService.Keyring())


def test_keys_round_trip_through_the_secret_service(secret_service):
    store = secret_service_store()
    assert store.available()
    assert store.get("openai") is None
    store.set("openai", f"  {SECRET}  ")
    assert store.get("openai") == SECRET
    store.set("openai", SECRET + "-2")
    assert store.get("openai") == SECRET + "-2"
    store.delete("openai")
    store.delete("openai")  # deleting twice is fine
    assert store.get("openai") is None
    with pytest.raises(ValueError, match="empty"):
        store.set("openai", "   ")


def test_the_default_backend_is_the_secret_service_not_a_file(secret_service):
    # A fresh process, as the app starts: keyring picks its backend by itself.
    code = (
        "from desktop_chat.keys import KeyStore; s = KeyStore();"
        "print(type(s._usable_backend()).__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
    )
    assert "SecretService" in out.stdout


def test_lookup_order_keychain_then_provider_variable_then_generic(secret_service):
    store = secret_service_store()
    env = {"ACME_API_KEY": "from-acme", "LLM_API_KEY": "from-llm", "OPENAI_API_KEY": "from-openai"}
    acme = ProviderSettings("acme", "https://acme.example/v1")
    assert find_key("acme", store, env).source == "ACME_API_KEY"
    assert key_for(acme, store, env) == "from-acme"
    store.set("acme", SECRET)
    found = find_key("acme", store, env)
    assert (found.value, found.source) == (SECRET, "keychain")
    assert key_for(acme, store, env) == SECRET
    assert SECRET not in repr(found)
    store.delete("acme")
    assert key_for(acme, store, {"LLM_API_KEY": "a", "OPENAI_API_KEY": "b"}) == "a"
    # OPENAI_API_KEY is for OpenAI's host only, or a provider whose settings name it.
    assert key_for(acme, store, {"OPENAI_API_KEY": "b"}) is None
    openai = ProviderSettings("openai", "https://api.openai.com/v1")
    assert key_for(openai, store, {"OPENAI_API_KEY": "b", "LLM_API_KEY": "a"}) == "b"
    named = ProviderSettings("proxy", "https://proxy.example/v1", key="openai")
    assert key_for(named, store, {"OPENAI_API_KEY": "b"}) == "b"
    assert find_key("acme", store, {}) is None
    assert env_var_for("lm-studio") == "LM_STUDIO_API_KEY"
    assert env_var_for("OPENAI_API_KEY") == "OPENAI_API_KEY"


def test_no_key_reaches_any_file_the_app_wrote(secret_service, mlx_server, _isolated_home):
    """Store a key, use it through settings + the Python API, then read every file under the
    app's folder: the key is in none of them."""
    from desktop_chat import LLMChat
    from desktop_chat.config import load_settings
    from desktop_chat.paths import app_paths

    paths = app_paths()
    load_settings(paths)  # writes the default config
    with open(paths.config_file, "a") as f:
        f.write(
            f'\n[providers.tiny]\nbase_url = "{mlx_server.base_url}"\nmodels = ["{mlx_server.model_id}"]\n'
        )
    secret_service_store().set("tiny", SECRET)
    chat = LLMChat(model=f"tiny:{mlx_server.model_id}", temperature=0.0, max_tokens=16)
    reply = chat.ask_response("Say hello.")
    assert reply.success, reply.error
    assert SECRET not in repr(chat.config) and SECRET not in str(chat.config.to_dict())
    chat.close()
    written = [p for p in _isolated_home.rglob("*") if p.is_file()]
    assert written, "the app should have written its settings"
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), f"key leaked into {path}"
    # gnome-keyring keeps it encrypted at rest, too.
    for path in secret_service.home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"key in plaintext in {path}"


def test_no_usable_keyring_says_so_and_points_at_variables():
    from keyring.backends import fail

    store = KeyStore(backend=fail.Keyring())
    assert not store.available()
    with pytest.raises(KeyringUnavailable) as info:
        store.set("openai", SECRET)
    assert "_API_KEY" in info.value.hint
    # Reading falls through to the environment.
    assert find_key("openai", store, {"OPENAI_API_KEY": "env"}).source == "OPENAI_API_KEY"
    remote = ProviderSettings("openai", "https://api.openai.com/v1")
    assert key_for(remote, store, {"OPENAI_API_KEY": "env"}) == "env"
    with pytest.raises(KeyringUnavailable):
        key_for(remote, store, {})
    local = ProviderSettings("ollama", "http://127.0.0.1:11434/v1")
    assert key_for(local, store, {}) is None


def test_a_plaintext_backend_is_refused():
    class PlaintextKeyring:  # what keyrings.alt would offer
        priority = 1

        def set_password(self, *a):
            raise AssertionError("must never be called")

    PlaintextKeyring.__module__ = "keyrings.alt.file"
    store = KeyStore(backend=PlaintextKeyring())
    with pytest.raises(KeyringUnavailable):
        store.set("openai", SECRET)


def test_keys_are_not_sent_over_plain_http_to_other_hosts():
    ensure_safe_transport("http://127.0.0.1:8080/v1", has_key=True)
    ensure_safe_transport("http://localhost:8080/v1", has_key=True)
    ensure_safe_transport("http://[::1]:8080/v1", has_key=True)
    ensure_safe_transport("https://api.openai.com/v1", has_key=True)
    ensure_safe_transport("http://192.168.1.5/v1", has_key=False)
    ensure_safe_transport("http://192.168.1.5/v1", has_key=True, allowed=True)
    with pytest.raises(InsecureTransportError) as info:
        ensure_safe_transport("http://192.168.1.5/v1", has_key=True)
    assert "allow_insecure_key" in info.value.hint
    from desktop_chat.providers.openai_compat import OpenAICompatProvider

    with pytest.raises(InsecureTransportError):
        OpenAICompatProvider("http://example.com/v1", SECRET)
    assert SECRET not in repr(OpenAICompatProvider("https://example.com/v1", SECRET))
    asyncio.run(OpenAICompatProvider("https://example.com/v1", SECRET).aclose())
