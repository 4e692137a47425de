"""The window's Think switch, with real parts: the local MLX engine running the tiny thinking
model (shown, off gives a reply without thought through the chat template, on a thought folded
away), the plain tiny model (not shown: its tokenizer has no thinking), and the real
mlx_lm.server (shown once it has sent thinking; off sends ``chat_template_kwargs``), the choice
kept with the conversation, and a persona's default in a new chat."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from desktop_chat.models import local_choice
from desktop_chat.params import GenerationParams
from desktop_chat.personas import Library
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.support.settings import write_config
from tests.support.tiny_thinking_model import THINK_OFF

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
THOUGHT = "The user asks about France. Its capital is Paris."
ANSWER = "The capital of France is Paris."


@pytest.fixture
def greedy(_isolated_home):
    write_config(_isolated_home, "[defaults]\ntemperature = 0.0\n")
    return _isolated_home


def _shot(qapp, window, name: str, dark: bool = False) -> None:
    light = QApplication.palette()
    try:
        if dark:  # what the system's switch to dark does
            palette = QPalette(light)
            for role, colour in (
                (QPalette.ColorRole.Window, Qt.GlobalColor.black),
                (QPalette.ColorRole.WindowText, Qt.GlobalColor.white),
                (QPalette.ColorRole.Base, Qt.GlobalColor.black),
                (QPalette.ColorRole.Text, Qt.GlobalColor.white),
                (QPalette.ColorRole.Button, Qt.GlobalColor.black),
                (QPalette.ColorRole.ButtonText, Qt.GlobalColor.white),
            ):
                palette.setColor(role, colour)
            QApplication.setPalette(palette)
            QApplication.processEvents()
        screenshot(window, name)
    finally:
        QApplication.setPalette(light)
        QApplication.processEvents()


def _prompt_text(window) -> str:
    """What the local engine's cache holds now: the last prompt as templated, and its reply."""
    loaded = window.controller.models._engine_host.engine._loaded
    return loaded.tokenizer.decode(loaded.cache_tokens)


def test_the_local_thinking_model_has_a_think_switch_that_goes_through_the_template(
    qapp, qtbot, greedy, tiny_thinking_model_dir
):
    with running_window(qapp) as (loop, window):
        controller, button = window.controller, window.think_button

        async def ask(text: str):
            type_and_send(qtbot, window, text)
            await wait_for(lambda: reply_done(window), what="the reply")
            await asyncio.sleep(0.1)

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_thinking_model_dir))
            await wait_for(lambda: button.isVisible(), what="the switch, once the model loaded")
            assert button.isCheckable() and button.isChecked() and button.text() == "Think"
            assert "reasons first" in button.toolTip() and "next message" in button.toolTip()
            assert button.menu() is None, "this model's template takes no effort"
            await ask(QUESTION)
            reply = window.view.replies()[-1]
            assert reply.text == ANSWER and THOUGHT in reply.thought.text
            assert not reply.thought.is_open, "on: the thought is shown, folded away"
            _shot(qapp, window, "think-switch-on")
            _shot(qapp, window, "think-switch-on-dark", dark=True)

            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # off, for the next turn
            assert not button.isChecked() and button.text() == "Think: off"
            assert controller.session.options == {"think": False}
            await ask("What is two plus two?")
            reply = window.view.replies()[-1]
            assert reply.text == "Two plus two is four."
            assert reply.thought is None, "off: no thought"
            assert controller.session.turn.params.think is False
            # The template was given enable_thinking=False: it wrote the empty thought itself.
            last = _prompt_text(window).rsplit("<|im_start|>assistant\n", 1)[1]
            assert last.startswith(THINK_OFF), last
            assert "reasoning" not in controller.conversation.messages[-1].meta
            _shot(qapp, window, "think-switch-off")
            _shot(qapp, window, "think-switch-off-dark", dark=True)

            cid = controller.conversation_id
            assert controller.store.conversation_settings(cid) == {"think": False}
            window.new_chat()
            assert button.isChecked(), "a new chat starts from the default again"
            await controller.open_conversation(cid)
            assert not button.isChecked(), "kept with the conversation"

        loop.run_until_complete(scenario())


def test_the_plain_tiny_model_has_no_think_switch(qapp, qtbot, greedy, tiny_model_dir):
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_model_dir))
            await wait_for(lambda: controller.models.ready_choice is controller.choice)
            type_and_send(qtbot, window, "Say hello.")
            await wait_for(lambda: reply_done(window), what="the reply")

        loop.run_until_complete(scenario())
        assert window.isVisible() and window.persona_button.isVisible()
        assert not window.think_button.isVisible(), "its tokenizer has no thinking"


@pytest.fixture
def server_config(_isolated_home, mlx_thinking_server):
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


def test_think_off_on_mlx_server_sends_the_template_switch_and_a_persona_sets_the_default(
    qapp, qtbot, server_config
):
    with running_window(qapp) as (loop, window):
        controller, button = window.controller, window.think_button
        bodies: list[dict] = []

        async def ask(text: str):
            type_and_send(qtbot, window, text)
            await wait_for(lambda: reply_done(window), what="the reply")
            await asyncio.sleep(0.1)

        async def scenario():
            await controller.refresh()
            assert not button.isVisible(), "a name that says nothing, and no thinking seen yet"
            await ask(QUESTION)
            assert window.view.replies()[-1].thought is not None
            assert button.isVisible() and button.isChecked(), "the server sent its thinking"
            # What the provider sends the real server, from here on.
            provider = controller.models._providers["tiny"]
            request = provider._request
            provider._request = lambda *args: bodies.append(request(*args)) or bodies[-1]
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
            await ask("What is two plus two?")
            assert bodies[-1]["chat_template_kwargs"] == {"enable_thinking": False}
            last = controller.conversation.messages[-1]
            assert last.content == "Two plus two is four." and "reasoning" not in last.meta
            assert window.view.replies()[-1].thought is None
            cid = controller.conversation_id

            # A persona that answers at once by default (made in Manage personas…): a new chat
            # under it asks so.
            window.persona_button.manage()
            dialog = window.persona_button.dialog
            dialog._new()
            qtbot.keyClicks(dialog.name, "Brisk")
            dialog.think.setCurrentIndex(dialog.think.findText("off"))
            assert dialog.save()
            screenshot(dialog, "persona-think-default")
            dialog.accept()
            brisk = controller.with_store(Library).persona("Brisk")
            assert brisk.params == GenerationParams(think=False), "kept in the library"
            window.new_chat()
            await controller.set_persona("Brisk")
            assert button.isVisible() and not button.isChecked()
            await ask("Say hello.")
            assert bodies[-1]["chat_template_kwargs"] == {"enable_thinking": False}
            assert window.view.replies()[-1].thought is None
            window.new_chat()  # Brisk stays; this chat's own choice is on, over Brisk's
            assert not button.isChecked()
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
            await ask(QUESTION)
            assert bodies[-1]["chat_template_kwargs"] == {"enable_thinking": True}
            assert window.view.replies()[-1].thought is not None
            await controller.open_conversation(cid)
            assert not button.isChecked(), "the first chat's own choice, reopened"
            # After a restart nothing is known of the server but what its chats hold.
            controller.models.reasoned.clear()
            window.new_chat()
            assert not button.isVisible()
            await controller.open_conversation(cid)
            assert button.isVisible(), "a stored reply of this model thought"

        loop.run_until_complete(scenario())


def test_a_local_template_that_takes_an_effort_gets_the_menu_beside_the_switch(
    qapp, qtbot, greedy, tiny_thinking_model_dir
):
    from tests.support.tiny_thinking_model import CHAT_TEMPLATE, twin

    effort = "{% if reasoning_effort is defined %}Reasoning: {{ reasoning_effort }}\n{% endif %}"
    folder = twin(tiny_thinking_model_dir, "effort", chat_template=effort + CHAT_TEMPLATE)
    with running_window(qapp) as (loop, window):
        controller, button = window.controller, window.think_button

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(folder))
            await wait_for(lambda: button.isVisible(), what="the switch, once the model loaded")
            assert button.isCheckable() and button.menu() is button.effort_menu
            assert button.popupMode() == button.popupMode().MenuButtonPopup
            assert button.text() == "Think  ·  Effort: default"
            assert "How hard" in button.toolTip() and "reasons first" in button.toolTip()
            low = next(a for a in button.efforts.actions() if a.data() == "low")
            low.trigger()
            assert button.text() == "Think  ·  Effort: low" and low.isChecked()
            type_and_send(qtbot, window, QUESTION)
            await wait_for(lambda: reply_done(window), what="the reply")

        loop.run_until_complete(scenario())
        assert _prompt_text(window).startswith("Reasoning: low\n"), "the template was given it"
        assert controller.session.options == {"reasoning_effort": "low"}


def test_a_model_whose_thinking_is_set_by_effort_gets_the_effort_alone(qapp, qtbot, _isolated_home):
    """gpt-oss by its name: no on/off (its template has none), the efforts as the button's
    menu, sent as ``reasoning_effort``. A scripted server: no real peer here takes it."""
    from tests.support.fake_openai import FakeOpenAI, Step

    with FakeOpenAI() as server, running_window(qapp) as (loop, window):
        write_config(
            _isolated_home,
            f'default_model = "local:gpt-oss-20b"\n[providers.local]\n'
            f'base_url = "{server.base_url}"\nmodels = ["gpt-oss-20b"]\n',
        )
        server.script = [Step(reasoning=["Easy."], pieces=["Paris."])] * 2
        controller, button = window.controller, window.think_button

        async def scenario():
            await controller.refresh()
            assert button.isVisible() and not button.isCheckable()
            assert button.popupMode() == button.popupMode().InstantPopup
            assert button.text() == "Effort: default" and "How hard" in button.toolTip()
            high = next(a for a in button.efforts.actions() if a.data() == "high")
            high.trigger()
            assert button.text() == "Effort: high"
            type_and_send(qtbot, window, QUESTION)
            await wait_for(lambda: reply_done(window), what="the reply")
            assert button.isVisible() and not button.isCheckable(), "its thinking: still effort"
            screenshot(window, "think-switch-effort")
            cid = controller.conversation_id
            window.new_chat()
            assert button.text() == "Effort: default"
            await controller.open_conversation(cid)
            assert button.text() == "Effort: high", "kept with the conversation"
            default = next(a for a in button.efforts.actions() if a.data() is None)
            default.trigger()
            type_and_send(qtbot, window, "And of Italy?")
            await wait_for(lambda: reply_done(window), what="the reply")

        loop.run_until_complete(scenario())
        first, second = (r["body"] for r in server.requests if r["method"] == "POST")
        assert first["reasoning_effort"] == "high" and "chat_template_kwargs" not in first
        assert "reasoning_effort" not in second, "the model's default: nothing sent"


def test_the_quick_prompt_thinks_as_the_main_window_does(
    qapp, qtbot, greedy, tiny_thinking_model_dir
):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    with running_window(qapp) as (loop, window):
        controller, button = window.controller, window.think_button
        quick = quick_prompt_for(window)

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_thinking_model_dir))
            await wait_for(lambda: button.isVisible(), what="the switch, once the model loaded")
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # off
            quick.present()
            assert quick.model_label.text().endswith(" · Think: off")
            qtbot.keyClicks(quick.input, QUESTION)
            qtbot.keyClick(quick.input, Qt.Key.Key_Return)
            await wait_for(lambda: quick.continue_button.isEnabled(), what="the answer")
            await asyncio.sleep(0.1)
            assert quick.reply.text == ANSWER and quick.reply.thought is None
            screenshot(quick, "quick-prompt-think-off")
            assert controller.store.conversation_settings(quick.session.conversation_id) == {
                "think": False
            }
            qtbot.mouseClick(quick.continue_button, Qt.MouseButton.LeftButton)
            await wait_for(lambda: window.view.replies(), what="the main window")
            assert button.isVisible() and not button.isChecked(), "the quick chat's own choice"

        loop.run_until_complete(scenario())
