"""Images in the main window, as the user gives them: pasted (⌘V of a screenshot), dropped, or
chosen with Attach. Each is prepared off the GUI thread (a chip says so meanwhile), becomes a
chip with its thumbnail, size and token estimate, goes with the next message (the request
carries it, the bubble shows it, a click enlarges it), and a text-only model says so first."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.test_quick_prompt_files import _drop

pytestmark = pytest.mark.slow


def png(width: int, height: int, colour=(30, 120, 200)) -> bytes:
    """A screenshot-like PNG: a flat colour with a band and a few lines across it."""
    image = Image.new("RGB", (width, height), colour)
    for y in range(0, height, max(1, height // 9)):
        image.paste((250, 250, 250), (0, y, width, y + max(1, height // 40)))
    image.paste((240, 180, 40), (width // 4, height // 3, width // 2, height // 2))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def put_on_clipboard(data: bytes, kind: str = "image/png") -> None:
    mime = QMimeData()
    mime.setData(kind, data)
    QApplication.clipboard().setMimeData(mime)


def paste(qtbot, edit) -> None:
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)


def sent_images(fake) -> list[Image.Image]:
    """The images the last request carried, decoded from their data URLs."""
    post = [r for r in fake.requests if r["method"] == "POST"][-1]
    content = post["body"]["messages"][-1]["content"]
    assert isinstance(content, list), f"no content parts were sent: {content!r}"
    urls = [part["image_url"]["url"] for part in content if part["type"] == "image_url"]
    return [Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) for url in urls]


@pytest.fixture(params=["light", "dark"])
def appearance(request, qapp):
    """Each look at the window in both appearances (the system's palette, as macOS sets it)."""
    from tests.test_theme_colours import dark_palette

    light = QApplication.palette()
    if request.param == "dark":
        QApplication.setPalette(dark_palette())
    yield request.param
    QApplication.setPalette(light)
    QApplication.processEvents()


def test_a_pasted_screenshot_is_a_chip_then_goes_with_the_message(qapp, qtbot, fake, appearance):
    fake.script = [Step(pieces=["A blue ", "screenshot."])]
    with running_window(qapp) as (loop, window):
        bar = window.pictures

        async def scenario():
            await window.controller.refresh()
            put_on_clipboard(png(3000, 2000))
            paste(qtbot, window.composer.edit)
            # At once, before it is prepared: a chip says so, and nothing was typed.
            pending = [c.findChild(type(window.waiting_label)).text() for c in bar.pending]
            assert window.composer.edit.toPlainText() == ""
            await wait_for(lambda: bar.chips and not bar.pending, 30, "the image's chip")
            return pending

        pending = loop.run_until_complete(scenario())
        assert pending == ["Pasted image · preparing…"]
        chip = bar.chips[0]
        assert chip.thumb.loaded, "the chip shows a thumbnail"
        # Capped at 1536 on its longest side (what a server on this machine, as the scripted
        # one is, reads: image_sizes.py), with its size and an estimate of its tokens.
        assert chip.size_label.text().startswith("1536×1024 · ")
        assert chip.picture.tokens == 1105  # 6 tiles of 512 once scaled to 1152×768
        assert chip.size_label.text().endswith(" · ≈1.1k tok")
        assert "images 1.1k" in window.meter.toolTip(), window.meter.toolTip()
        screenshot(window, f"images-chip-pasted-{appearance}")
        type_and_send(qtbot, window, "What is in this screenshot?")
        loop.run_until_complete(wait_for(lambda: reply_done(window), what="the reply"))
        [sent] = sent_images(fake)
        assert sent.size == (1536, 1024) and sent.format == "PNG"
        message = window.controller.conversation.messages[0]
        assert [(p.width, p.height) for p in message.images] == [(1536, 1024)]
        assert window.controller.session.pictures == [] and bar.isHidden(), "sent: no chip left"
        bubble = window.view.items[0]
        [thumb] = bubble.images.thumbs
        assert thumb.loaded and thumb.height() == 96
        screenshot(window, f"images-bubble-{appearance}")
        qtbot.mouseClick(thumb, Qt.MouseButton.LeftButton)
        dialog = bubble.images.dialog
        assert dialog.isVisible() and dialog.image.pixmap().width() > 96
        screenshot(dialog, f"images-enlarged-{appearance}")
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)
        assert not dialog.isVisible(), "Esc closes the enlarged view"


def test_dropped_and_chosen_images_join_as_images_and_a_bad_one_is_named(
    qapp, qtbot, fake, tmp_path
):
    shot = tmp_path / "shot.png"
    shot.write_bytes(png(800, 600))
    photo = tmp_path / "photo.JPG"
    Image.new("RGB", (640, 480), (200, 60, 60)).save(photo, "JPEG")
    note = tmp_path / "note.txt"
    note.write_text("Remember the milk.")
    broken = tmp_path / "broken.png"
    broken.write_bytes(png(100, 100)[:60])  # a PNG cut short
    iphone = Path(__file__).parent / "data" / "IMG_0002.heic"  # AirDropped from a phone
    with running_window(qapp) as (loop, window):
        context = window.controller.context

        async def scenario():
            await window.controller.refresh()
            _drop(window, [shot, note, broken, iphone])
            window.add_files([str(photo)])  # what Attach (⌘O) does with the files chosen
            await wait_for(lambda: not context.reading, 30, "the files and images read")

        loop.run_until_complete(scenario())
        session = window.controller.session
        assert [p.name for p in session.pictures] == ["shot.png", "IMG_0002.heic", "photo.JPG"]
        assert [p.mime for p in session.pictures] == ["image/png", "image/jpeg", "image/jpeg"]
        assert [f.name for f in session.files.files] == ["note.txt"], "text stays text"
        banner = window.view.items[-1]
        said = f"{banner.message.text()} {banner.hint.text()}"
        assert said.startswith("1 image was not attached."), said
        assert "broken.png is not an image that can be read" in said, said
        names = [c.picture.name for c in window.pictures.chips]
        assert names == ["shot.png", "IMG_0002.heic", "photo.JPG"]
        screenshot(window, "images-dropped-with-a-heic")
        qtbot.mouseClick(window.pictures.chips[0].remove_button, Qt.MouseButton.LeftButton)
        assert [p.name for p in session.pictures] == ["IMG_0002.heic", "photo.JPG"]
        assert [c.picture.name for c in window.pictures.chips] == ["IMG_0002.heic", "photo.JPG"]


def test_an_image_dragged_from_a_browser_is_attached(qapp, qtbot, fake):
    with running_window(qapp) as (loop, window):
        mime = QMimeData()
        mime.setData("image/png", png(300, 200))
        at, how = QPointF(10, 10), Qt.DropAction.CopyAction
        keys = (Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        enter = QDragEnterEvent(at.toPoint(), how, mime, *keys)
        QApplication.sendEvent(window, enter)
        assert enter.isAccepted()
        QApplication.sendEvent(window, QDropEvent(at, how, mime, *keys))
        loop.run_until_complete(
            wait_for(lambda: window.controller.session.pictures, 30, "the image")
        )
        assert window.controller.session.pictures[0].width == 300


def test_a_text_only_model_says_so_before_sending_and_offers_one_that_sees(
    qapp, qtbot, fake, tiny_model_dir
):
    from desktop_chat import catalog
    from desktop_chat.gui.vision_notice import MARK
    from desktop_chat.models import local_choice

    with running_window(qapp) as (loop, window):
        c = window.controller

        async def scenario():
            await c.refresh()
            await c.choose(local_choice(tiny_model_dir))  # a text-only llama
            put_on_clipboard(png(400, 300))
            paste(qtbot, window.composer.edit)
            await wait_for(lambda: c.session.pictures, 30, "the image")

        loop.run_until_complete(scenario())
        notice = window.vision
        assert notice.isVisible()
        assert notice.label.text().startswith(f"{c.choice.label} does not see images.")
        assert [b.text() for b in notice.buttons] == ["m · fake"], "the remote model is offered"
        actions = {a.text(): a for a in window.picker.menu_.actions() if a.data()}
        marked = [text for text in actions if text.endswith(MARK)]
        assert marked == [a for a in actions if a.startswith("m ")], actions
        screenshot(window, "images-text-only-model")
        qtbot.mouseClick(notice.buttons[0], Qt.MouseButton.LeftButton)
        loop.run_until_complete(wait_for(lambda: c.choice.key == "fake:m", 30, "the choice"))
        assert not notice.isVisible(), "the model chosen sees images"
        assert c.choice is catalog.find(c.models.choices, "fake:m")


def test_an_image_pasted_before_the_app_is_ready_is_kept(qapp, qtbot, fake):
    """The window is shown before its controller exists (it comes first, for a fast start):
    a screenshot pasted in that moment waits for it, and becomes a chip then."""
    import asyncio

    import qasync

    from desktop_chat.gui.controller import ChatController
    from desktop_chat.gui.main_window import MainWindow
    from tests.support.gui import _kill_timers

    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    window = MainWindow()
    window.show()
    controller = None
    try:
        put_on_clipboard(png(640, 480))
        paste(qtbot, window.composer.edit)
        controller = ChatController()
        window.attach(controller)
        loop.run_until_complete(wait_for(lambda: window.pictures.chips, 30, "the chip"))
        assert [(p.width, p.height) for p in controller.session.pictures] == [(640, 480)]
    finally:
        if controller is not None:
            loop.run_until_complete(controller.aclose())
        window.close()
        window.deleteLater()
        loop.run_until_complete(asyncio.sleep(0.05))
        loop.close()
        _kill_timers(loop)
        asyncio.set_event_loop(None)


def test_an_image_the_clipboard_holds_decoded_is_attached_too(qapp, qtbot, fake):
    """Some apps put only pixels on the clipboard (no PNG of them): Qt gives a QImage, whose
    pixels go to Pillow as they are (an odd width: each line is padded)."""
    from PySide6.QtGui import QColor, QImage

    image = QImage(301, 201, QImage.Format.Format_RGB32)
    image.fill(QColor(200, 40, 90))
    with running_window(qapp) as (loop, window):
        mime = QMimeData()
        mime.setImageData(image)
        QApplication.clipboard().setMimeData(mime)
        paste(qtbot, window.composer.edit)
        loop.run_until_complete(wait_for(lambda: window.pictures.chips, 30, "the chip"))
        [picture] = window.controller.session.pictures
        decoded = Image.open(io.BytesIO(picture.data))
        assert decoded.size == (301, 201) and decoded.mode == "RGB"
        assert decoded.getpixel((300, 200)) == (200, 40, 90)


def test_an_image_named_like_markup_is_shown_by_its_name(qapp, qtbot, fake, tmp_path):
    """A file may be named like HTML that loads a file: the chip, its tooltip and the enlarged
    view show the name as typed and load nothing (issue 11's rule)."""
    from desktop_chat.gui.picture_view import PictureDialog

    name = '<img src="secret.png"><b>bold.png'
    (tmp_path / name).write_bytes(png(200, 100))
    with running_window(qapp) as (loop, window):
        window.add_files([str(tmp_path / name)])
        loop.run_until_complete(wait_for(lambda: window.pictures.chips, 30, "the chip"))
        chip = window.pictures.chips[0]
        labels = [label for label in chip.findChildren(type(chip.size_label)) if label.text()]
        [shown] = [label for label in labels if label.text() == name]
        assert shown.textFormat() == Qt.TextFormat.PlainText
        assert "&lt;img" in chip.thumb.toolTip(), "escaped in the tooltip"
        dialog = PictureDialog(chip.picture, window)
        assert dialog.windowTitle() == name
        [caption] = [w for w in dialog.findChildren(type(shown)) if w.text().startswith("<img")]
        assert caption.textFormat() == Qt.TextFormat.PlainText
        dialog.deleteLater()


def test_ten_screenshots_wrap_inside_the_bubble(qapp, qtbot, fake):
    """Rows of thumbnails, none over another, the bubble no wider than its share of the view."""
    from itertools import combinations

    from desktop_chat.conversation import Conversation
    from desktop_chat.images import normalise

    wide = [
        normalise(png(400 + 80 * i, 300, (25 * i, 90, 200)), name=f"{i}.png") for i in range(10)
    ]
    conversation = Conversation()
    conversation.add_user("Which of these looks best?", wide)
    with running_window(qapp) as (loop, window):
        window._show_conversation()
        window.view.show_conversation(conversation)
        bubble = window.view.items[0]
        thumbs = bubble.images.thumbs
        loop.run_until_complete(wait_for(lambda: all(t.loaded for t in thumbs), 10, "thumbs"))
        qapp.processEvents()
        assert bubble.bubble.width() <= bubble.bubble.maximumWidth()
        boxes = [t.geometry().translated(t.parentWidget().pos()) for t in thumbs]
        assert not [(a, b) for a, b in combinations(boxes, 2) if a.intersects(b)]
        assert len({box.top() for box in boxes}) == 4, "three a row: four rows"
        screenshot(window, "images-ten-in-a-bubble")


def test_a_12_megapixel_paste_is_prepared_while_the_window_goes_on(qapp, qtbot, fake):
    """Normalising a 12 MP screenshot takes about a second: done on the GUI thread, the window
    would stop for all of it. A 10 ms timer keeps firing meanwhile (the figures: the bench's
    paste row)."""
    import time

    from PySide6.QtCore import QTimer

    from tests.bench.ui_bench import screenshot_png

    put_on_clipboard(screenshot_png(4000, 3000))
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    with running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            start = time.monotonic()
            paste(qtbot, window.composer.edit)
            pasted = time.monotonic()
            timer.start()
            await wait_for(lambda: window.pictures.chips, 60, "the chip")
            timer.stop()
            return start, pasted, time.monotonic()

        start, pasted, ready = loop.run_until_complete(scenario())
    took = ready - start
    assert took > 0.4, f"prepared in {took:.2f} s: too quick to prove anything"
    assert pasted - start < 0.25 * took, f"the paste held the GUI thread {pasted - start:.2f} s"
    pauses = [b - a for a, b in zip([pasted, *ticks], ticks, strict=False)]
    assert len(ticks) > 10 and max(pauses) < 0.25 * took, (
        f"the GUI thread stopped for {max(pauses):.2f} s of {took:.2f} s"
    )


def test_a_message_sent_while_its_image_is_prepared_waits_for_it(qapp, qtbot, fake):
    from tests.bench.ui_bench import screenshot_png

    fake.script = [Step(pieces=["Seen."])]
    put_on_clipboard(screenshot_png(4000, 3000))
    with running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            paste(qtbot, window.composer.edit)
            type_and_send(qtbot, window, "And this one?")
            said = (window.waiting_label.isVisible(), window.waiting_label.text())
            await wait_for(lambda: reply_done(window) and fake.requests, 60, "the reply")
            return said

        shown, label = loop.run_until_complete(scenario())
        assert shown and label == "Reading the images… your message is sent with them."
        [sent] = sent_images(fake)
        assert sent.size == (1536, 1152)  # a server on this machine's size
        assert not window.waiting_label.isVisible() and window.composer.edit.toPlainText() == ""


@pytest.mark.parametrize(
    ("extra", "an_image"),
    [
        ({"text/uri-list": b"https://example.com/cat.png\r\n"}, True),  # Copy Image in a browser
        ({"text/plain": b"https://example.com/cat.png"}, True),
        ({"text/plain": b"Quarterly figures, as a table"}, False),  # Word: text + its picture
        ({"text/uri-list": b"file:///tmp/cat.png\r\n"}, False),  # a file copied in the Finder
    ],
)
def test_what_a_paste_with_an_image_and_more_is(qapp, extra, an_image):
    from desktop_chat.gui.pictures import carries_image, from_clipboard

    mime = QMimeData()
    mime.setData("image/png", png(20, 10))
    for kind, data in extra.items():
        mime.setData(kind, data)
    assert carries_image(mime) is an_image
    assert (from_clipboard(mime) is not None) is an_image


def test_images_alone_are_sent_with_enter(qapp, qtbot, fake):
    """Nothing typed, a screenshot attached: Enter sends it (the chat is named after it)."""
    fake.script = [Step(pieces=["A screenshot of stripes."])]
    with running_window(qapp) as (loop, window):
        c = window.controller

        async def scenario():
            await c.refresh()
            put_on_clipboard(png(300, 200))
            paste(qtbot, window.composer.edit)
            await wait_for(lambda: c.session.pictures, 30, "the image")
            qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
            await wait_for(lambda: reply_done(window) and fake.requests, 30, "the reply")

        loop.run_until_complete(scenario())
        post = [r for r in fake.requests if r["method"] == "POST"][-1]
        [part] = post["body"]["messages"][-1]["content"]
        assert part["type"] == "image_url"
        assert [(m.role, m.content, len(m.images)) for m in c.conversation.messages] == [
            ("user", "", 1),
            ("assistant", "A screenshot of stripes.", 0),
        ]
        assert window.view.items[0].images.thumbs[0].loaded
        # With nothing attached, Enter on an empty composer still sends nothing.
        qtbot.keyClick(window.composer.edit, Qt.Key.Key_Return)
        assert len(c.conversation.messages) == 2


def test_a_switch_to_a_model_that_reads_less_scales_the_attached_image_again(
    qapp, qtbot, fake, _isolated_home
):
    """Attached for one model, then another chosen that reads smaller images
    (``image_max_side``): the chip says the size that will be sent, the request carries it."""
    from desktop_chat import catalog
    from tests.support.settings import write_config

    write_config(
        _isolated_home,
        f'default_model = "fake:m"\n[providers.fake]\nbase_url = "{fake.base_url}"\n'
        f'models = ["m"]\n[providers.small]\nbase_url = "{fake.base_url}"\nmodels = ["s"]\n'
        "image_max_side = 800\n",
    )
    fake.script = [Step(pieces=["Smaller."])]
    with running_window(qapp) as (loop, window):
        bar, c = window.pictures, window.controller

        async def scenario():
            await c.refresh()
            put_on_clipboard(png(3000, 2000))
            paste(qtbot, window.composer.edit)
            await wait_for(lambda: bar.chips and not bar.pending, 30, "the image's chip")
            # A server on this machine reads 1536 pixels at most (image_sizes.py).
            first = bar.chips[0].size_label.text()
            await c.choose(catalog.find(c.models.choices, "small:s"))
            await wait_for(
                lambda: bar.chips and bar.chips[0].size_label.text().startswith("800×"),
                30,
                "the chip at the new model's size",
            )
            return first

        first = loop.run_until_complete(scenario())
        assert first.startswith("1536×1024 · "), first
        chip = bar.chips[0]
        assert chip.size_label.text().startswith("800×533 · ") and chip.thumb.loaded
        assert [(p.width, p.height) for p in c.session.pictures] == [(800, 533)]
        screenshot(window, "images-chip-after-model-switch")
        type_and_send(qtbot, window, "And now?")
        loop.run_until_complete(wait_for(lambda: reply_done(window), what="the reply"))
        [sent] = sent_images(fake)
        assert sent.size == (800, 533)
