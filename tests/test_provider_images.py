"""Images to an OpenAI-compatible server: sent as content parts with a data URL, and a model
that takes none said to be one, by name, with what to do, whatever words its server uses.

The real mlx_lm.server, serving the tiny text model, refuses image parts with a 404 ("Only
'text' content type is supported."); the other servers' wordings, which no real peer here
produces, come from a scripted server, as their issue trackers quote them.
"""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from PIL import Image

from desktop_chat.conversation import Conversation
from desktop_chat.errors import BadRequest, ImagesNotSupported, ModelNotFound, ServerError
from desktop_chat.events import Finished, TextDelta
from desktop_chat.images import normalise
from desktop_chat.params import GenerationParams
from desktop_chat.providers import request_body
from desktop_chat.providers.image_parts import NOT_SHOWN
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.streams import stream_events

GREEDY = GenerationParams(temperature=0.0, max_tokens=32)


def red_square(side: int = 16):
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (200, 30, 30)).save(buffer, "PNG")
    return normalise(buffer.getvalue(), name="square.png")


def asking_about(picture, text: str = "What is in this?") -> list[dict]:
    conversation = Conversation()
    conversation.add_user(text, images=[picture])
    return conversation.to_api()


def image_then_text(picture) -> list[dict]:
    """An earlier turn with an image, answered; then a question without one."""
    conversation = Conversation()
    conversation.add_user("What is in this?", images=[picture])
    conversation.add_assistant("A red square.")
    conversation.add_user("What is the capital of France?")
    return conversation.to_api()


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def scripted(fake, **kw) -> OpenAICompatProvider:
    return OpenAICompatProvider(fake.base_url, name="acme", backoff_s=0.01, **kw)


# --- what is sent -------------------------------------------------------------------------


def test_the_request_carries_the_text_then_the_image_as_a_data_url(fake):
    picture = red_square()
    events = stream_events(scripted(fake), messages=asking_about(picture))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "ok"
    (request,) = fake.requests
    (user,) = request["body"]["messages"]
    assert user["role"] == "user"
    assert user["content"] == [
        {"type": "text", "text": "What is in this?"},
        {"type": "image_url", "image_url": {"url": picture.data_url()}},
    ]
    url = user["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and len(url) > 100


def test_a_big_image_is_encoded_off_the_loop_to_the_sdks_bytes():
    # A photo-sized image: its data URL is one long string, escaped in slices.
    noise = Image.effect_noise((1200, 1200), 80).convert("RGB")
    picture = normalise(noise)
    body = {"model": "m", "messages": asking_about(picture), "stream": True}
    assert len(picture.data_url()) > 10 * request_body.SLICE
    sdk = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    assert request_body.encode(body) == sdk


def test_usage_estimated_for_an_image_counts_its_text_not_its_data_url(fake):
    picture = red_square(400)
    events = stream_events(scripted(fake), messages=asking_about(picture, "x" * 400))
    usage = events[-1].usage
    assert usage.estimated and usage.prompt_tokens == 100


# --- the real mlx_lm.server with a text-only model -------------------------------------------


@pytest.mark.slow
def test_the_real_mlx_server_refusing_an_image_names_the_model_and_a_way_out(mlx_server):
    provider = OpenAICompatProvider(mlx_server.base_url, name="mlx")
    with pytest.raises(ImagesNotSupported) as info:
        stream_events(provider, GREEDY, asking_about(red_square()), model=mlx_server.model_id)
    err = info.value
    assert not isinstance(err, ModelNotFound)  # its 404 is not about the model's name
    assert f"'{mlx_server.model_id}'" in err.message and "does not take images" in err.message
    assert "Only 'text' content type is supported" in err.message  # the server's own words
    assert "vision model" in err.hint


@pytest.mark.slow
def test_an_image_of_an_earlier_turn_does_not_stop_a_text_model_answering(mlx_server):
    # The model was changed after a vision model's turn: the question is still answered.
    provider = OpenAICompatProvider(mlx_server.base_url, name="mlx")
    events = stream_events(provider, GREEDY, image_then_text(red_square()), mlx_server.model_id)
    assert isinstance(events[-1], Finished) and events[-1].finish_reason in ("stop", "length")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).strip()


# --- other servers' words, scripted ---------------------------------------------------------

REFUSALS = {
    "openai": (400, "Invalid content type. image_url is only supported by certain models."),
    "ollama": (400, "this model does not support image input"),
    "ollama-old": (
        400,
        "json: cannot unmarshal array into Go struct field Message.messages.content of type string",
    ),
    "lm-studio": (400, "Model does not support images. Please use a model that does."),
    "vllm": (400, "facebook/opt-125m is not a multimodal model None"),
    "llama.cpp": (500, "image input is not supported by this server"),
    "llamafile": (
        500,
        "The server was not compiled for multimodal or the model projector can't be loaded.",
    ),
    "deepseek": (
        400,
        "Failed to deserialize the JSON body into the target type: messages[0]: unknown "
        "variant `image_url`, expected `text` at line 1 column 679",
    ),
}


#: Servers that answer ``{"error": "…"}``, a string, not OpenAI's ``{"error": {"message"}}``.
PLAIN_ERROR = {"lm-studio"}


@pytest.mark.parametrize("server", sorted(REFUSALS))
def test_each_servers_refusal_of_images_is_said_once_by_model_name(fake, server):
    status, words = REFUSALS[server]
    plain = {"error": words} if server in PLAIN_ERROR else None
    fake.script = [Step(status, error=words, body=plain)]
    with pytest.raises(ImagesNotSupported) as info:
        stream_events(scripted(fake), messages=asking_about(red_square()), model="text-7b")
    assert len(fake.requests) == 1  # not retried, not even llama.cpp's 500
    assert "'text-7b' on acme does not take images" in info.value.message
    assert words.rstrip(".") in info.value.message  # the server's own words
    assert "vision model" in info.value.hint


def test_a_refusal_sent_as_an_error_event_in_the_stream_is_one_too(fake):
    fake.script = [Step(ending="error", error="image input is not supported by this server")]
    with pytest.raises(ImagesNotSupported):
        stream_events(scripted(fake), messages=asking_about(red_square()), model="text-7b")
    assert len(fake.requests) == 1  # an error event is retried as a server error; not this


def test_the_same_words_without_an_image_sent_are_not_taken_for_one(fake):
    fake.script = [Step(400, error="this model does not support image input")]
    with pytest.raises(BadRequest) as info:
        stream_events(scripted(fake), model="text-7b")
    assert not isinstance(info.value, ImagesNotSupported)


def test_another_refusal_of_a_request_with_an_image_stays_what_it_is(fake):
    fake.script = [Step(503, error="overloaded"), Step(400, error="Image is too large.")]
    with pytest.raises(BadRequest) as info:
        stream_events(scripted(fake, max_attempts=2), messages=asking_about(red_square()))
    assert not isinstance(info.value, ImagesNotSupported)
    assert "Image is too large." in info.value.message and len(fake.requests) == 2
    assert not isinstance(info.value, ServerError)


def test_earlier_images_are_left_out_for_a_model_that_refused_them_and_said_so(fake):
    picture = red_square()
    words = "Invalid content type. image_url is only supported by certain models."
    fake.script = [Step(400, error=words), Step(pieces=["Paris."]), Step(pieces=["Rome."])]
    provider = scripted(fake)

    async def two_questions():
        try:
            first = [e async for e in provider.stream(image_then_text(picture), "m", GREEDY)]
            again = [
                *image_then_text(picture),
                {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "And of Italy?"},
            ]
            second = [e async for e in provider.stream(again, "m", GREEDY)]
            return first, second
        finally:
            await provider.aclose()

    first, second = asyncio.run(two_questions())
    assert "".join(e.text for e in first if isinstance(e, TextDelta)) == "Paris."
    assert "".join(e.text for e in second if isinstance(e, TextDelta)) == "Rome."
    refused, answered, learned = (r["body"]["messages"] for r in fake.requests)
    assert isinstance(refused[0]["content"], list)  # sent as it was, the first time
    # Asked again, and from then on at once: a note where the image was, nothing else changed.
    for sent in (answered, learned):
        assert sent[0] == {"role": "user", "content": f"What is in this?\n\n{NOT_SHOWN}"}
        assert sent[1:3] == refused[1:3]
    assert picture.data_url() not in json.dumps(learned)
    assert len(fake.requests) == 3


def test_a_new_image_to_a_model_that_refused_one_is_sent_and_refused_again(fake):
    # Never dropped unasked: the user's newest images go, and the refusal says why.
    words = "this model does not support image input"
    fake.script = [Step(400, error=words), Step(pieces=["ok"]), Step(400, error=words)]
    provider = scripted(fake)
    stream_events(provider, messages=image_then_text(red_square()))
    with pytest.raises(ImagesNotSupported):
        stream_events(provider, messages=asking_about(red_square()))
    assert isinstance(fake.requests[-1]["body"]["messages"][0]["content"], list)
