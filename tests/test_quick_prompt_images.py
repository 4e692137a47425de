"""The quick prompt takes images as the main window does: a screenshot pasted with ⌘V becomes a
chip (prepared off the GUI thread), goes with the question, and shows under it in the answer;
an image file dropped on the panel too. Looked at in light and dark."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from tests.support.fake_openai import Step
from tests.support.gui import running_window, screenshot, wait_for
from tests.test_quick_prompt_files import _drop
from tests.test_theme_colours import dark_palette
from tests.test_window_images import paste, png, put_on_clipboard, sent_images

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("appearance", ["light", "dark"])
def test_a_screenshot_pasted_in_the_quick_prompt_goes_with_the_question(
    qapp, qtbot, fake, tmp_path, appearance
):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    fake.script = [Step(pieces=["Two ", "pictures of ", "stripes."])]
    dropped = tmp_path / "diagram.webp"
    from PIL import Image

    Image.new("RGB", (500, 500), (90, 160, 90)).save(dropped, "WEBP")
    light = QApplication.palette()
    if appearance == "dark":
        QApplication.setPalette(dark_palette())
    try:
        with running_window(qapp) as (loop, window):
            quick = quick_prompt_for(window)

            async def scenario():
                await window.controller.refresh()
                quick.present()
                put_on_clipboard(png(2560, 1600))
                paste(qtbot, quick.input)
                pending = len(quick.picture_chips.pending)
                _drop(quick, [dropped])
                qtbot.keyClicks(quick.input, "What are these?")
                await wait_for(lambda: len(quick.picture_chips.chips) == 2, 30, "two chips")
                sizes = [(c.picture.width, c.picture.height) for c in quick.picture_chips.chips]
                assert sizes == [(1536, 960), (500, 500)], "the chips say the size sent"
                assert quick.attached.isHidden(), quick.attached.text()  # the chips say it all
                for chip in quick.picture_chips.chips:  # the panel grew to hold them
                    assert chip.height() >= chip.sizeHint().height()
                screenshot(quick, f"quick-prompt-images-{appearance}")
                quick.submit()
                await wait_for(lambda: quick.task.done(), 30, "the answer")
                return pending

            pending = loop.run_until_complete(scenario())
            assert pending == 1, "a chip said the pasted image was being prepared"
            # Capped at 1536: the scripted server is on this machine (image_sizes.py).
            assert [i.size for i in sent_images(fake)] == [(1536, 960), (500, 500)]
            [message] = [m for m in quick.session.conversation.messages if m.role == "user"]
            assert [p.name for p in message.images] == ["Pasted image", "diagram.webp"]
            assert quick.pictures == [] and quick.picture_chips.isHidden()
            from desktop_chat.gui.picture_view import ThumbStrip

            [strip] = quick.answer.widget().findChildren(ThumbStrip)
            assert [t.loaded for t in strip.thumbs] == [True, True], "shown under the question"
            screenshot(quick, f"quick-prompt-answered-{appearance}")
            quick.hide()
            quick.deleteLater()
    finally:
        QApplication.setPalette(light)
        QApplication.processEvents()


def test_the_panel_grows_to_hold_a_pasted_images_chip(qapp, qtbot, fake):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    with running_window(qapp) as (loop, window):
        quick = quick_prompt_for(window)

        async def scenario():
            await window.controller.refresh()
            quick.present()
            put_on_clipboard(png(1600, 1000))
            paste(qtbot, quick.input)
            await wait_for(lambda: quick.picture_chips.chips, 30, "the chip")

        loop.run_until_complete(scenario())
        [chip] = quick.picture_chips.chips
        assert chip.height() >= chip.sizeHint().height(), "the chip is squashed"
        assert quick.height() >= quick.sizeHint().height()
        quick.hide()
        quick.deleteLater()


def test_a_question_no_model_could_take_comes_back_with_its_images(
    qapp, qtbot, _isolated_home, monkeypatch
):
    from desktop_chat.gui.quick_prompt import quick_prompt_for
    from tests.support.settings import write_config

    # Another machine over plain http with a key: refused before anything is sent.
    write_config(
        _isolated_home,
        'default_model = "lan:m"\n[providers.lan]\n'
        'base_url = "http://192.0.2.7:11434/v1"\nmodels = ["m"]\n',
    )
    monkeypatch.setenv("LAN_API_KEY", "sk-lan-0123456789abcdef")
    with running_window(qapp) as (loop, window):
        quick = quick_prompt_for(window)

        async def scenario():
            await window.controller.refresh()
            quick.present()
            put_on_clipboard(png(640, 400))
            paste(qtbot, quick.input)
            await wait_for(lambda: quick.pictures, 30, "the image")
            qtbot.keyClicks(quick.input, "What is this?")
            quick.submit()
            await wait_for(lambda: quick.task is not None and quick.task.done(), what="the try")

        loop.run_until_complete(scenario())
        assert quick.input.toPlainText() == "What is this?", "the question is given back"
        assert [(p.width, p.height) for p in quick.pictures] == [(640, 400)], "with its image"
        assert [c.picture for c in quick.picture_chips.chips] == quick.pictures
        quick.hide()
        quick.deleteLater()


def test_a_screenshot_alone_is_asked_about_in_the_quick_prompt(qapp, qtbot, fake):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    fake.script = [Step(pieces=["Stripes."])]
    with running_window(qapp) as (loop, window):
        quick = quick_prompt_for(window)

        async def scenario():
            await window.controller.refresh()
            quick.present()
            put_on_clipboard(png(300, 200))
            paste(qtbot, quick.input)
            quick.submit()  # Enter, nothing typed, the image still on its way: it waits for it
            await wait_for(lambda: quick.task is not None and quick.task.done(), 30, "answer")

        loop.run_until_complete(scenario())
        assert [i.size for i in sent_images(fake)] == [(300, 200)]
        assert quick.reply.text.startswith("Stripes.")
        quick.hide()
        quick.deleteLater()
