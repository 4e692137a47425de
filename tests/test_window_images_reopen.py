"""A conversation opened again shows the images its messages carried, as thumbnails that open
larger, from the store."""

from __future__ import annotations

import pytest

from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.test_window_images import paste, png, put_on_clipboard

pytestmark = pytest.mark.slow


def test_a_reopened_conversation_shows_its_images(qapp, qtbot, fake):
    fake.script = [Step(pieces=["Seen."])]
    with running_window(qapp) as (loop, window):
        c = window.controller

        async def scenario():
            await c.refresh()
            put_on_clipboard(png(1200, 900))
            paste(qtbot, window.composer.edit)
            await wait_for(lambda: c.session.pictures, 30, "the image")
            type_and_send(qtbot, window, "Look at this")
            await wait_for(lambda: reply_done(window) and c.conversation_id, what="the reply")
            conversation_id = c.conversation_id
            window.new_chat()
            await c.open_conversation(conversation_id)
            bubble = window.view.items[0]
            await wait_for(lambda: bubble.images and bubble.images.thumbs[0].loaded, 10)
            return bubble

        bubble = loop.run_until_complete(scenario())
        [thumb] = bubble.images.thumbs
        assert (thumb.picture.width, thumb.picture.height) == (1200, 900)
        screenshot(window, "images-reopened")
