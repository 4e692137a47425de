"""A screenshot pasted through the real clipboard: another app on the X display owns an image
on the CLIPBOARD, the user presses Ctrl+V in the real app (xdotool) — in the main window's
composer, or in the quick prompt the hotkey opens — a chip with its thumbnail appears (seen on
a grab of the screen), and the message sent carries the image."""

from __future__ import annotations

import base64
import contextlib
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


class ClipboardOwner:
    """``tests.support.x_clipboard`` running: the image on the CLIPBOARD, screen grabs."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def magenta_on_screen(self, path) -> int:
        """Grab the screen to ``path``; how many of its pixels are the screenshot's colour."""
        self.proc.stdin.write(f"shot {path}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "shot"
        image = Image.open(path).convert("RGB")
        return sum(1 for pixel in image.get_flattened_data() if pixel == MAGENTA)


@contextlib.contextmanager
def clipboard_owner(env: dict, image_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.x_clipboard", str(image_path)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield ClipboardOwner(proc)
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _until(condition, what: str, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _screenshot(tmp_path):
    # Under the 1536 pixels a server on this machine is sent (image_sizes.py).
    shot = Image.new("RGB", (1440, 900), MAGENTA)  # a colour nothing else on screen has
    shot.paste((255, 255, 255), (0, 0, 1440, 80))  # a title bar
    shot.save(tmp_path / "screenshot.png")
    return tmp_path / "screenshot.png"


def _sent_image(fake, question: str) -> Image.Image:
    sent = next(r for r in fake.requests if r["method"] == "POST")
    content = sent["body"]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": question}
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def _paste_then_ask(app, owner: ClipboardOwner, fake, tmp_path, name: str) -> None:
    """Ctrl+V, a chip appears on screen, then a question and Return; the app quits after."""
    assert owner.magenta_on_screen(tmp_path / "before.png") == 0, "nothing magenta yet"
    app.xdo("key", "ctrl+v")
    ARTIFACTS.mkdir(exist_ok=True)
    grab = ARTIFACTS / f"{name}.png"
    _until(
        lambda: owner.magenta_on_screen(grab) > 500,  # a 64×40 thumbnail, most of it
        "no chip with the pasted image's thumbnail appeared",
    )
    app.xdo("type", "--delay", "5", "What is on my screen?")
    app.xdo("key", "Return")
    _until(lambda: any(r["method"] == "POST" for r in fake.requests), "never sent")
    time.sleep(0.5)


def test_a_screenshot_pasted_with_ctrl_v_goes_with_the_message(_isolated_home, tmp_path):
    with as_provider(_isolated_home) as fake:
        fake.script = [Step(pieces=["A magenta ", "screen."])]
        with desktop_chat_on_x() as app, clipboard_owner(app.env, _screenshot(tmp_path)) as owner:
            app.xdo("windowfocus", "--sync", app.window)
            _paste_then_ask(app, owner, fake, tmp_path, "images-pasted-under-xvfb")
            app.xdo("key", "ctrl+q")
            assert app.proc.wait(30) == 0
            out = app.output()
    assert "Traceback" not in out, out
    image = _sent_image(fake, "What is on my screen?")
    assert image.size == (1440, 900), "under the cap: sent at its own size"
    assert image.getpixel((720, 450)) == MAGENTA and image.getpixel((720, 40)) == (255, 255, 255)


def test_a_screenshot_pasted_in_the_quick_prompt_goes_with_the_question(_isolated_home, tmp_path):
    with as_provider(_isolated_home) as fake:
        fake.script = [Step(pieces=["A magenta ", "screen."])]
        with desktop_chat_on_x() as app, clipboard_owner(app.env, _screenshot(tmp_path)) as owner:
            time.sleep(2)  # settings read, the hotkey registered
            app.xdo("key", "ctrl+alt+space")
            quick = app.xdo("search", "--sync", "--onlyvisible", "--name", "^Quick Prompt$")
            _until(
                lambda: app.xdo("getwindowfocus", check=False) == quick.split()[0],
                "the quick prompt did not take the focus",
            )
            _paste_then_ask(app, owner, fake, tmp_path, "quick-prompt-pasted-under-xvfb")
            app.xdo("key", "Escape")
            app.xdo("windowfocus", "--sync", app.window)
            app.xdo("key", "ctrl+q")
            assert app.proc.wait(30) == 0
            out = app.output()
    assert "Traceback" not in out, out
    assert _sent_image(fake, "What is on my screen?").size == (1440, 900)
