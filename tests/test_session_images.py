"""Images through ``ChatSession``: attached ones join the next message and leave only then, an
edit keeps them, and the request the model gets carries them as content parts.

The scripted server records the request: no real peer here takes images (mlx_lm.server refuses
any content part but text)."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.images import normalise
from desktop_chat.models import remote_choice
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from desktop_chat.session import ChatSession
from tests.support.fake_openai import FakeOpenAI, Step


def _png(colour: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def _choice(base_url: str):
    return remote_choice(ProviderSettings("peer", base_url), "m")


def _parts(request: dict) -> list[dict]:
    return [m for m in request["body"]["messages"] if m["role"] == "user"]


def test_attached_pictures_reach_the_model_and_leave_once_sent():
    red, blue = normalise(_png("red"), name="red.png"), normalise(_png("blue"), name="blue.png")
    session = ChatSession(settings=Settings())
    with FakeOpenAI() as server:
        server.script = [Step(pieces=["A red square."]), Step(pieces=["Blue."])]
        session.set_model(_choice(server.base_url))
        provider = OpenAICompatProvider(server.base_url, name="peer")
        session.pictures.append(red)

        async def go():
            turn = session.send("What is this?")
            assert session.pictures == [], "sent: they leave the next message"
            [e async for e in turn.events(provider)]
            [e async for e in session.send("And this?", images=[blue]).events(provider)]
            await provider.aclose()

        asyncio.run(go())
    first, second = server.requests[0], server.requests[1]
    (asked,) = _parts(first)
    assert asked["content"][0] == {"type": "text", "text": "What is this?"}
    assert asked["content"][1]["image_url"]["url"] == red.data_url()
    # The next turn sends the whole history: the first image again, the second with its text.
    earlier, later = _parts(second)
    assert earlier["content"][1]["image_url"]["url"] == red.data_url()
    assert [p["type"] for p in later["content"]] == ["text", "image_url"]
    assert later["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert [m.images for m in session.conversation.messages if m.role == "user"] == [[red], [blue]]


def test_without_a_model_the_attached_pictures_stay_attached():
    session = ChatSession(settings=Settings())
    picture = normalise(_png("green"), name="green.png")
    session.pictures.append(picture)
    with pytest.raises(ValueError, match="Choose a model"):
        session.send("What is this?")
    assert session.pictures == [picture]
    assert session.conversation.messages == []


def test_an_edit_keeps_the_images_of_the_message_it_replaces():
    picture = normalise(_png("red"), name="red.png")
    session = ChatSession(settings=Settings())
    with FakeOpenAI() as server:
        server.script = [Step(pieces=["Red."]), Step(pieces=["Still red."])]
        session.set_model(_choice(server.base_url))
        provider = OpenAICompatProvider(server.base_url, name="peer")

        async def go():
            [e async for e in session.send("Colour?", images=[picture]).events(provider)]
            turn = session.send("Which colour is it?", replace_from=0)
            [e async for e in turn.events(provider)]
            await provider.aclose()

        asyncio.run(go())
    (edited,) = _parts(server.requests[1])
    assert edited["content"][0]["text"] == "Which colour is it?"
    assert edited["content"][1]["image_url"]["url"] == picture.data_url()
    assert session.conversation.messages[0].images == [picture]
