"""Settings files: the default is written once and never overwritten; every broken file gives a
clear message naming the file, line and key, and the app runs on."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_chat.config import load_file, load_settings
from desktop_chat.models import resolve
from desktop_chat.params import GenerationParams
from desktop_chat.paths import app_paths


def test_desktop_chat_home_moves_every_folder(tmp_path):
    paths = app_paths({"DESKTOP_CHAT_HOME": str(tmp_path)})
    assert all(d.is_relative_to(tmp_path) for d in paths.all_dirs())
    assert not any(d.exists() for d in paths.all_dirs()), "computing paths must create nothing"


def test_commented_default_is_written_once_and_matches_the_built_in_defaults(tmp_path):
    paths = app_paths({"DESKTOP_CHAT_HOME": str(tmp_path)})
    first = load_settings(paths)
    assert first.created and first.errors == []
    text = paths.config_file.read_text()
    assert text.count("\n#") > 20, "the default file explains itself"
    assert "api_key" not in tomllib.loads(text).get("defaults", {})
    assert first.settings.defaults == GenerationParams(temperature=0.7)
    paths.config_file.write_text('default_model = "mine:model"\n')
    again = load_settings(paths)
    assert not again.created
    assert paths.config_file.read_text() == 'default_model = "mine:model"\n'


def test_full_settings_are_read_and_resolved(tmp_path):
    paths = app_paths({"DESKTOP_CHAT_HOME": str(tmp_path)})
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text(
        """
default_model = "fast"
[defaults]
temperature = 0.5
max_tokens = 300
system_prompt = "Be brief."
[providers.groq]
base_url = "https://api.groq.com/openai/v1"
models = ["llama-3.1-8b-instant"]
[providers.groq.params]
top_p = 0.8
[providers.ollama]
base_url = "http://127.0.0.1:11434/v1"
models = ["llama3:8b"]
[aliases]
fast = "groq:llama-3.1-8b-instant"
[aliases.careful]
model = "fast"
temperature = 0.1
"""
    )
    loaded = load_settings(paths)
    assert loaded.errors == []
    s = loaded.settings
    target = resolve(s.default_model, s, [])
    assert (target.provider.name, target.model) == ("groq", "llama-3.1-8b-instant")
    params = target.params.over(s.defaults)  # what every client asks with
    assert params.top_p == 0.8 and params.temperature == 0.5
    assert params.system_prompt == "Be brief." and params.max_tokens == 300
    assert resolve("careful", s, []).params.temperature == 0.1
    # "llama3:8b" has a colon but no provider called llama3: found by the provider listing it.
    assert resolve("llama3:8b", s, []).provider.name == "ollama"
    assert resolve("ollama:llama3:8b", s, []).model == "llama3:8b"


def test_chatybot_shape_is_read_first_entry_is_default(tmp_path):
    path = tmp_path / "chat_config.toml"
    path.write_text(
        """
[deepseek]
model = "deepseek-chat"
base_url = "https://api.deepseek.com/v1"
temperature = 0.3
top_k = 40

[local]
model = "qwen2.5"
base_url = "http://localhost:11434/v1"
"""
    )
    s = load_file(path).settings
    assert s.default_model == "deepseek"
    target = resolve("deepseek", s, [])
    assert target.model == "deepseek-chat" and target.params.top_k == 40
    assert target.params.temperature == 0.3
    assert resolve("local", s, []).provider.base_url == "http://localhost:11434/v1"


def test_legacy_file_beside_config_toml_is_read_too(tmp_path):
    paths = app_paths({"DESKTOP_CHAT_HOME": str(tmp_path)})
    paths.config_dir.mkdir(parents=True)
    paths.legacy_config_file.write_text(
        '[old]\nmodel = "m"\nbase_url = "http://localhost:1234/v1"\n'
    )
    loaded = load_settings(paths)
    assert loaded.sources == [paths.config_file, paths.legacy_config_file]
    assert loaded.settings.default_model == "old"


BROKEN = [
    # (file text, line, key or None, words the message must contain)
    ("default_model = \n", 1, None, "not valid TOML"),
    ("[defaults]\ntemperature = 'hot'\n", 2, "defaults.temperature", "must be a number"),
    ("[defaults]\ntemperature = 7\n", 2, "defaults.temperature", "between 0 and 2"),
    ("[defaults]\nmax_tokens = 1.5\n", 2, "defaults.max_tokens", "whole number"),
    ("[defaults]\ntempreature = 0.1\n", 2, "defaults.tempreature", "not a generation parameter"),
    ("[defaults]\nstop = [1, 2]\n", 2, "defaults.stop", "list of strings"),
    ("defaults = 3\n", 1, "defaults", "table of generation parameters"),
    ("default_model = 5\n", 1, "default_model", "non-empty text"),
    ("colour = 'blue'\n", 1, "colour", "not a setting"),
    ("[providers.x]\nmodels = ['a']\n", 1, "providers.x", "no base_url"),
    ("[providers.x]\nbase_url = 'ftp://h'\n", 2, "providers.x.base_url", "http(s) URL"),
    (
        "[providers.x]\nbase_url = 'http://h/v1'\nmodels = 3\n",
        3,
        "providers.x.models",
        "list of model names",
    ),
    (
        "[providers.x]\nbase_url = 'http://h/v1'\napi_key = 'sk-1'\n",
        3,
        "providers.x.api_key",
        "keychain",
    ),
    (
        "[providers.x]\nbase_url = 'http://h/v1'\nallow_insecure_key = 'yes'\n",
        3,
        "providers.x.allow_insecure_key",
        "true or false",
    ),
    ("providers = 'none'\n", 1, "providers", "[providers.NAME]"),
    ("[aliases]\nfast = 3\n", 2, "aliases.fast", "provider:model"),
    ("[aliases.fast]\ntemperature = 0.1\n", 1, "aliases.fast", "needs a model"),
    ("[defaults]\na = 1\n[defaults]\nb = 2\n", 3, None, "not valid TOML"),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), BROKEN)
def test_every_broken_file_gives_a_clear_error_and_defaults_run_on(
    tmp_path, text, line, key, words
):
    paths = app_paths({"DESKTOP_CHAT_HOME": str(tmp_path)})
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text(text)
    loaded = load_settings(paths)
    assert loaded.errors, "a broken file must be reported"
    err = loaded.errors[0]
    assert err.path == str(paths.config_file) and err.line == line and err.key == key
    message = str(err)
    assert words in message and str(paths.config_file) in message and f"line {line}" in message
    assert paths.config_file.read_text() == text, "the user's file is never rewritten"
    assert isinstance(loaded.settings.defaults, GenerationParams)


def test_non_utf8_file_is_reported_with_its_line(tmp_path):
    paths = app_paths({"DESKTOP_CHAT_HOME": str(tmp_path)})
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_bytes(b"# ok\n# caf\xe9\n")
    (err,) = load_settings(paths).errors
    assert err.line == 2 and "UTF-8" in str(err)


toml_values = st.one_of(
    st.integers(-10, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.booleans(),
    st.lists(st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
)
keys = st.sampled_from(
    [
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "seed",
        "stop",
        "base_url",
        "models",
        "key",
        "model",
        "default_model",
        "system_prompt",
        "x",
    ]
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tables=st.dictionaries(
        st.sampled_from(["defaults", "providers.p", "aliases", "aliases.a", "legacy", "providers"]),
        st.dictionaries(keys, toml_values, max_size=4),
        max_size=3,
    ),
    junk=st.text(max_size=30),
)
def test_generated_files_never_raise(tmp_path, tables, junk):
    import json

    lines = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n" + junk, encoding="utf-8")
    loaded = load_file(path)  # must not raise, whatever the content
    for err in loaded.errors:
        assert str(path) in str(err) and err.hint


def test_discovery_settings_are_read_and_bad_ones_named(tmp_path):
    from desktop_chat.providers.discovery import local_servers

    config = tmp_path / "config.toml"
    config.write_text("[discovery]\nenabled = false\nports = { mine = 9000 }\n")
    loaded = load_file(config)
    assert loaded.errors == []
    assert loaded.settings.local_servers == (("mine", 9000),)
    assert local_servers(loaded.settings, environ={}) == ()
    # The environment's override wins over the file, for tests and scripted runs.
    env = {"DESKTOP_CHAT_LOCAL_SERVERS": "a=1, b=x, =3, c=70000, d=4"}
    assert local_servers(loaded.settings, environ=env) == (("a", 1), ("d", 4))
    config.write_text('[discovery]\nenabled = "yes"\nports = [11434]\nscan = 1\n')
    loaded = load_file(config)
    messages = {err.key: str(err) for err in loaded.errors}
    assert set(messages) == {"discovery.enabled", "discovery.ports", "discovery.scan"}
    assert (
        "line 2" in messages["discovery.enabled"]
        and "true or false" in messages["discovery.enabled"]
    )
    assert "ollama = 11434" in messages["discovery.ports"]
    assert loaded.settings.discover_local_servers  # a bad value leaves the default in place
