"""A screenshot pasted through the real clipboard: another app on the X display owns an image
on the CLIPBOARD, the user presses Ctrl+V in the real app's composer (xdotool), a chip with
its thumbnail appears (seen on a grab of the screen), and the message sent carries the image."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time

import pytest
from PIL import Image

from tests.support.fake_openai import Step, as_provider
from tests.support.gui import ARTIFACTS
from tests.support.xvfb import desktop_chat_on_x

pytestmark = pytest.mark.slow

MAGENTA = (255, 0, 255)


def _magenta_pixels(path) -> int:
    image = Image.open(path).convert("RGB")
    return sum(1 for pixel in image.get_flattened_data() if pixel == MAGENTA)


def _until(condition, what: str, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_screenshot_pasted_with_ctrl_v_goes_with_the_message(_isolated_home, tmp_path):
    shot = Image.new("RGB", (1600, 1000), MAGENTA)  # a colour nothing else on screen has
    shot.paste((255, 255, 255), (0, 0, 1600, 80))  # a title bar
    shot.save(tmp_path / "screenshot.png")
    with as_provider(_isolated_home) as fake:
        fake.script = [Step(pieces=["A magenta ", "screen."])]
        with desktop_chat_on_x() as app:
            owner = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.support.x_clipboard",
                    str(tmp_path / "screenshot.png"),
                ],
                env=app.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert owner.stdout.readline().strip() == "ready"
                before = tmp_path / "before.png"
                owner.stdin.write(f"shot {before}\n")
                owner.stdin.flush()
                assert owner.stdout.readline().strip() == "shot"
                app.xdo("windowfocus", "--sync", app.window)
                app.xdo("key", "ctrl+v")
                grab = ARTIFACTS / "images-pasted-under-xvfb.png"
                ARTIFACTS.mkdir(exist_ok=True)

                def chip_shown() -> bool:
                    owner.stdin.write(f"shot {grab}\n")
                    owner.stdin.flush()
                    assert owner.stdout.readline().strip() == "shot"
                    return _magenta_pixels(grab) > 500  # a 64×40 thumbnail, most of it

                _until(chip_shown, "no chip with the pasted image's thumbnail appeared")
                assert _magenta_pixels(before) == 0, "the thumbnail is new on screen"
                app.xdo("type", "--delay", "5", "What is on my screen?")
                app.xdo("key", "Return")
                _until(
                    lambda: any(r["method"] == "POST" for r in fake.requests),
                    "the message was never sent",
                )
                time.sleep(0.5)
                app.xdo("key", "ctrl+q")
                assert app.proc.wait(30) == 0
                out = app.output()
            finally:
                owner.stdin.close()
                try:
                    owner.wait(10)
                except subprocess.TimeoutExpired:
                    owner.kill()
                    owner.wait()
    assert "Traceback" not in out, out
    sent = next(r for r in fake.requests if r["method"] == "POST")
    content = sent["body"]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is on my screen?"}
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    assert image.size == (1600, 1000), "under the cap: sent at its own size"
    assert image.getpixel((800, 500)) == MAGENTA and image.getpixel((800, 40)) == (255, 255, 255)
