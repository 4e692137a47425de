"""The local model's memory check, on real model folders: the KV cache is counted at the
context the app will hold (``[app] local_context_tokens``), not at the model's trained window; what
really does not fit is refused, with the numbers, before anything is loaded."""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest

from desktop_chat import engine as engine_module
from desktop_chat.config import LOCAL_CONTEXT_TOKENS, load_settings
from desktop_chat.engine import MlxEngine, ModelTooLarge, check_fits, working_context
from desktop_chat.paths import app_paths

pytestmark = pytest.mark.slow
GIB = 1024**3


@pytest.fixture
def engine():
    e = MlxEngine().start()
    yield e
    e.shutdown()
    assert not any(t.name == "mlx-engine" for t in threading.enumerate())


def _copy(tiny_model_dir, tmp_path, name, **config):
    folder = tmp_path / name
    shutil.copytree(tiny_model_dir, folder)
    data = json.loads((folder / "config.json").read_text())
    data.update(config)
    (folder / "config.json").write_text(json.dumps(data))
    return folder


def test_a_huge_trained_window_is_not_what_is_counted(engine, tiny_model_dir, tmp_path):
    """2**31 positions of this model's KV cache would be a terabyte, far beyond this machine;
    the app holds 16,384 tokens of it, a few megabytes, so the model loads and answers."""
    folder = _copy(tiny_model_dir, tmp_path, "long-window", max_position_embeddings=2**31 - 1)
    _weights, kv_at_max = engine_module.estimate_bytes(folder, 2**31 - 1)
    assert kv_at_max > engine_module.memory_limit_bytes(), "the old estimate would refuse it"
    info = engine.load(folder).result(60)
    assert info.context_length == LOCAL_CONTEXT_TOKENS
    assert working_context(folder, 4096) == 4096
    assert working_context(tiny_model_dir, 100_000) == 2048, "never past the model's window"


def test_weights_beyond_this_machine_are_refused_with_the_numbers(engine, tiny_model_dir, tmp_path):
    """A second weights file that really exceeds the RAM (sparse on disk): refused before
    loading, and the sentence gives the weights, the context and what the machine has."""
    folder = _copy(tiny_model_dir, tmp_path, "too-big")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with (folder / "model-00002-of-00002.safetensors").open("wb") as f:
        f.truncate(2 * ram)
    with pytest.raises(ModelTooLarge) as info:
        engine.load(folder).result(60)
    message = str(info.value)
    weights = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    assert f"{weights / GIB:.1f} GB of weights" in message
    assert "2,048-token context" in message, "the tiny model's own window is the smaller"
    assert f"can give it {ram / GIB:.1f} GB (its RAM)" in message
    assert "smaller or more quantized" in info.value.hint
    assert engine.info is None, "nothing was loaded"


def test_llama_3_2_3b_on_a_16_gb_mac(tmp_path, monkeypatch):
    """The recommended 3B model with its real config on a 16 GB Mac (Metal recommends about
    two thirds of the RAM): refused at its 131,072-token window, as before; it fits at the
    context the app holds. The weights file is sparse: its size is the 4-bit model's."""
    folder = tmp_path / "Llama-3.2-3B-Instruct-4bit"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "llama",
                "num_hidden_layers": 28,
                "num_attention_heads": 24,
                "num_key_value_heads": 8,
                "head_dim": 128,
                "hidden_size": 3072,
                "max_position_embeddings": 131072,
            }
        )
    )
    with (folder / "model.safetensors").open("wb") as f:
        f.truncate(1_807_000_000)
    monkeypatch.setattr(engine_module, "memory_limit_bytes", lambda: int(16 * GIB * 2 / 3))
    monkeypatch.setattr(engine_module, "_metal_working_set", lambda: int(16 * GIB * 2 / 3))
    with pytest.raises(ModelTooLarge) as refused:
        check_fits(folder, 131072)
    assert "14.0 GB for a 131,072-token context" in str(refused.value)
    assert "this Mac can give it 10.7 GB (Metal's recommended working set)" in str(refused.value)
    assert "local_context_tokens" in refused.value.hint, "the context is most of it: say so"
    weights, kv = check_fits(folder, working_context(folder))
    assert round(kv / GIB, 2) == 1.75 and weights + kv < 16 * GIB * 2 / 3


def test_the_context_setting_reaches_the_engine(engine, tiny_model_dir, _isolated_home):
    config = _isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[app]\nlocal_context_tokens = 1024\n")
    loaded = load_settings(app_paths())
    assert loaded.errors == [] and loaded.settings.local_context_tokens == 1024
    from desktop_chat.providers.mlx_local import MlxLocalProvider

    provider = MlxLocalProvider(engine, tiny_model_dir, loaded.settings.local_context_tokens)
    import asyncio

    asyncio.run(provider.ensure_loaded())
    assert engine.info.context_length == 1024
    config.write_text("[app]\nlocal_context_tokens = 12\n")
    loaded = load_settings(app_paths())
    assert loaded.settings.local_context_tokens == LOCAL_CONTEXT_TOKENS
    said = [str(e) for e in loaded.errors]
    assert any("local_context_tokens" in s and "number of tokens" in s for s in said), said
