"""chatybot habits in the real ``llmchat`` (pexpect): no argument starts the default model,
``chat_config.toml`` is read from the current folder, and a plaintext ``api_key`` in it is
explained and, when the user agrees, moved into the real Secret Service and out of the file."""

from __future__ import annotations

import pexpect
import pytest

from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.llmchat import spawn as spawn_llmchat
from tests.support.settings import write_config

pytestmark = pytest.mark.slow
PROMPT = "prompt -> "


def spawn(args, home, cwd, **env):
    return spawn_llmchat(args, home, cwd=cwd, **env)


def finish(child):
    child.sendline("bye")
    child.expect("Goodbye!")
    child.expect(pexpect.EOF)
    assert child.wait() == 0


def test_no_argument_starts_the_first_model_of_chat_config_in_this_folder(
    mlx_server, _isolated_home, tmp_path
):
    project = tmp_path / "project"
    project.mkdir()
    # chatybot's documented file, as its users have it in their project folder.
    (project / "chat_config.toml").write_text(
        f'[tiny]\nmodel = "{mlx_server.model_id}"\nbase_url = "{mlx_server.base_url}"\n'
        "temperature = 0.0\nmax_tokens = 64\n"
    )
    child = spawn([], _isolated_home, project)
    child.expect("Loading model tiny")
    child.expect("Model loaded successfully!")
    child.expect_exact(PROMPT)
    child.sendline("What is the capital of France?")
    child.expect("The capital of France is Paris.")
    finish(child)


def test_default_model_in_config_toml_comes_first(mlx_server, _isolated_home, tmp_path):
    write_config(
        _isolated_home,
        f'default_model = "small"\n[providers.tiny]\nbase_url = "{mlx_server.base_url}"\n'
        f'models = ["{mlx_server.model_id}"]\n'
        f'[aliases.small]\nmodel = "tiny:{mlx_server.model_id}"\n',
    )
    child = spawn([], _isolated_home, tmp_path)
    child.expect("Loading model small")
    child.expect("Model loaded successfully!")
    finish(child)


def test_with_nothing_configured_the_usage_says_what_to_do(_isolated_home, tmp_path):
    child = spawn([], _isolated_home, tmp_path)
    child.expect("usage: llmchat")
    child.expect("set default_model in config.toml")
    child.expect(pexpect.EOF)
    assert child.wait() == 2


def _config_with_key(folder, server) -> str:
    text = (
        f'# my models\n[remote]\nmodel = "m"\nbase_url = "{server.base_url}"\n'
        'api_key = "sk-legacy-0123456789"  # chatybot kept it here\ntemperature = 0.0\n'
    )
    (folder / "chat_config.toml").write_text(text)
    return text


def test_a_plaintext_key_is_moved_to_the_keychain_on_request(
    secret_service, _isolated_home, tmp_path
):
    from desktop_chat.keys import KeyStore

    with FakeOpenAI() as server:
        server.script = [Step(pieces=["Hello."])]
        _config_with_key(tmp_path, server)
        child = spawn([], _isolated_home, tmp_path)
        child.expect("holds a plaintext API key for 'remote'")
        child.expect_exact("Move it to the system keychain and out of the file? [y/N] ")
        child.sendline("y")
        child.expect("Moved to the keychain")
        child.expect_exact(PROMPT)
        child.sendline("Hi")
        child.expect("Hello.")
        finish(child)
        sent = {k.lower(): v for k, v in server.requests[-1]["headers"].items()}
        assert sent.get("authorization") == "Bearer sk-legacy-0123456789"
    left = (tmp_path / "chat_config.toml").read_text()
    assert "sk-legacy" not in left and "api_key" not in left
    assert "# my models" in left and 'model = "m"' in left  # the rest as the user wrote it
    assert sorted(p.name for p in tmp_path.iterdir() if p != _isolated_home) == [
        "chat_config.toml"
    ]  # no copy of the key kept
    assert KeyStore().get("remote") == "sk-legacy-0123456789"


def test_a_declined_move_leaves_the_file_and_says_the_key_is_not_used(
    secret_service, _isolated_home, tmp_path
):
    with FakeOpenAI() as server:
        server.script = [Step(pieces=["Hello."])]
        text = _config_with_key(tmp_path, server)
        child = spawn([], _isolated_home, tmp_path)
        child.expect_exact("[y/N] ")
        child.sendline("")
        child.expect("is a plaintext API key; it was not used")
        child.expect_exact(PROMPT)
        child.sendline("Hi")
        child.expect("Hello.")
        finish(child)
        sent = {k.lower(): v for k, v in server.requests[-1]["headers"].items()}
        assert "sk-legacy" not in sent.get("authorization", ""), sent
    assert (tmp_path / "chat_config.toml").read_text() == text
