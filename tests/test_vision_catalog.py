"""The model picker knows which local models see images: a vision model downloaded from the
hub (the tiny qwen2_vl, as Qwen2-VL's MLX conversions are laid out) is listed and marked, a
text model is listed unmarked, and the recommendations for a newcomer include one that sees."""

from __future__ import annotations

import pytest

from desktop_chat import catalog
from desktop_chat.config import Settings
from desktop_chat.hub import RECOMMENDED, RECOMMENDED_VISION, cached_models, download
from tests.support.fake_hub import Repo

pytestmark = pytest.mark.slow


def test_a_downloaded_vision_model_is_listed_and_marked(
    hub, tiny_vision_model_dir, tiny_model_dir, tmp_path
):
    hub.repos["mlx-community/tiny-vision"] = Repo(tiny_vision_model_dir)
    hub.repos["mlx-community/tiny-chat"] = Repo(tiny_model_dir)
    for repo in hub.repos:
        download(repo)
    cached = cached_models(tmp_path / "hf" / "hub")
    assert {m.repo_id: m.vision for m in cached} == {
        "mlx-community/tiny-vision": True,
        "mlx-community/tiny-chat": False,
    }
    choices = catalog.build(Settings(), cached=cached)
    assert {c.label: c.vision for c in choices} == {
        "mlx-community/tiny-vision": True,
        "mlx-community/tiny-chat": False,
    }


def test_the_recommendations_include_a_small_vision_model():
    vision = [r for r in RECOMMENDED if r[0] in RECOMMENDED_VISION]
    assert vision, "a newcomer is offered a model that sees images"
    repo, size, blurb = vision[0]
    assert repo.startswith("mlx-community/") and size < 2_000_000_000 and "image" in blurb
