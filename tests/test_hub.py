"""Real downloads with huggingface_hub against a local server speaking the hub's HTTP API."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from desktop_chat.errors import ModelUnavailable
from desktop_chat.hub import DownloadCancelled, cached_models, download
from tests.support.fake_hub import Repo


def test_no_cache_folder_means_no_models(hub, tmp_path):
    assert cached_models(tmp_path / "nothing-here") == []


def test_download_with_byte_progress_then_listed(hub, tiny_model_dir, tmp_path):
    hub.repos["mlx-community/tiny-chat"] = Repo(tiny_model_dir)
    seen = []
    folder = download("mlx-community/tiny-chat", seen.append)
    assert (folder / "model.safetensors").read_bytes() == (
        tiny_model_dir / "model.safetensors"
    ).read_bytes()
    total = sum(p.stat().st_size for p in tiny_model_dir.iterdir() if p.is_file())
    assert seen and seen[-1].done_bytes == total == seen[-1].total_bytes
    assert all(p.bytes_per_s >= 0 for p in seen) and seen[-1].fraction == 1.0
    (model,) = cached_models(tmp_path / "hf" / "hub")
    assert model.repo_id == "mlx-community/tiny-chat" and model.size_bytes >= total


def test_a_download_cut_mid_file_resumes_from_where_it_broke(hub, tiny_model_dir):
    hub.repos["mlx-community/tiny-chat"] = Repo(tiny_model_dir)
    hub.cut_after["model.safetensors"] = 100_000  # the connection drops after 100 kB
    folder = download("mlx-community/tiny-chat")
    assert ("model.safetensors", "bytes=100000-") in hub.ranges, [
        e for e in hub.log if "safet" in e[1]
    ]
    assert (folder / "model.safetensors").read_bytes() == (
        tiny_model_dir / "model.safetensors"
    ).read_bytes()


def test_a_cancelled_download_resumes_next_time(hub, tiny_model_dir, tmp_path):
    hub.repos["mlx-community/tiny-chat"] = Repo(tiny_model_dir)
    cancel = threading.Event()
    hub.stall_file = "model.safetensors"  # half the weights arrive, then the server waits
    outcome = {}

    def run():
        try:
            download("mlx-community/tiny-chat", cancel=cancel)
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    assert hub.stalled.wait(20)
    deadline = time.monotonic() + 20  # wait until the first half has reached the disk
    while not any(p.stat().st_size for p in (tmp_path / "hf" / "hub").rglob("*.part")):
        assert time.monotonic() < deadline, "no bytes reached the .part file"
        time.sleep(0.02)
    cancel.set()  # the user presses Cancel
    hub.stall.set()
    worker.join(30)
    assert isinstance(outcome.get("error"), DownloadCancelled), outcome
    assert "resumes" in outcome["error"].hint
    parts = list((tmp_path / "hf" / "hub").rglob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size > 0, "what arrived is kept"
    kept = parts[0].stat().st_size
    hub.stall_file = None
    seen = []
    folder = download("mlx-community/tiny-chat", seen.append)  # a new process would do the same
    assert ("model.safetensors", f"bytes={kept}-") in hub.ranges
    assert (folder / "model.safetensors").read_bytes() == (
        tiny_model_dir / "model.safetensors"
    ).read_bytes()
    assert seen[-1].done_bytes == seen[-1].total_bytes
    assert not list((tmp_path / "hf" / "hub").rglob("*.part"))
    assert [m.repo_id for m in cached_models(tmp_path / "hf" / "hub")] == [
        "mlx-community/tiny-chat"
    ]


def test_clear_errors(hub, tiny_model_dir, tmp_path):
    with pytest.raises(ModelUnavailable, match="no model called mlx-community/missing"):
        download("mlx-community/missing")
    hub.repos["meta/gated"] = Repo(tiny_model_dir, gated=True)
    with pytest.raises(ModelUnavailable, match="gated") as info:
        download("meta/gated")
    assert "HF_TOKEN" in info.value.hint
    hub.repos["someone/pytorch-model"] = Repo(tiny_model_dir, library_name="transformers", tags=[])
    with pytest.raises(ModelUnavailable, match="not an MLX model") as info:
        download("someone/pytorch-model")
    assert "mlx-community" in info.value.hint
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
    hub.repos["mlx-community/broken"] = Repo(broken)
    with pytest.raises(ModelUnavailable, match="not a model MLX can run"):
        download("mlx-community/broken")


def test_no_network_is_said_plainly(monkeypatch, tmp_path):
    import huggingface_hub.constants as c

    from tests.support.servers import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(c, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        c, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ModelUnavailable) as info:
        download("mlx-community/anything")
    assert "network" in info.value.hint


def test_hf_token_opens_a_gated_repo(hub, tiny_model_dir, monkeypatch):
    hub.repos["meta/gated"] = Repo(tiny_model_dir, gated=True)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    folder = download("meta/gated")
    assert (folder / "config.json").exists()


def test_what_a_model_folder_says_about_itself(tmp_path):
    """Read in one place for the engine, the resolver and the window's context meter: a vision
    model's window sits under text_config, and a config changed on disk is read again."""
    import json

    from desktop_chat.hub import context_length, is_model_folder, weights_bytes

    folder = tmp_path / "vision-model"
    folder.mkdir()
    assert not is_model_folder(folder) and context_length(folder) is None
    config = folder / "config.json"
    config.write_text(
        json.dumps({"model_type": "x", "text_config": {"max_position_embeddings": 8192}})
    )
    (folder / "model-1.safetensors").write_bytes(b"1" * 300)
    (folder / "model-2.safetensors").write_bytes(b"2" * 200)
    assert is_model_folder(folder) and weights_bytes(folder) == 500
    assert context_length(folder) == 8192
    config.write_text(json.dumps({"model_type": "x", "max_position_embeddings": 131072}))
    assert context_length(folder) == 131072
    config.write_text("{not json")
    assert context_length(folder) is None
