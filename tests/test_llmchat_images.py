"""``/image PATH`` in the real ``llmchat`` process: the image goes with the next prompt, said
with its size and token estimate; a bad path or a corrupt file is one sentence and loses
nothing; a text-only model's refusal keeps the image for the next prompt.

A scripted server records what reached it (no real peer here takes images); the real
mlx_lm.server, serving the tiny text model, refuses them as such servers do.
"""

from __future__ import annotations

import base64
import io
import re

import pexpect
import pytest
from PIL import Image

from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.llmchat import PROMPT, spawn
from tests.support.settings import write_config

pytestmark = pytest.mark.slow


def finish(child):
    child.sendline("bye")
    child.expect("Goodbye!")
    child.expect(pexpect.EOF)
    assert child.wait() == 0


def screenshot(path, size=(1280, 800), colour=(30, 120, 200)):
    Image.new("RGB", size, colour).save(path, "PNG")
    return path


def images_sent(request) -> list[Image.Image]:
    user = request["body"]["messages"][-1]
    assert user["role"] == "user" and isinstance(user["content"], list), user
    found = []
    for part in user["content"]:
        if part["type"] == "image_url":
            url = part["image_url"]["url"]
            assert url.startswith("data:image/png;base64,")
            found.append(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    return found


@pytest.fixture
def fake(_isolated_home):
    with FakeOpenAI() as server:
        write_config(_isolated_home, f'[providers.fake]\nbase_url = "{server.base_url}"\n')
        yield server


def test_an_attached_image_goes_with_the_next_prompt_only(fake, _isolated_home, tmp_path):
    fake.script = [Step(pieces=["A blue ", "screen."]), Step(pieces=["Blue."])]
    shot = screenshot(tmp_path / "shot.png")
    child = spawn(["fake:vision-7b"], _isolated_home)
    child.expect_exact(PROMPT)
    child.sendline("/help")
    child.expect_exact("/image <path>")
    child.expect_exact(PROMPT)
    child.sendline(f"/image {shot}")
    # Its name, size and what it costs: OpenAI's rule gives 1,105 tokens at 1280×800.
    child.expect(r"shot\.png \(1280×800, \d+ KB, about 1,105 tokens\) will go with your next")
    child.expect_exact(PROMPT)
    child.sendline("What is in this?")
    child.expect("A blue screen.")
    child.expect_exact(PROMPT)
    child.sendline("/image")
    child.expect("No image attached.")  # it went with that prompt, and left
    child.expect_exact(PROMPT)
    child.sendline("Which colour?")
    child.expect("Blue.")
    child.expect_exact(PROMPT)
    finish(child)
    first, second = fake.requests[0], fake.requests[1]
    assert first["body"]["messages"][-1]["content"][0] == {
        "type": "text",
        "text": "What is in this?",
    }
    (sent,) = images_sent(first)
    assert sent.size == (1280, 800) and sent.getpixel((0, 0))[:3] == (30, 120, 200)
    assert second["body"]["messages"][-1] == {"role": "user", "content": "Which colour?"}
    assert second["body"]["messages"][0] == first["body"]["messages"][-1]  # in the history


def test_a_bad_path_or_a_corrupt_file_is_one_sentence_and_loses_nothing(
    fake, _isolated_home, tmp_path
):
    fake.script = [Step(pieces=["Two images."])]
    good = screenshot(tmp_path / "good.png", (200, 100))
    dropped = screenshot(tmp_path / "Screen Shot 2026.png", (300, 150))
    broken = tmp_path / "broken.png"
    broken.write_bytes(good.read_bytes()[:80])  # a PNG cut short
    child = spawn(["fake:vision-7b"], _isolated_home)
    child.expect_exact(PROMPT)
    child.sendline(f"/image {good}")
    child.expect("good.png [^\n]* will go with your next prompt.")
    child.sendline(f"/image {tmp_path / 'missing.png'}")
    child.expect(r"missing\.png could not be read \(No such file or directory\)\. Check that")
    child.sendline(f"/image {broken}")
    child.expect(r"broken\.png is not an image that can be read\. Attach a PNG, JPEG")
    # As a terminal pastes a file dropped on it: spaces escaped.
    child.sendline("/image " + str(dropped).replace(" ", "\\ "))
    child.expect(r"Screen Shot 2026\.png \(300×150, [^\n]* will go with your next prompt.")
    child.expect_exact(PROMPT)
    child.sendline("/image")
    child.expect(r"good\.png \(200×100[^\n]* goes with your next prompt.")
    child.expect(r"Screen Shot 2026\.png \(300×150[^\n]* goes with your next prompt.")
    child.expect_exact(PROMPT)
    child.sendline("What are these?")
    child.expect("Two images.")
    child.expect_exact(PROMPT)
    finish(child)
    assert "Traceback" not in child.logfile_read.getvalue()
    assert [i.size for i in images_sent(fake.requests[-1])] == [(200, 100), (300, 150)]


def test_a_text_model_refusing_the_image_keeps_it_for_the_next_prompt(
    mlx_server, _isolated_home, tmp_path
):
    write_config(
        _isolated_home,
        f'[providers.tiny]\nbase_url = "{mlx_server.base_url}"\n'
        f'models = ["{mlx_server.model_id}"]\n',
    )
    shot = screenshot(tmp_path / "shot.png")
    child = spawn([f"tiny:{mlx_server.model_id}", "--temperature", "0"], _isolated_home)
    child.expect_exact(PROMPT)
    child.sendline(f"/image {shot}")
    child.expect("will go with your next prompt.")
    child.expect_exact(PROMPT)
    child.sendline("What is in this?")
    child.expect(re.escape(f"[the reply failed: The model '{mlx_server.model_id}' on tiny"))
    child.expect("does not take images")
    child.expect("Choose a vision model")
    child.expect(r"\[shot\.png stays attached to your next prompt: /model <name> to choose")
    child.expect_exact(PROMPT)
    child.sendline("/image")
    child.expect(r"shot\.png \(1280×800[^\n]* goes with your next prompt.")
    child.expect_exact(PROMPT)
    child.sendline("/image clear")
    child.expect("Dropped 1 attached image")
    child.expect_exact(PROMPT)
    # The refused prompt left the conversation: the next one is answered.
    child.sendline("What is the capital of France?")
    child.expect("The capital of France is Paris.")
    child.expect_exact(PROMPT)
    finish(child)
    assert "Traceback" not in child.logfile_read.getvalue()
    from desktop_chat.store import Store

    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    try:
        shown = [m.content for m in store.branch(store.latest().id)]
    finally:
        store.close()
    assert shown == ["What is the capital of France?", "The capital of France is Paris."]


def test_a_local_text_model_says_so_and_the_image_stays_attached(
    tiny_model_dir, _isolated_home, tmp_path
):
    shot = screenshot(tmp_path / "shot.png", (64, 64))
    child = spawn([str(tiny_model_dir), "--temperature", "0", "--max-tokens", "32"], _isolated_home)
    child.expect("Model loaded successfully!")
    child.expect_exact(PROMPT)
    child.sendline(f"/image {shot}")
    child.expect("will go with your next prompt.")
    child.expect_exact(PROMPT)
    child.sendline("What is in this?")
    child.expect(r"\[the reply failed: [^\n]*cannot see images")
    child.expect(r"\[shot\.png stays attached to your next prompt")
    child.expect_exact(PROMPT)
    child.sendline("/image")
    child.expect(r"shot\.png \(64×64[^\n]* goes with your next prompt.")
    child.expect_exact(PROMPT)
    finish(child)
    assert "Traceback" not in child.logfile_read.getvalue()


def test_image_max_side_of_the_provider_caps_what_image_attaches(_isolated_home, tmp_path):
    """``[providers.NAME] image_max_side`` wins over ``[app]``'s, which wins over the host's."""
    shot = screenshot(tmp_path / "shot.png")
    with FakeOpenAI() as server:
        write_config(
            _isolated_home,
            "[app]\nimage_max_side = 1000\n"
            f'[providers.fake]\nbase_url = "{server.base_url}"\nimage_max_side = 640\n'
            f'[providers.other]\nbase_url = "{server.base_url}"\n',
        )
        server.script = [Step(pieces=["Small."])]
        child = spawn(["fake:vision-7b"], _isolated_home)
        child.expect_exact(PROMPT)
        child.sendline(f"/image {shot}")
        child.expect(r"shot\.png \(640×400, ")
        child.expect_exact(PROMPT)
        child.sendline("What is in this?")
        child.expect("Small.")
        child.expect_exact(PROMPT)
        finish(child)
        (sent,) = images_sent(server.requests[0])
        assert sent.size == (640, 400)
        child = spawn(["other:vision-7b"], _isolated_home)
        child.expect_exact(PROMPT)
        child.sendline(f"/image {shot}")
        child.expect(r"shot\.png \(1000×625, ")  # [app]'s, for a provider without its own
        child.expect_exact(PROMPT)
        finish(child)
