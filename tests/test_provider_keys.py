"""Which key goes to which server, and under which keychain name: a real Secret Service
(gnome-keyring on D-Bus), real settings files and a recording local server that shows the
Authorization header each request carried."""

from __future__ import annotations

import pytest

from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.gui import running_window, wait_for
from tests.support.settings import write_config

SECRET = "sk-shared-5d1e8b7c2a9f4e3d"


def _auth(request: dict) -> str | None:
    return {k.lower(): v for k, v in request["headers"].items()}.get("authorization")


def _edit_first_provider(loop, window):
    """Settings open on the first provider's Edit dialog: (settings, provider dialog)."""
    loop.run_until_complete(window.controller.refresh())
    window.open_settings()
    settings = window.dialog
    settings.provider_list.setCurrentRow(0)
    settings.edit_button.click()
    return settings, settings.provider_dialog


@pytest.mark.slow
def test_one_keychain_name_for_save_test_and_remove(qapp, qtbot, secret_service, _isolated_home):
    """A provider whose ``key`` names another keychain item: Test connection sends that item,
    a key typed in the dialog is saved there, and removing the provider deletes it, unless
    another provider still uses it."""
    import keyring

    from desktop_chat.gui.settings_dialog import ProviderDialog

    with FakeOpenAI() as server:
        config = write_config(
            _isolated_home,
            f"""
[providers.work]
base_url = "{server.base_url}"
models = ["m"]
key = "shared-item"

[providers.other]
base_url = "{server.base_url}"
models = ["n"]
key = "other-item"
""",
        )
        keyring.set_password("Desktop Chat", "shared-item", SECRET)
        keyring.set_password("Desktop Chat", "other-item", "sk-other-0a1b2c3d4e5f")
        keyring.set_password("Desktop Chat", "work", "sk-wrong-item-99999999")
        with running_window(qapp) as (loop, window):
            settings, dialog = _edit_first_provider(loop, window)
            assert isinstance(dialog, ProviderDialog)
            server.script = [Step(body={"data": [{"id": "m"}]})]
            loop.run_until_complete(dialog.test())
            assert dialog.result.text().startswith("✓ Connected"), dialog.result.text()
            assert _auth(server.requests[-1]) == f"Bearer {SECRET}"

            # A new key typed for it goes to the same item; the settings keep naming it.
            qtbot.keyClicks(dialog.key, SECRET + "-new")
            assert loop.run_until_complete(dialog.save()), dialog.result.text()
            assert keyring.get_password("Desktop Chat", "shared-item") == SECRET + "-new"
            assert keyring.get_password("Desktop Chat", "work") == "sk-wrong-item-99999999"
            assert 'key = "shared-item"' in config.read_text()

            # "other" comes to share the item; removing "work" must leave it in place.
            config.write_text(config.read_text().replace('"other-item"', '"shared-item"'))
            loop.run_until_complete(window.controller.refresh())
            window.open_settings()
            settings = window.dialog
            settings.provider_list.setCurrentRow(0)
            settings.remove_button.click()
            loop.run_until_complete(wait_for(lambda: settings.provider_list.count() == 1))
            assert keyring.get_password("Desktop Chat", "shared-item") == SECRET + "-new"
            settings.provider_list.setCurrentRow(0)
            settings.remove_button.click()
            loop.run_until_complete(wait_for(lambda: settings.provider_list.count() == 0))
            assert keyring.get_password("Desktop Chat", "shared-item") is None
            # Items that were never this provider's are not touched.
            assert keyring.get_password("Desktop Chat", "work") == "sk-wrong-item-99999999"
            assert keyring.get_password("Desktop Chat", "other-item") == "sk-other-0a1b2c3d4e5f"


@pytest.mark.slow
def test_renaming_a_provider_keeps_its_key(qapp, qtbot, secret_service, _isolated_home):
    """A provider whose item is its name: renamed, its key moves with it, not left behind."""
    import keyring

    with FakeOpenAI() as server:
        config = write_config(
            _isolated_home,
            f"""
[providers.old]
base_url = "{server.base_url}"
models = ["m"]
""",
        )
        keyring.set_password("Desktop Chat", "old", SECRET)
        with running_window(qapp) as (loop, window):
            _settings, dialog = _edit_first_provider(loop, window)
            dialog.name.clear()
            qtbot.keyClicks(dialog.name, "new")
            assert loop.run_until_complete(dialog.save()), dialog.result.text()
            assert "[providers.new]" in config.read_text()
            assert keyring.get_password("Desktop Chat", "new") == SECRET
            assert keyring.get_password("Desktop Chat", "old") is None
            provider = window.controller.settings.providers["new"]
            from desktop_chat.keys import KeyStore
            from desktop_chat.targets import key_for

            assert key_for(provider, KeyStore()) == SECRET


OPENAI_KEY = "sk-openai-users-own-1a2b3c4d5e6f"
LLM_KEY = "sk-llm-generic-9f8e7d6c5b4a"


def _reply_headers(spec: str, server: FakeOpenAI) -> str | None:
    """Open ``spec`` as llmchat and the Python API do, ask once, and return the Authorization
    header the server received (None: no header at all)."""
    import asyncio

    from desktop_chat.config import load_settings
    from desktop_chat.models import open_model
    from desktop_chat.params import GenerationParams
    from desktop_chat.paths import app_paths

    settings = load_settings(app_paths(), write_default=False).settings
    model = open_model(spec, settings)

    async def ask():
        try:
            return [
                e
                async for e in model.provider.stream(
                    [{"role": "user", "content": "hi"}], model.model, GenerationParams()
                )
            ]
        finally:
            await model.provider.aclose()

    server.script = [Step(pieces=["ok"])]
    asyncio.run(ask())
    return _auth(server.requests[-1])


def test_a_merely_discovered_server_gets_no_key(monkeypatch, _isolated_home):
    """Any process listening on a usual local port (here Jan's name on this test's port) must
    not receive the user's OpenAI key, nor chatybot's LLM_API_KEY; only a key the user gave
    that server itself."""
    from desktop_chat.providers.discovery import SERVERS_VARIABLE

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("LLM_API_KEY", LLM_KEY)
    # Who the user is at OpenAI, which the SDK would send to any server from the environment.
    monkeypatch.setenv("OPENAI_ORG_ID", "org-users-own-organisation")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_users_own_project")
    with FakeOpenAI() as server:
        port = server.server.server_address[1]
        monkeypatch.setenv(SERVERS_VARIABLE, f"jan={port}")
        server.script = [Step(body={"data": [{"id": "m"}]})]  # discovery's GET /models
        assert _reply_headers("jan:m", server) is None
        for request in server.requests:
            assert _auth(request) is None, request
            sent = {k.lower() for k in request["headers"]}
            assert not sent & {"openai-organization", "openai-project"}, request
        monkeypatch.setenv("JAN_API_KEY", "sk-jan-own-key-12345678")
        server.script = [Step(body={"data": [{"id": "m"}]})]
        assert _reply_headers("jan:m", server) == "Bearer sk-jan-own-key-12345678"


def test_configured_providers_get_their_own_key_or_llm_api_key_never_openais(
    monkeypatch, _isolated_home
):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    with FakeOpenAI() as server:
        write_config(
            _isolated_home,
            f"""
[providers.box]
base_url = "{server.base_url}"
models = ["m"]

[providers.openai]
base_url = "{server.base_url}"
models = ["m"]

[providers.proxy]
base_url = "{server.base_url}"
models = ["m"]
key = "openai"
""",
        )
        # Not OpenAI's host, and its settings do not name OPENAI_API_KEY: nothing is sent,
        # even to a provider that happens to be called "openai".
        assert _reply_headers("box:m", server) is None
        assert _reply_headers("openai:m", server) is None
        # key = "openai" names that item and variable: the user chose to send it there.
        assert _reply_headers("proxy:m", server) == f"Bearer {OPENAI_KEY}"
        monkeypatch.setenv("LLM_API_KEY", LLM_KEY)
        assert _reply_headers("box:m", server) == f"Bearer {LLM_KEY}"
        monkeypatch.setenv("BOX_API_KEY", "sk-box-own-key-12345678")
        assert _reply_headers("box:m", server) == "Bearer sk-box-own-key-12345678"


def test_openai_key_goes_to_openais_own_host():
    from desktop_chat.config import ProviderSettings
    from desktop_chat.targets import key_for

    env = {"OPENAI_API_KEY": OPENAI_KEY}
    assert key_for(ProviderSettings("openai", "https://api.openai.com/v1"), None, env) == OPENAI_KEY
    assert key_for(ProviderSettings("gpt", "https://api.openai.com/v1"), None, env) == OPENAI_KEY
    assert key_for(ProviderSettings("x", "https://api.openai.com.evil.io/v1"), None, env) is None
    with_llm = {**env, "LLM_API_KEY": LLM_KEY}
    assert key_for(ProviderSettings("gpt", "https://api.openai.com/v1"), None, with_llm) == LLM_KEY
