"""An image through the app's OpenAI provider to a real vision server: mlx-vlm's own
OpenAI-compatible server (``mlx_vlm.server``) serving the tiny vision model. The request
carries the image (the server counts its image tokens and the model answers that it sees a
picture), and the reply streams back as from any server."""

from __future__ import annotations

import re

import pytest

from desktop_chat.conversation import Conversation
from desktop_chat.events import Finished, TextDelta
from desktop_chat.params import GenerationParams
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from tests.support.streams import stream_events
from tests.support.tiny_vision_model import QUESTION, SEEN, UNSEEN, picture
from tests.support.vlm_server import mlx_vlm_server

pytestmark = pytest.mark.slow
GREEDY = GenerationParams(temperature=0.0, max_tokens=32)


@pytest.fixture(scope="module")
def vlm_server(tiny_vision_model_dir):
    with mlx_vlm_server(tiny_vision_model_dir) as server:
        yield server


def ask(server, images=()):
    conversation = Conversation()
    conversation.add_user(QUESTION, images=list(images))
    provider = OpenAICompatProvider(server.base_url, name="mlx-vlm")
    events = stream_events(provider, GREEDY, conversation.to_api(), model=server.model_id)
    return "".join(e.text for e in events if isinstance(e, TextDelta)), events[-1]


def images_received(server) -> list[int]:
    """How many images the server says each request brought, from its log."""
    return [int(n) for n in re.findall(r"Generation queued: .* images=(\d+)", server.log_text())]


def test_an_image_sent_to_mlx_vlm_server_is_seen(vlm_server):
    text, with_image = ask(vlm_server, [picture(size=(112, 112))])
    assert text == SEEN
    assert isinstance(with_image, Finished) and with_image.finish_reason == "stop"
    text, without = ask(vlm_server)
    assert text == UNSEEN
    assert images_received(vlm_server) == [1, 0]
    # The server's own usage: a 112×112 image is 16 image tokens (and its markers).
    assert with_image.usage.prompt_tokens - without.usage.prompt_tokens >= 16
