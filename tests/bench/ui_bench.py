"""The window's figures, each beside its baseline in the same run (issue 4):

1. 5,000 tokens of mixed Markdown streamed at 200 tokens/s into a conversation that already
   holds 200 messages: event-loop lag (p50/p99) and UI-thread CPU, against the naive approach
   (the whole message through ``setMarkdown`` on every token).
2. Render cost of one token at 20 KB of message against 1 KB (no coalescing: every token drawn).
3. Process start to main window shown, against a bare PySide6 window.
4. One long code block: the cost of a token at 200 KB of code against 1 KB, and against the
   old way (the whole block through pygments' HTML formatter on every token).
5. Sending a 2 MB message from the composer (Enter to the reply done, a new chat each time):
   event-loop lag p99 and worst, against sending a one-line message in the same window. The
   server is a scripted one in another process, as a real one would be. Also the lag while
   the pasted text's draft is saved (0.1 s to 1 s after the paste: the save comes at 0.6 s).
6. A reasoning model's reply: 5,000 tokens of thinking then 1,000 of answer at 200 tokens/s into
   the same 200-message conversation: lag p99 and UI CPU, against 6,000 tokens of plain answer
   (the same count, the same 30 s) in the same run.
7. Pasting a 12-megapixel screenshot (Ctrl+V in the composer to its chip with a thumbnail,
   normalised off the GUI thread): the time, and the loop's lag p99 and worst meanwhile,
   against pasting a 0.8-megapixel one.

Runs offscreen (``QT_QPA_PLATFORM=offscreen``): layout and painting are real, only the screen
is not.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time

from tests.support.code_samples import PYTHON

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

RATE = 200  # tokens per second
TOKENS = 5000
THOUGHT = 5000  # a reasoning reply's thinking tokens, before its answer

_SECTIONS = [
    "The plan has three parts, and each one builds on the one before it. First we read the "
    "input carefully, then we decide what to keep, and finally we write the result.\n\n",
    "- read the file\n- keep the lines that matter\n  and drop the rest\n- write the result\n\n",
    "```python\ndef keep(lines):\n    return [line for line in lines if line.strip()]\n\n\n"
    "print(keep(open('notes.txt').read().splitlines()))\n```\n\n",
    "| step | cost | notes |\n|---|---|---|\n| read | 1 | fast |\n| filter | 2 | linear |\n"
    "| write | 1 | buffered |\n\n",
    "Some **bold** words, some `inline code`, and a [link](https://example.com) keep the "
    "renderer honest about inline formatting.\n\n",
]


def mixed_markdown(tokens: int) -> list[str]:
    """About four characters a token, as models emit them: words with their spaces."""
    pieces: list[str] = []
    i = 0
    while len(pieces) < tokens:
        pieces += re.findall(r"\S*\s*", _SECTIONS[i % len(_SECTIONS)])[:-1]
        i += 1
    return pieces[:tokens]


def _conversation(messages: int):
    from desktop_chat.conversation import Conversation

    conv = Conversation()
    text = "".join(_SECTIONS)
    for i in range(messages // 2):
        conv.add_user(f"Question number {i}: how do I filter the lines of a file?")
        conv.add_assistant(text, model="bench")
    return conv


def _view():
    from desktop_chat.gui.conversation_view import ConversationView

    view = ConversationView()
    view.resize(1000, 720)
    view.show()
    return view


class NaiveMessage:
    """The baseline: one document, ``setMarkdown`` of the whole message on every token."""

    def __init__(self, view) -> None:
        from desktop_chat.gui.doc_view import DocView

        self.doc = DocView(view.widget())
        view._append(self.doc)
        self.text = ""

    def feed(self, delta: str) -> None:
        self.text += delta
        self.doc.set_markdown(self.text)

    def finish(self, meta, last=True) -> None:
        pass


async def _stream(reply, tokens: list[str], thinking: int = 0) -> None:
    """``tokens`` at ``RATE``; the first ``thinking`` of them as the reply's thought."""
    start = time.perf_counter()
    for i, token in enumerate(tokens):
        delay = start + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if i < thinking:
            reply.think(token)
        else:
            reply.feed(token)
    reply.finish({})


async def _probe(lags: list[float], done: asyncio.Event) -> None:
    """How late the loop runs a 5 ms timer: what a keystroke or a repaint would wait."""
    while not done.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append(max(0.0, time.perf_counter() - start - 0.005))


def stream_run(
    naive: bool, tokens: list[str], thinking: int = 0
) -> tuple[float, float, float, float]:
    """(lag p50 ms, lag p99 ms, UI CPU s, wall s) for one run in a fresh view; the first
    ``thinking`` tokens streamed as the reply's thought."""
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    view = _view()
    view.show_conversation(_conversation(200))
    app.processEvents()
    reply = NaiveMessage(view) if naive else view.begin_reply(200)
    lags: list[float] = []

    async def run():
        done = asyncio.Event()
        probe = asyncio.ensure_future(_probe(lags, done))
        cpu, wall = time.thread_time(), time.perf_counter()
        await _stream(reply, tokens, thinking)
        await asyncio.sleep(0.1)  # the last coalesced render
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        done.set()
        await probe
        return cpu, wall

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    cpu, wall = loop.run_until_complete(run())
    loop.close()
    asyncio.set_event_loop(None)
    view.close()
    view.deleteLater()
    app.processEvents()
    lags.sort()
    p50 = lags[len(lags) // 2] * 1000
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000
    return p50, p99, cpu, wall


def _median_token(app, view, reply, tokens: list[str], naive: bool) -> float:
    """Median seconds to take and draw each of ``tokens``; the view is closed after."""
    times = []
    for token in tokens:
        start = time.perf_counter()
        reply.feed(token)
        if not naive:
            reply.flush()  # every token drawn: the cost coalescing would otherwise hide
        app.processEvents()
        times.append(time.perf_counter() - start)
    view.close()
    view.deleteLater()
    app.processEvents()
    return statistics.median(times)


def token_cost(size_bytes: int, naive: bool, measured: int = 150) -> float:
    """Median seconds to take and draw one token once the message holds ``size_bytes``."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    view = _view()
    reply = NaiveMessage(view) if naive else view.begin_reply(0)
    prefix = ""
    i = 0
    while len(prefix) < size_bytes:
        prefix += _SECTIONS[i % len(_SECTIONS)]
        i += 1
    reply.feed(prefix)
    if not naive:
        reply.flush()
    app.processEvents()
    tail = mixed_markdown(measured + 10)[:measured]  # starts a new paragraph
    return _median_token(app, view, reply, tail, naive)


class NaiveCodeBlock:
    """The old way, as baseline: the whole block through pygments' HTML on every token."""

    def __init__(self, view) -> None:
        from PySide6.QtWidgets import QTextBrowser

        self.box = QTextBrowser(view.widget())
        self.box.setLineWrapMode(QTextBrowser.LineWrapMode.NoWrap)
        size = self.box.document().documentLayout().documentSizeChanged
        size.connect(lambda s: self.box.setFixedHeight(int(s.height()) + 2))
        view._append(self.box)
        self.text = ""

    def feed(self, delta: str) -> None:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        self.text += delta
        code = self.text.split("\n", 1)[1]
        formatter = HtmlFormatter(noclasses=True, nobackground=True, style="friendly")
        self.box.setHtml(highlight(code, PythonLexer(), formatter))


def code_token_cost(size_bytes: int, naive: bool, measured: int = 120) -> float:
    """Median seconds to take and draw one token of a code block ``size_bytes`` long."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    view = _view()
    reply = NaiveCodeBlock(view) if naive else view.begin_reply(0)
    prefix = "```python\n"
    while len(prefix) < size_bytes:
        prefix += PYTHON
    reply.feed(prefix)
    if not naive:
        reply.flush()
    app.processEvents()
    tokens = re.findall(r"\S*\s*", PYTHON * (1 + measured // 60))[:measured]
    return _median_token(app, view, reply, tokens, naive)


_FAKE_SERVER = """
import sys, time
from tests.support.fake_openai import FakeOpenAI
server = FakeOpenAI().__enter__()
print(server.base_url, flush=True)
sys.stdin.read()
"""


def send_lags(runs: int = 3) -> dict[str, list[float]]:
    """Loop lags (s) while sending 2 MB ("big"), and while sending one line ("small"),
    interleaved; and while their drafts are saved ("big draft", "small draft")."""
    import tempfile
    from pathlib import Path

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from tests.support.gui import reply_done, running_window, wait_for
    from tests.support.settings import write_config

    app = QApplication.instance() or QApplication([])
    home = Path(tempfile.mkdtemp(prefix="bench-send-"))
    server = subprocess.Popen(
        [sys.executable, "-c", _FAKE_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = server.stdout.readline().strip()
    old_home = os.environ.get("DESKTOP_CHAT_HOME")
    os.environ["DESKTOP_CHAT_HOME"] = str(home)
    write_config(
        home,
        f'default_model = "fake:m"\n[providers.fake]\nbase_url = "{base_url}"\nmodels = ["m"]\n',
    )
    line = "The quick brown fox jumps over the lazy dog, and then it rests a while. " * 14
    big = (line + "\n") * (2_000_000 // (len(line) + 1))
    lags = {"big": [], "small": [], "big draft": [], "small draft": []}
    try:
        with running_window(app) as (loop, window):

            async def send(text: str, into: list[float], drafts: list[float]) -> None:
                window.new_chat()
                window.composer.edit.setPlainText(text)  # the paste: not measured
                await asyncio.sleep(0.1)
                done = asyncio.Event()
                probe = asyncio.ensure_future(_probe(drafts, done))
                await asyncio.sleep(0.9)  # what follows the paste: the draft saved
                done.set()
                await probe
                done = asyncio.Event()
                probe = asyncio.ensure_future(_probe(into, done))
                await asyncio.sleep(0.1)
                QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
                await wait_for(lambda: reply_done(window), what="the reply")
                await asyncio.sleep(0.3)
                done.set()
                await probe

            async def scenario() -> None:
                await window.controller.refresh()
                await send("warm up", [], [])  # imports, the connection
                for _ in range(runs):
                    await send("What is the capital of France?", lags["small"], lags["small draft"])
                    await send(big, lags["big"], lags["big draft"])

            loop.run_until_complete(scenario())
    finally:
        server.stdin.close()
        server.wait(10)
        _restore_home(old_home, home)
    return lags


def screenshot_png(width: int, height: int) -> bytes:
    """A screenshot-like PNG: a flat background, and every few rows a line of noise where
    text would be (a 4000×3000 one is about 5 MB, as a Retina screenshot is)."""
    import io
    import random

    from PIL import Image

    rows = random.Random(7)
    image = Image.new("RGB", (width, height), (240, 240, 242))
    for y in range(0, height, 7):
        image.paste(Image.frombytes("RGB", (width, 1), rows.randbytes(width * 3)), (0, y))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def paste_lags(runs: int = 3) -> dict[str, list[float]]:
    """Ctrl+V of a 12 MP screenshot ("big") and of a 0.8 MP one ("small"), interleaved, in the
    window's composer: seconds from the key to the chip with its thumbnail ("… s"), and the
    loop's lags meanwhile."""
    import tempfile

    from PySide6.QtCore import QMimeData, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from tests.support.gui import running_window, wait_for

    app = QApplication.instance() or QApplication([])
    old_home = os.environ.get("DESKTOP_CHAT_HOME")
    home = tempfile.mkdtemp(prefix="bench-paste-")
    os.environ["DESKTOP_CHAT_HOME"] = home
    shots = {"big": screenshot_png(4000, 3000), "small": screenshot_png(1024, 768)}
    out = {"big": [], "small": [], "big s": [], "small s": []}
    try:
        with running_window(app) as (loop, window):
            edit, chips = window.composer.edit, window.pictures

            async def paste(kind: str) -> None:
                window.controller.session.pictures.clear()
                chips.show_pictures([], [])
                mime = QMimeData()
                mime.setData("image/png", shots[kind])
                QApplication.clipboard().setMimeData(mime)
                await asyncio.sleep(0.1)
                done = asyncio.Event()
                probe = asyncio.ensure_future(_probe(out[kind], done))
                await asyncio.sleep(0.1)
                start = time.perf_counter()
                QTest.keyClick(edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
                await wait_for(lambda: chips.chips and chips.chips[0].thumb.loaded, what="the chip")
                out[f"{kind} s"].append(time.perf_counter() - start)
                await asyncio.sleep(0.1)
                done.set()
                await probe

            async def scenario() -> None:
                await window.controller.refresh()
                edit.setFocus()
                await paste("small")  # Pillow's import, the worker thread
                for _ in range(runs):
                    await paste("small")
                    await paste("big")

            loop.run_until_complete(scenario())
    finally:
        _restore_home(old_home, home)
    return out


def _restore_home(old_home: str | None, home) -> None:
    """The data folder a bench made goes (each run left megabytes in /tmp)."""
    import shutil

    if old_home is None:
        os.environ.pop("DESKTOP_CHAT_HOME", None)
    else:
        os.environ["DESKTOP_CHAT_HOME"] = old_home
    shutil.rmtree(home, ignore_errors=True)


def paste_rows(runs: int = 3) -> list[tuple]:
    """``uv run python -c "from tests.bench.ui_bench import paste_rows; print(paste_rows())"``"""
    lags = paste_lags(runs)
    big, small = statistics.median(lags["big s"]), statistics.median(lags["small s"])
    return [
        ("paste 12 MP PNG: to chip, s", big, small, f"{big / small:.1f}×", "(0.8 MP baseline)"),
        (
            "  loop lag p99 meanwhile, ms",
            _p99(lags["big"]),
            _p99(lags["small"]),
            f"{_p99(lags['big']) - _p99(lags['small']):+.1f} ms",
            "p99 ≤ 16 ms",
        ),
        (
            "  worst lag meanwhile, ms",
            max(lags["big"]) * 1000,
            max(lags["small"]) * 1000,
            f"{(max(lags['big']) - max(lags['small'])) * 1000:+.1f} ms",
            "(0.8 MP baseline)",
        ),
    ]


def _p50(lags: list[float]) -> float:
    return statistics.median(lags) * 1000


def _p99(lags: list[float]) -> float:
    lags = sorted(lags)
    return lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000


# Once the window has been shown and the event loop has run: say so, and leave at once.
_SHOWN = "QTimer.singleShot(0, lambda: (print('shown', flush=True), __import__('os')._exit(0)))"
BARE = f"""
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
w = QMainWindow(); w.setWindowTitle("bare"); w.resize(1100, 750); w.show()
{_SHOWN}
app.exec()
"""
APP = f"""
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from desktop_chat.gui import main_window
shown = main_window.MainWindow.showEvent
def show_event(self, event):
    shown(self, event)
    {_SHOWN}
main_window.MainWindow.showEvent = show_event
from desktop_chat.gui.app import run
run(["desktop-chat"])
"""


def start_seconds(code: str) -> float:
    # Byte-code caches allowed, as in any installed app (this machine sets
    # PYTHONDONTWRITEBYTECODE, which would make every start compile every module).
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    for line in proc.stdout:
        if line.startswith("shown"):
            break
    shown = time.perf_counter() - start
    proc.wait(30)
    return shown


def rows(runs: int = 3) -> list[tuple]:
    out = []
    bare, ours = [], []
    start_seconds(BARE), start_seconds(APP)  # warm the OS file cache and the .pyc files
    for _ in range(max(5, runs)):  # interleaved
        bare.append(start_seconds(BARE))
        ours.append(start_seconds(APP))
    b, o = statistics.median(bare), statistics.median(ours)
    out.append(("start to window shown, s", o, b, f"{o / b:.2f}×", "≤ 0.6 s and ≤ 1.5×"))
    small = token_cost(1_000, naive=False)
    large = token_cost(20_000, naive=False)
    naive_small = token_cost(1_000, naive=True)
    naive_large = token_cost(20_000, naive=True)
    out.append(
        (
            "token at 20 KB / at 1 KB",
            large / small,
            naive_large / naive_small,
            f"{large * 1000:.2f} ms",
            "ratio ≤ 1.5",
        )
    )
    out.append(
        (
            "  one token at 20 KB, ms",
            large * 1000,
            naive_large * 1000,
            f"{naive_large / large:.1f}× less",
            "(naive as baseline)",
        )
    )
    small = code_token_cost(1_000, naive=False)
    large = code_token_cost(200_000, naive=False)
    naive_small = code_token_cost(1_000, naive=True, measured=20)
    naive_large = code_token_cost(200_000, naive=True, measured=5)
    out.append(
        (
            "code token at 200 KB / at 1 KB",
            large / small,
            naive_large / naive_small,
            f"{large * 1000:.2f} ms",
            "ratio ≤ 1.5",
        )
    )
    out.append(
        (
            "  one code token at 200 KB, ms",
            large * 1000,
            naive_large * 1000,
            f"{naive_large / large:.0f}× less",
            "(old way as baseline)",
        )
    )
    sent = send_lags()
    big, one_line = sent["big"], sent["small"]
    out.append(
        (
            "send 2 MB: loop lag p99, ms",
            _p99(big),
            _p99(one_line),
            f"{_p99(big) - _p99(one_line):+.1f} ms",
            "p99 ≤ 16 ms",
        )
    )
    out.append(
        (
            "  lag p50 while sending, ms",
            _p50(big),
            _p50(one_line),
            f"{_p50(big) - _p50(one_line):+.1f} ms",
            "(one line as baseline)",
        )
    )
    out.append(
        (
            "  worst lag while sending, ms",
            max(big) * 1000,
            max(one_line) * 1000,
            f"{(max(big) - max(one_line)) * 1000:+.1f} ms",
            "(one line as baseline)",
        )
    )
    big, one_line = sent["big draft"], sent["small draft"]
    out.append(
        (
            "  worst lag as its draft is saved, ms",
            max(big) * 1000,
            max(one_line) * 1000,
            f"{(max(big) - max(one_line)) * 1000:+.1f} ms",
            "(one line as baseline)",
        )
    )
    tokens = mixed_markdown(TOKENS)
    mine = stream_run(naive=False, tokens=tokens)
    naive = stream_run(naive=True, tokens=tokens)
    out.append(("stream lag p50, ms", mine[0], naive[0], f"{mine[0] - naive[0]:+.1f} ms", ""))
    out.append(
        ("stream lag p99, ms", mine[1], naive[1], f"{mine[1] - naive[1]:+.1f} ms", "p99 ≤ 16 ms")
    )
    out.append(("stream UI CPU, s", mine[2], naive[2], f"{mine[2] / naive[2]:.2f}×", "(lower)"))
    out.append(("stream wall, s (25 s of tokens)", mine[3], naive[3], "", ""))
    thought = mixed_markdown(THOUGHT + TOKENS // 5)
    thinks = stream_run(naive=False, tokens=thought, thinking=THOUGHT)
    plain = stream_run(naive=False, tokens=thought)
    out.append(
        (
            "think 5k + answer 1k: lag p99, ms",
            thinks[1],
            plain[1],
            f"{thinks[1] - plain[1]:+.1f} ms",
            "p99 ≤ 16 ms",
        )
    )
    out.append(
        (
            "  UI CPU, s (plain 6k answer as baseline)",
            thinks[2],
            plain[2],
            f"{thinks[2] / plain[2]:.2f}×",
            "≤ 1×",
        )
    )
    out += paste_rows()
    return out
