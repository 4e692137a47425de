"""The Python API with images: ``chat.ask("What is in this?", images=["shot.png"])`` takes paths,
bytes and PIL images, sends each normalised as a data URL, and refuses an image it cannot read
by name, before anything is sent.

What reached the server is read from a scripted server's record (no real peer here takes
images); the real mlx_lm.server shows what a text-only model's refusal looks like to a caller.
"""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from PIL import ExifTags, Image

# What images= can raise, by the public names a caller imports.
from desktop_chat import AsyncLLMChat, ChatManager, ImageRefused, ImagesNotSupported, LLMChat
from tests.support.fake_openai import FakeOpenAI, Step


def png(colour: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def phone_photo() -> bytes:
    """A JPEG as a phone writes one: the camera and where it was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Apple"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (48.0, 51.0, 24.0),
    }
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(out, "JPEG", exif=exif)
    return out.getvalue()


def sent_images(request: dict) -> list[Image.Image]:
    """The images of the request's last user message, decoded from their data URLs."""
    user = [m for m in request["body"]["messages"] if m["role"] == "user"][-1]
    images = []
    for part in user["content"]:
        if part["type"] == "image_url":
            head, data = part["image_url"]["url"].split(",", 1)
            assert head in ("data:image/png;base64", "data:image/jpeg;base64")
            images.append(Image.open(io.BytesIO(base64.b64decode(data))))
    return images


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def chat(fake):
    chat = LLMChat(base_url=fake.base_url, model="vision-7b", system_prompt="")
    yield chat
    chat.close()


def test_ask_sends_a_path_bytes_and_a_pil_image_in_order(fake, chat, tmp_path):
    shot = tmp_path / "shot.png"
    shot.write_bytes(png("red"))
    fake.script = [Step(pieces=["Red, ", "blue and ", "white."])]
    answer = chat.ask(
        "What is in these?",
        images=[shot, png("blue", (20, 10)), Image.new("RGB", (8, 8), "white")],
    )
    assert answer == "Red, blue and white."
    (request,) = fake.requests
    text = request["body"]["messages"][-1]["content"][0]
    assert text == {"type": "text", "text": "What is in these?"}
    red, blue, white = sent_images(request)
    assert red.size == (40, 30) and red.convert("RGB").getpixel((0, 0)) == (255, 0, 0)
    assert blue.size == (20, 10) and blue.convert("RGB").getpixel((0, 0)) == (0, 0, 255)
    assert white.size == (8, 8) and white.convert("RGB").getpixel((0, 0)) == (255, 255, 255)
    assert chat.history == [], "ask keeps no history"


def test_one_path_alone_is_one_image_and_a_photo_goes_without_where_it_was_taken(
    fake, chat, tmp_path
):
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(phone_photo())
    assert Image.open(photo).getexif()[ExifTags.Base.Make] == "Apple"  # it had them
    chat.ask("Where is this?", images=str(photo))
    (sent,) = sent_images(fake.requests[0])
    assert sent.format == "JPEG" and sent.size == (64, 48)
    assert not sent.getexif() and "exif" not in sent.info


def test_a_bad_image_is_refused_by_name_and_nothing_is_sent(fake, chat, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(png("red")[:60])  # a PNG cut short
    good = tmp_path / "good.png"
    good.write_bytes(png("red"))
    with pytest.raises(ImageRefused) as info:
        chat.chat("What is in this?", images=[good, broken], stream=False)
    assert "broken.png" in info.value.message and info.value.hint
    with pytest.raises(ImageRefused) as info:
        list(chat.ask("And this?", stream=True, images=[tmp_path / "missing.png"]))
    assert "missing.png" in info.value.message and "exists" in info.value.hint
    with pytest.raises(ImageRefused) as info:
        chat.ask("And these bytes?", images=[png("blue"), b"not an image"])
    assert info.value.message.startswith("Image 2 ")
    assert fake.requests == [] and chat.history == []


def test_ask_response_with_a_bad_image_is_a_failed_response_naming_it(fake, chat, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    response = chat.ask_response("What is in this?", images=[broken])
    assert not response.success and "broken.png" in response.error
    assert response.metadata["error_type"] == "ImageRefused"
    assert fake.requests == []


def test_chat_keeps_its_images_in_the_history_and_sends_them_again(fake, chat):
    fake.script = [Step(pieces=["A red square."]), Step(pieces=["Red."])]
    assert chat.chat("What is in this?", images=png("red"), stream=False) == "A red square."
    assert chat.chat("Which colour was it?", stream=False) == "Red."
    first, again = chat.history[0], fake.requests[1]["body"]["messages"][0]
    assert first["content"][1]["type"] == "image_url"
    assert again == first  # the earlier turn's image went with the history
    assert fake.requests[1]["body"]["messages"][-1] == {
        "role": "user",
        "content": "Which colour was it?",
    }


def test_chat_response_and_a_manager_s_chat_take_images(fake):
    fake.script = [Step(pieces=["Blue."])]
    manager = ChatManager(base_url=fake.base_url, model="vision-7b")
    try:
        response = manager.get_chat("a").chat_response("Colour?", images=[png("blue")])
    finally:
        manager.close()
    assert response.success and response.content == "Blue."
    (blue,) = sent_images(fake.requests[0])
    assert blue.convert("RGB").getpixel((0, 0)) == (0, 0, 255)


def test_the_async_api_streams_with_images(fake):
    fake.script = [Step(pieces=["A ", "red ", "square."])]

    async def go():
        chat = AsyncLLMChat(base_url=fake.base_url, model="vision-7b")
        try:
            return [p async for p in chat.ask("What?", stream=True, images=[png("red")])]
        finally:
            await chat.aclose()

    assert "".join(asyncio.run(go())) == "A red square."
    (red,) = sent_images(fake.requests[0])
    assert red.size == (40, 30)


@pytest.mark.slow
def test_a_text_model_s_refusal_names_it_and_the_question_stays_in_the_chat(mlx_server):
    chat = LLMChat(base_url=mlx_server.base_url, model=mlx_server.model_id, system_prompt="")
    try:
        with pytest.raises(ImagesNotSupported) as info:
            chat.chat("What is in this?", images=[png("red")], stream=False)
        response = chat.ask_response("And now?", images=[png("blue")])
    finally:
        chat.close()
    assert f"'{mlx_server.model_id}'" in str(info.value) and "vision model" in str(info.value)
    assert not response.success and "does not take images" in response.error
    assert response.metadata["error_type"] == "ImagesNotSupported"
    # Nothing attached was lost: the question and its image are in the chat's history.
    (asked,) = chat.history
    assert asked["content"][0] == {"type": "text", "text": "What is in this?"}
    assert asked["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


@pytest.mark.slow
def test_a_stored_chat_keeps_the_refused_question_and_its_image(mlx_server, _isolated_home):
    from desktop_chat.store import Store

    def manager():
        return ChatManager(
            base_url=mlx_server.base_url, model=mlx_server.model_id, store=True, system_prompt=""
        )

    first = manager()
    try:
        response = first.get_chat("alice").chat_response("What is in this?", images=png("red"))
    finally:
        first.close()
    assert response.metadata["error_type"] == "ImagesNotSupported"
    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    try:
        (asked,) = store.branch(store.find_external("api:alice"))
    finally:
        store.close()
    assert asked.content == "What is in this?" and [p.width for p in asked.images] == [40]
    again = manager()  # a restart: the chat comes back with its image
    try:
        (kept,) = again.get_chat("alice").history
    finally:
        again.close()
    assert kept["content"][1]["image_url"]["url"] == asked.images[0].data_url()


def test_images_are_capped_at_the_size_the_chats_server_reads(fake, chat):
    """A server on this machine (the scripted one, on loopback) gets what local vision models
    read, 1536 pixels at most (image_sizes.py); the shape is kept."""
    fake.script = [Step(pieces=["Wide."])]
    assert chat.ask("What is this?", images=[png("navy", (3000, 2000))]) == "Wide."
    (request,) = fake.requests
    [sent] = sent_images(request)
    assert sent.size == (1536, 1024)


def test_image_max_side_in_the_settings_caps_a_model_named_through_them(fake, _isolated_home):
    """A model named as in ``llmchat`` (``provider:model``) is found through the user's
    settings: its provider's ``image_max_side`` wins over ``[app]``'s, which wins over the
    host's; the image is scaled there, and the turn sends it at that size."""
    from tests.support.settings import write_config

    write_config(
        _isolated_home,
        "[app]\nimage_max_side = 900\n"
        f'[providers.box]\nbase_url = "{fake.base_url}"\nimage_max_side = 500\n'
        f'[providers.other]\nbase_url = "{fake.base_url}"\n',
    )
    fake.script = [Step(pieces=["Box."]), Step(pieces=["Other."])]
    for model, answer in (("box:vision-7b", "Box."), ("other:vision-7b", "Other.")):
        chat = LLMChat(model=model, system_prompt="")
        try:
            assert chat.ask("What is this?", images=[png("navy", (3000, 2000))]) == answer
        finally:
            chat.close()
    box, other = (sent_images(request)[0].size for request in fake.requests)
    assert (box, other) == ((500, 333), (900, 600))
