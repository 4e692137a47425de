"""Which models the window says see images: a local folder whose config has a vision part, and
remote models (assumed able until one refuses); a local text model does not. The picker marks
them, and the notice for a text-only model offers the vision models the user has."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from desktop_chat.gui.model_picker import ModelPicker
from desktop_chat.gui.vision_notice import MARK, VisionNotice, sees_images, vision_choices
from desktop_chat.models import local_choice


def _folder(tmp_path, name: str, config: dict):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"\0" * 16)
    return folder


def test_the_picker_marks_the_models_that_see_images(qapp, tmp_path, tiny_model_dir):
    from desktop_chat.config import ProviderSettings
    from desktop_chat.models import REMOTE, ModelChoice

    vision = local_choice(
        _folder(tmp_path, "tiny-vl", {"model_type": "qwen2_vl", "vision_config": {"depth": 1}})
    )
    text = local_choice(tiny_model_dir)
    remote = ModelChoice(
        "gpt-4o-mini",
        REMOTE,
        "gpt-4o-mini",
        ProviderSettings("openai", "https://api.openai.com/v1"),
    )
    assert [sees_images(c) for c in (vision, text, remote)] == [True, False, True]
    picker = ModelPicker()
    picker.set_choices([remote, vision, text])
    shown = [a.text() for a in picker.menu_.actions() if a.data()]
    assert [t.endswith(MARK) for t in shown] == [True, True, False], shown
    notice = VisionNotice()
    notice.update_for(text, [remote, vision, text], images=2)
    assert not notice.isHidden()
    assert notice.label.text().endswith("Choose a model that does to send them:")
    assert [b.text() for b in notice.buttons] == ["gpt-4o-mini · openai", "tiny-vl · local"]
    notice.update_for(vision, [remote, vision, text], images=2)
    assert notice.isHidden(), "a model that sees images: nothing to say"
    assert vision_choices([text]) == []
    notice.update_for(text, [text], images=1)
    assert "none of your models does" in notice.label.text()
    [download] = notice.buttons  # the small vision model the welcome panel recommends
    assert download.text() == "Download Qwen2-VL-2B-Instruct-4bit…"
    asked = []
    notice.download_requested.connect(asked.append)
    download.click()
    assert asked == ["mlx-community/Qwen2-VL-2B-Instruct-4bit"]


def test_a_pasted_image_asked_of_the_local_vision_model_is_seen(
    qapp, qtbot, tiny_vision_model_dir, tiny_model_dir, tmp_path, _isolated_home
):
    """The whole way in the window with a real local vision model (mlx-vlm, the engine's
    thread): a text model chosen first says so and offers the vision model; chosen from the
    notice, it answers the pasted image."""
    import shutil

    from desktop_chat import catalog
    from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
    from tests.support.settings import write_config
    from tests.support.tiny_vision_model import QUESTION, SEEN
    from tests.test_window_images import paste, png, put_on_clipboard

    # Downloaded before: in this test's own Hugging Face cache, where the catalog finds it.
    repo = tmp_path / "hf" / "hub" / "models--test--tiny-vl"
    shutil.copytree(tiny_vision_model_dir, repo / "snapshots" / ("ab" * 20))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("ab" * 20)
    write_config(
        _isolated_home, f'default_model = "{tiny_model_dir}"\n[defaults]\ntemperature = 0.0\n'
    )
    with running_window(qapp) as (loop, window):
        c = window.controller

        async def scenario():
            await c.refresh()
            put_on_clipboard(png(320, 200, (220, 30, 30)))
            paste(qtbot, window.composer.edit)
            await wait_for(lambda: c.session.pictures, 30, "the image")

        loop.run_until_complete(scenario())
        assert window.vision.isVisible(), "the text model says it does not see images"
        seer = catalog.find(c.models.choices, "test/tiny-vl")
        assert seer is not None and seer in window.vision.offered
        qtbot.mouseClick(window.vision.buttons[0], Qt.MouseButton.LeftButton)
        loop.run_until_complete(
            wait_for(lambda: c.models.ready_choice is c.choice is seer, 120, "the vision model")
        )
        assert not window.vision.isVisible()
        type_and_send(qtbot, window, QUESTION)
        loop.run_until_complete(wait_for(lambda: reply_done(window), 120, "the reply"))
        assert [m.content for m in c.conversation.messages] == [QUESTION, SEEN]
        screenshot(window, "images-local-vision-model")
