"""A Mac app opened from Finder sees none of the shell's variables: its hints point at Settings
and the keychain, never at OPENAI_API_KEY or HF_TOKEN. In a terminal, and off the Mac, the
variables stay in the hints. The decision is one platform function, tested with a
monkeypatched platform; each hint is then checked where the user meets it."""

from __future__ import annotations

import asyncio
import re
import sys
from types import SimpleNamespace

import pytest

from desktop_chat.config import ProviderSettings
from desktop_chat.errors import AuthenticationFailed, KeyringUnavailable, ModelUnavailable
from desktop_chat.params import GenerationParams
from desktop_chat.platform import launch
from desktop_chat.platform.launch import launched_from_finder
from tests.support.fake_openai import FakeOpenAI, Step

VARIABLE = re.compile(r"_API_KEY\b|\bHF_TOKEN\b")


def test_who_counts_as_opened_from_finder(monkeypatch):
    assert not launched_from_finder("linux", frozen=True, interactive=False), "off the Mac: never"
    assert launched_from_finder("darwin", frozen=True, interactive=True), "a bundle: always"
    assert launched_from_finder("darwin", frozen=False, interactive=False), "no terminal"
    assert not launched_from_finder("darwin", frozen=False, interactive=True), "a terminal"
    # The defaults read the real process: sys.platform, sys.frozen (py2app sets it), stdin.
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(sys, "frozen", "macosx_app", raising=False)
    assert launched_from_finder()
    monkeypatch.delattr(sys, "frozen")
    monkeypatch.setattr(launch.os, "isatty", lambda fd: fd == 0)
    assert not launched_from_finder()
    monkeypatch.setattr(launch.os, "isatty", lambda fd: False)
    assert launched_from_finder()


@pytest.fixture(params=["finder", "terminal"])
def started(request, monkeypatch):
    """The app as opened from Finder on a Mac, or from a terminal (the Linux default)."""
    if request.param == "finder":
        # The platform as the launch module sees it: a py2app bundle on macOS. (Patching
        # sys.platform for the whole process would send the stdlib looking for Mac modules.)
        monkeypatch.setattr(launch, "sys", SimpleNamespace(platform="darwin", frozen="macosx_app"))
    return request.param


def _says(hint: str, started: str) -> None:
    if started == "finder":
        assert not VARIABLE.search(hint) and "environment" not in hint, hint
        assert "Settings" in hint or "Keychain" in hint or "huggingface/token" in hint, hint
    else:
        assert VARIABLE.search(hint), hint


def test_no_keychain_hint(started):
    from keyring.backends import fail

    from desktop_chat.keys import KeyStore
    from desktop_chat.targets import key_for

    store = KeyStore(backend=fail.Keyring())
    with pytest.raises(KeyringUnavailable) as saving:
        store.set("openai", "sk-x")
    _says(saving.value.hint, started)
    with pytest.raises(KeyringUnavailable) as reading:
        key_for(ProviderSettings("openai", "https://api.openai.com/v1"), store, {})
    _says(reading.value.hint, started)


def test_a_locked_keychain_hint(started):
    from desktop_chat.keys import KeyStore

    class Locked:
        priority = 5

        def get_password(self, *_args):
            import keyring.errors

            raise keyring.errors.KeyringLocked("locked")

    with pytest.raises(KeyringUnavailable) as info:
        KeyStore(backend=Locked()).get("openai")
    _says(info.value.hint, started)


def test_a_refused_key_hint_from_a_real_401(started):
    from desktop_chat.targets import remote_provider

    with FakeOpenAI() as server:
        server.script = [Step(401, error="Incorrect API key")]
        provider = remote_provider(
            ProviderSettings("acme", server.base_url), None, api_key="sk-wrong", backoff_s=0.01
        )

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

        with pytest.raises(AuthenticationFailed) as info:
            asyncio.run(go())
    _says(info.value.hint, started)
    assert "Settings" in info.value.hint


def test_a_gated_model_hint(started, hub, tiny_model_dir):
    from desktop_chat.hub import download
    from tests.support.fake_hub import Repo

    hub.repos["meta/gated"] = Repo(tiny_model_dir, gated=True)
    with pytest.raises(ModelUnavailable, match="gated") as info:
        download("meta/gated")
    _says(info.value.hint, started)
