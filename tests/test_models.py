"""One resolver for every client: each kind of model name becomes the same ``ModelChoice``
whoever asks, and a model that only a server running on this machine offers is found alike by
the window, ``llmchat`` and the Python API."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from desktop_chat.errors import ModelUnavailable
from desktop_chat.models import LOCAL, ModelChoice, open_model, resolve
from desktop_chat.params import GenerationParams
from tests.support.fake_hub import Repo
from tests.support.settings import write_config

CAPITAL = "What is the capital of France?"


def _settings(home: Path, extra: str = ""):
    from desktop_chat.config import load_settings
    from desktop_chat.paths import app_paths

    write_config(home, extra)
    loaded = load_settings(app_paths())
    assert loaded.errors == []
    return loaded.settings


def test_each_kind_of_name(tiny_model_dir, tmp_path, _isolated_home):
    settings = _settings(
        _isolated_home,
        f"""
[providers.box]
base_url = "http://127.0.0.1:9/v1"
models = ["m1", "shared"]
[providers.box.params]
top_p = 0.8
[providers.other]
base_url = "http://127.0.0.1:10/v1"
models = ["shared"]
[aliases]
fast = "box:m1"
[aliases.careful]
model = "fast"
temperature = 0.1
[aliases.mine]
model = "{tiny_model_dir}"
temperature = 0.2
""",
    )
    # Aliases (an alias of an alias too): shown by their own name, their parameters over the
    # provider's; the app's defaults are the client's to layer under them.
    careful = resolve("careful", settings, [])
    assert (careful.provider.name, careful.model, careful.label) == ("box", "m1", "careful")
    assert careful.params == GenerationParams(temperature=0.1, top_p=0.8)
    # provider:model, and a model exactly one provider lists.
    assert resolve("box:m1", settings, []).key == resolve("m1", settings, []).key == "box:m1"
    assert resolve("box:m1", settings, []).label == "m1"
    with pytest.raises(ModelUnavailable, match="several providers offer it"):
        resolve("shared", settings, [])
    with pytest.raises(ModelUnavailable, match="Cannot tell which provider") as unknown:
        resolve("nowhere:x", settings, [])
    assert "providers: box, other" in unknown.value.hint
    # A model folder, its local: key, and an alias of it.
    folder = resolve(str(tiny_model_dir), settings, [])
    weights = sum(p.stat().st_size for p in tiny_model_dir.glob("*.safetensors"))
    assert (folder.path, folder.group, folder.size_bytes) == (tiny_model_dir, LOCAL, weights)
    assert folder.local and folder.label == tiny_model_dir.name
    assert resolve(folder.key, settings, []) == folder
    mine = resolve("mine", settings, [])
    assert (mine.path, mine.label, mine.params.temperature) == (tiny_model_dir, "mine", 0.2)
    # A Hugging Face id: the local engine, downloaded when opened.
    repo = resolve("mlx-community/Llama-3.2-1B-Instruct-4bit", settings, [])
    assert repo.local and repo.to_download and repo.key == repo.label == repo.repo
    # What cannot run says why.
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(ModelUnavailable, match="is not an MLX model"):
        resolve(str(empty), settings, [])
    with pytest.raises(ModelUnavailable, match="There is no model folder"):
        resolve(str(tmp_path / "gone"), settings, [])
    with pytest.raises(ModelUnavailable, match="There is no model folder"):
        resolve(f"local:{tmp_path / 'gone'}", settings, [])


def test_every_choice_the_picker_offers_resolves_to_itself(tiny_model_dir, _isolated_home):
    """What the window remembers (a choice's key) opens the same choice again in any client."""
    from desktop_chat import catalog
    from desktop_chat.hub import CachedModel

    settings = _settings(
        _isolated_home,
        """
[providers.box]
base_url = "http://127.0.0.1:9/v1"
models = ["m1", "/models/tiny-chat"]
""",
    )
    cached = [CachedModel("mlx-community/tiny-chat", 1, tiny_model_dir)]
    choices = catalog.build(settings, [], cached)
    assert len(choices) == 3
    for choice in choices:
        again = resolve(choice.key, settings, [])
        assert (again.key, again.model, again.provider) == (
            choice.key,
            choice.model,
            choice.provider,
        )


@pytest.mark.slow
def test_a_hugging_face_id_is_downloaded_when_opened(hub, tiny_model_dir, _isolated_home):
    """llmchat and the API open a Hugging Face id on an engine of their own: downloaded with
    progress, answered, and the engine's thread gone once closed."""
    hub.repos["mlx-community/tiny-chat"] = Repo(tiny_model_dir)
    settings = _settings(_isolated_home)
    seen = []
    opened = open_model("mlx-community/tiny-chat", settings, seen.append)
    try:
        assert opened.choice.path.is_dir() and opened.label == "mlx-community/tiny-chat"
        assert seen and seen[-1].done_bytes == seen[-1].total_bytes
        assert _ask(opened.provider, opened.model) == "The capital of France is Paris."
    finally:
        opened.close()
    assert not any(t.name == "mlx-engine" for t in threading.enumerate())


@pytest.mark.slow
def test_a_found_server_is_used_alike_by_the_window_llmchat_and_the_api(
    qapp, qtbot, tiny_model_dir, _isolated_home
):
    """A model named ``org/name`` that no setting mentions, served by mlx_lm.server running
    here: the window, llmchat and the API all find the server (none tries to download it from
    Hugging Face, which this test cannot reach) and get its answer."""
    from desktop_chat.api import LLMChat
    from desktop_chat.providers.discovery import SERVERS_VARIABLE
    from tests.support.gui import reply_done, running_window, type_and_send, wait_for
    from tests.support.servers import mlx_server

    repo = "mlx-community/tiny-chat"
    with mlx_server(tiny_model_dir, repo_id=repo) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv(SERVERS_VARIABLE, f"local-test={server.port}")
        settings = _settings(
            _isolated_home, f'default_model = "{repo}"\n[defaults]\ntemperature = 0.0\n'
        )
        expected = "local-test:mlx-community/tiny-chat"
        # llmchat: opened by the name typed; kept as provider:model, which --continue reopens.
        opened = open_model(repo, settings)
        assert (opened.choice.key, opened.label) == (expected, expected)
        assert _ask(opened.provider, opened.model) == "The capital of France is Paris."
        # The Python API, by the model's name alone.
        chat = LLMChat(model=repo, temperature=0.0, system_prompt="")
        try:
            assert chat.ask(CAPITAL) == "The capital of France is Paris."
        finally:
            chat.close()
        # The window, as its default model.
        with running_window(qapp) as (loop, window):

            async def scenario():
                await window.controller.refresh()
                assert window.controller.choice.key == expected
                type_and_send(qtbot, window, CAPITAL)
                await wait_for(lambda: reply_done(window), what="the reply")

            loop.run_until_complete(scenario())
            assert window.controller.conversation.messages[-1].content == (
                "The capital of France is Paris."
            )


def _ask(provider, model: str) -> str:
    from desktop_chat.events import TextDelta

    async def ask() -> str:
        try:
            messages = [{"role": "user", "content": CAPITAL}]
            events = provider.stream(messages, model, GenerationParams(temperature=0.0))
            return "".join([e.text async for e in events if isinstance(e, TextDelta)])
        finally:
            await provider.aclose()

    return asyncio.run(ask())


def test_a_choice_is_keyed_as_before():
    """Keys the window and settings remember keep their shape."""
    from desktop_chat.config import ProviderSettings

    box = ProviderSettings("box", "http://127.0.0.1:9/v1")
    assert ModelChoice("m", "Remote", "m", provider=box).key == "box:m"
    assert ModelChoice("t", LOCAL, "t", path=Path("/x/t")).key == "local:/x/t"
