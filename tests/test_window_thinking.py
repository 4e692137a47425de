"""A reasoning model's thinking in the window: "Thinking…" streaming above the answer, closed to
"Thought for N s" once the answer starts, opened again by a click, never in the answer's Copy,
Save as or code only; the stats line gives thinking and answer tokens apart. Against the real
``mlx_lm.server`` serving the tiny thinking model, and a scripted server for a stream that
starts inside the thought (a template that opened it: only ``</think>`` arrives)."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from desktop_chat.gui.messages import stats_line
from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.support.settings import write_config

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
THOUGHT = "The user asks about France. Its capital is Paris."
ANSWER = "The capital of France is Paris."


@pytest.fixture
def thinking_config(_isolated_home, mlx_thinking_server):
    write_config(
        _isolated_home,
        f"""
default_model = "tiny:{mlx_thinking_server.model_id}"
[defaults]
temperature = 0.0
[providers.tiny]
base_url = "{mlx_thinking_server.base_url}"
models = ["{mlx_thinking_server.model_id}"]
""",
    )
    return mlx_thinking_server


def test_a_thinking_model_shows_its_thought_closed_above_a_clean_answer(
    qapp, qtbot, thinking_config
):
    with running_window(qapp) as (loop, window):
        saved: list[str] = []
        window.ask_save_path = lambda suggested: None  # no dialog: the text it was given counts

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, QUESTION)
            await wait_for(lambda: reply_done(window), what="the reply")
            await asyncio.sleep(0.1)

        loop.run_until_complete(scenario())
        reply = window.view.replies()[-1]
        assert reply.text == ANSWER, "the answer holds no thinking"
        shown = "".join(s.plain_text() for s in reply.segments)
        assert "<think>" not in shown and "Its capital" not in shown
        thought = reply.thought
        assert thought is not None and THOUGHT in thought.text
        assert not thought.is_open, "the thought closes once the answer starts"
        assert thought.header.text().startswith("▸ Thought for ")
        assert thought.header.text().endswith(" s")
        stats = reply.stats.text()
        assert "first answer token" in stats and " thinking + " in stats, stats
        screenshot(window, "thinking-collapsed")
        qtbot.mouseClick(thought.header, Qt.MouseButton.LeftButton)
        assert thought.is_open and thought.header.text().startswith("▾ Thought for ")
        screenshot(window, "thinking-expanded")
        qtbot.mouseClick(reply.copy_button, Qt.MouseButton.LeftButton)
        assert QApplication.clipboard().text() == ANSWER, "Copy is the answer alone"
        reply.save_reply_requested.connect(saved.append)
        qtbot.mouseClick(reply.save_button, Qt.MouseButton.LeftButton)
        assert saved == [ANSWER], "Save as is the answer alone"

        # Reopened, the stored thought is there, closed, with its time from the stored figures.
        cid = window.controller.conversation_id
        loop.run_until_complete(window.controller.open_conversation(cid))
        again = window.view.replies()[-1]
        assert again is not reply and again.text == ANSWER
        assert again.thought is not None and THOUGHT in again.thought.text
        assert not again.thought.is_open
        assert again.thought.header.text().startswith("▸ Thought")
        _dark_screenshot(qapp, qtbot, window, again)


def _dark_screenshot(qapp, qtbot, window, reply) -> None:
    light = QApplication.palette()
    try:
        dark = QPalette(light)
        dark.setColor(QPalette.ColorRole.Window, Qt.GlobalColor.black)
        dark.setColor(QPalette.ColorRole.WindowText, Qt.GlobalColor.white)
        dark.setColor(QPalette.ColorRole.Base, Qt.GlobalColor.black)
        dark.setColor(QPalette.ColorRole.Text, Qt.GlobalColor.white)
        QApplication.setPalette(dark)  # what the system's switch to dark does
        QApplication.processEvents()
        qtbot.mouseClick(reply.thought.header, Qt.MouseButton.LeftButton)
        QApplication.processEvents()
        screenshot(window, "thinking-dark")
    finally:
        QApplication.setPalette(light)
        QApplication.processEvents()


def test_a_stream_that_starts_inside_the_thought_moves_it_out_of_the_answer(qapp, qtbot, fake):
    """Only ``</think>`` arrives: what streamed as the answer was thinking."""
    fake.script = [
        Step(pieces=["Weighing ", "the ", "question.", "</think>", "Paris."], delay_s=0.3)
    ]
    with running_window(qapp) as (loop, window):
        seen: list[str] = []

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, QUESTION)
            await wait_for(
                lambda: window.reply is not None and "the" in window.reply.text,
                what="the first words, as the answer",
            )
            seen.append(window.reply.text)
            await wait_for(lambda: reply_done(window), what="the reply")
            await asyncio.sleep(0.1)

        loop.run_until_complete(scenario())
        assert seen[0].startswith("Weighing the"), "before </think> it streams as the answer"
        reply = window.view.replies()[-1]
        assert reply.text == "Paris."
        shown = "".join(s.plain_text() for s in reply.segments)
        assert "Weighing" not in shown and "Paris." in shown
        assert reply.thought is not None and reply.thought.text == "Weighing the question."
        assert not reply.thought.is_open
        assert reply.thought.header.text().startswith("▸ Thought for ")


def test_thinking_streams_live_and_stays_out_of_code_only(qapp, qtbot, fake):
    thought = [f"step {i} of the thought; " for i in range(12)]
    code = ["Here:\n\n", "```python\n", "print('hi')\n", "```\n"]
    fake.script = [Step(pieces=["<think>", *thought, "</think>", *code], delay_s=0.1)]
    with running_window(qapp) as (loop, window):
        live: list[tuple[str, bool, str]] = []

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, "Print hi")
            await wait_for(
                lambda: (
                    window.reply is not None
                    and window.reply.thought is not None
                    and "step 3" in window.reply.thought.text
                ),
                what="the thought streaming",
            )
            view = window.reply.thought
            live.append((view.header.text(), view.is_open, window.reply.text))
            screenshot(window, "thinking-streaming")
            await wait_for(lambda: reply_done(window), what="the reply")
            await asyncio.sleep(0.1)

        loop.run_until_complete(scenario())
        assert live == [("▾ Thinking…", True, "")], "it streams open, before any answer"
        reply = window.view.replies()[-1]
        assert "step 11 of the thought;" in reply.thought.text
        assert reply.thought.isVisible()
        qtbot.mouseClick(window.code_only, Qt.MouseButton.LeftButton)
        assert reply.thought.isHidden(), "code only shows the code, never the thinking"
        assert reply.code_blocks[0].isVisible()
        qtbot.mouseClick(window.code_only, Qt.MouseButton.LeftButton)
        assert not reply.thought.isHidden()


def test_the_quick_prompt_shows_the_thought_closed(qapp, qtbot, fake):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    fake.script = [Step(reasoning=["Short ", "and ", "sure."], pieces=["A **short** ", "answer."])]
    with running_window(qapp) as (loop, window):
        quick = quick_prompt_for(window)

        async def scenario():
            await window.controller.refresh()
            quick.present()
            qtbot.keyClicks(quick.input, "Quick one?")
            qtbot.keyClick(quick.input, Qt.Key.Key_Return)
            await wait_for(lambda: quick.continue_button.isEnabled(), what="the answer")
            await asyncio.sleep(0.1)

        try:
            loop.run_until_complete(scenario())
            assert quick.reply.text == "A **short** answer."
            assert quick.reply.thought is not None
            assert quick.reply.thought.text == "Short and sure."
            assert not quick.reply.thought.is_open
            # The longer figures line wraps: it never widens the answer past the panel.
            assert not quick.answer.horizontalScrollBar().isVisible()
            screenshot(quick, "thinking-quick-prompt")
        finally:
            quick.hide()
            quick.deleteLater()


def test_the_stats_line_gives_thinking_apart_when_the_reply_thought():
    plain = {"model": "m", "ttft_s": 0.2, "usage": {"completion_tokens": 12}}
    assert stats_line(plain) == "m · 0.20 s first token · 12 tokens"
    thought = {
        "model": "m",
        "ttft_s": 0.2,
        "answer_ttft_s": 3.1,
        "usage": {"completion_tokens": 212, "reasoning_tokens": 180},
    }
    assert stats_line(thought) == (
        "m · 0.20 s first token · 3.10 s first answer token · 180 thinking + 32 answer tokens"
    )
