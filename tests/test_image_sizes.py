"""How large an image is sent, by who reads it: each provider's documented size by its host
(image_sizes.py), ``[providers.NAME] image_max_side`` over ``[app] image_max_side`` over that,
a bad value said with its line (and the default used), and an image attached for one model
scaled again, once, before it goes to a model that reads less.

Real images (Pillow), real settings files, the scripted OpenAI server on loopback (what was
sent is read back from its record: decoded with Pillow, measured)."""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from PIL import Image

from desktop_chat import image_sizes
from desktop_chat.config import ProviderSettings, Settings, load_file
from desktop_chat.image_sizes import default_side, side_for
from desktop_chat.images import fit, normalise
from desktop_chat.models import local_choice, remote_choice
from tests.support.fake_openai import FakeOpenAI, Step


def png(size: tuple[int, int]) -> bytes:
    image = Image.new("RGB", size, (30, 120, 200))
    image.paste((250, 250, 250), (0, 0, size[0], size[1] // 10))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def sent_sizes(request: dict) -> list[tuple[int, int]]:
    """The sizes of every image a request carried, decoded from their data URLs."""
    sizes = []
    for message in request["body"]["messages"]:
        if isinstance(message["content"], list):
            for part in message["content"]:
                if part["type"] == "image_url":
                    data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                    sizes.append(Image.open(io.BytesIO(data)).size)
    return sizes


@pytest.mark.parametrize(
    ("base_url", "side"),
    [
        ("https://api.openai.com/v1", 2048),
        ("https://my-team.openai.azure.com/openai/v1/", 2048),
        ("https://my-team.cognitiveservices.azure.com/openai/v1/", 2048),
        ("https://api.anthropic.com/v1/", 1568),
        ("https://generativelanguage.googleapis.com/v1beta/openai/", 3072),
        ("http://localhost:11434/v1", 1536),  # Ollama
        ("http://127.0.0.1:1234/v1", 1536),  # LM Studio
        ("http://[::1]:8080/v1", 1536),  # mlx_lm.server, llama.cpp
        (None, 1536),  # the app's own MLX engine
        ("https://openrouter.ai/api/v1", 2048),
        ("https://api.openai.com.example.net/v1", 2048),  # not OpenAI's host
        ("http://192.168.1.20:8000/v1", 2048),  # a box on the LAN: not known to resize
    ],
)
def test_each_provider_gets_the_size_it_documents(base_url, side):
    assert default_side(base_url) == side


def test_a_provider_setting_wins_over_the_app_one_which_wins_over_the_host(tmp_path):
    openai = ProviderSettings("openai", "https://api.openai.com/v1")
    mine = ProviderSettings("mine", "https://api.openai.com/v1", image_max_side=1000)
    assert side_for(remote_choice(openai, "gpt-4o"), Settings()) == 2048
    assert side_for(local_choice(tmp_path), Settings()) == 1536
    assert side_for(None, Settings()) == image_sizes.OTHER, "no model chosen yet"
    everyone = Settings(image_max_side=700)
    assert side_for(remote_choice(openai, "gpt-4o"), everyone) == 700
    assert side_for(local_choice(tmp_path), everyone) == 700
    assert side_for(remote_choice(mine, "gpt-4o"), everyone) == 1000


def test_image_max_side_is_read_for_a_provider_and_for_the_app(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        "[app]\nimage_max_side = 1024\n"
        '[providers.box]\nbase_url = "http://localhost:9000/v1"\nimage_max_side = 4096\n'
        '[providers.plain]\nbase_url = "https://api.openai.com/v1"\n'
    )
    loaded = load_file(path)
    assert loaded.errors == []
    settings = loaded.settings
    assert settings.image_max_side == 1024
    assert settings.providers["box"].image_max_side == 4096
    assert settings.providers["plain"].image_max_side is None
    assert side_for(remote_choice(settings.providers["plain"], "m"), settings) == 1024


@pytest.mark.parametrize("bad", ["100", "9000", '"big"', "true", "1536.5"])
def test_a_bad_image_max_side_is_said_with_its_line_and_the_default_used(tmp_path, bad):
    path = tmp_path / "config.toml"
    path.write_text(
        f"[app]\ntool_rounds = 4\nimage_max_side = {bad}\n"
        f'[providers.box]\nbase_url = "https://api.anthropic.com/v1/"\nimage_max_side = {bad}\n'
    )
    loaded = load_file(path)
    said = {error.key: error for error in loaded.errors}
    assert {key: error.line for key, error in said.items()} == {
        "app.image_max_side": 3,
        "providers.box.image_max_side": 6,
    }
    app = said["app.image_max_side"]
    assert "must be a number of pixels from 256 to 8192, like 2048" in str(app)
    assert str(path) in str(app)
    settings = loaded.settings
    assert settings.image_max_side is None and settings.tool_rounds == 4, "the rest is used"
    box_choice = remote_choice(settings.providers["box"], "claude")
    assert side_for(box_choice, settings) == 1568, "the provider's default is used"


def test_fit_scales_a_normalised_picture_once_and_leaves_one_that_fits():
    picture = normalise(png((3000, 2000)), max_side=2048)
    assert (picture.width, picture.height) == (2048, 1365)
    assert fit(picture, 2048) is picture and fit(picture, 4000) is picture, "nothing redone"
    small = fit(picture, 1000)
    assert (small.width, small.height) == (1000, 667) and small.mime == "image/png"
    assert Image.open(io.BytesIO(small.data)).size == (1000, 667)
    assert small.name == picture.name and small.digest != picture.digest
    assert fit(picture, 1000) is small, "scaled once, however many turns send it"


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def _two_providers(tmp_path, fake) -> Settings:
    """Two providers on the same scripted server: "big" reads 2048 pixels, "small" 800."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'[providers.big]\nbase_url = "{fake.base_url}"\nimage_max_side = 2048\n'
        f'[providers.small]\nbase_url = "{fake.base_url}"\nimage_max_side = 800\n'
    )
    loaded = load_file(path)
    assert loaded.errors == []
    return loaded.settings


async def _answer(session, provider, text: str) -> str:
    turn = session.send(text)
    async for _ in turn.events(provider):
        pass
    return turn.text


def test_an_image_attached_for_a_model_is_scaled_again_for_one_that_reads_less(tmp_path, fake):
    from desktop_chat.models import open_provider
    from desktop_chat.session import ChatSession

    settings = _two_providers(tmp_path, fake)
    big = remote_choice(settings.providers["big"], "m")
    small = remote_choice(settings.providers["small"], "m")
    session = ChatSession(settings=settings)
    session.set_model(big)
    # Attached while "big" is chosen, at its size (as the window and llmchat attach).
    session.pictures.append(normalise(png((3000, 2000)), max_side=session.image_max_side()))
    assert [(p.width, p.height) for p in session.pictures] == [(2048, 1365)]
    session.set_model(small)  # then the model changes, before sending
    fake.script = [Step(pieces=["Blue."]), Step(pieces=["Still blue."]), Step(pieces=["Yes."])]

    async def scenario() -> list[list[tuple[int, int]]]:
        sizes = []
        provider = open_provider(small, settings).provider
        assert await _answer(session, provider, "What is this?") == "Blue."
        sizes.append(sent_sizes(fake.requests[-1]))
        # The next turn sends the history again: the same smaller image.
        assert await _answer(session, provider, "Sure?") == "Still blue."
        sizes.append(sent_sizes(fake.requests[-1]))
        # Back to the model that reads more: the image as it was attached, nothing redone.
        session.set_model(big)
        provider = open_provider(big, settings).provider
        assert await _answer(session, provider, "And now?") == "Yes."
        sizes.append(sent_sizes(fake.requests[-1]))
        return sizes

    first, again, back = asyncio.run(scenario())
    assert first == [(800, 533)], "scaled to the model's size before it was sent"
    assert again == [(800, 533)]
    assert back == [(2048, 1365)]
    kept = session.conversation.messages[0].images[0]
    assert (kept.width, kept.height) == (2048, 1365), "the conversation keeps what was given"
