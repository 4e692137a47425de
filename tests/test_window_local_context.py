"""The window with a local model and a conversation longer than the context it was loaded for
(``[app] local_context_tokens = 512``): opened later, or asked from the quick prompt. The
context grows on the engine's thread after a fresh memory check; when the memory cannot hold
it, the oldest turns are left out of the reply, the window says why and what to do, once, and
nothing is lost. Real window offscreen, real engine on its QThread, tiny model; only the
machine's memory figure is set for the small-machine case."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.support.settings import write_config

pytestmark = pytest.mark.slow
CONFIG = "[app]\nlocal_context_tokens = 512\n\n[defaults]\ntemperature = 0.0\nmax_tokens = 64\n"


def stored_stories(store, pairs: int) -> int:
    """A conversation written earlier: ``pairs`` turns of about 29 tokens each."""
    conversation = store.new_conversation("Stories")
    parent = None
    for _ in range(pairs):
        parent = store.add_message(conversation, "user", "Tell me a story.", parent_id=parent)
        parent = store.add_message(
            conversation, "assistant", "Once upon a time there was a robot.", parent_id=parent
        )
    return conversation


def banners(window) -> list:
    return [i for i in window.view.items if type(i).__name__ == "ErrorBanner"]


def test_a_longer_conversation_opened_later_gets_a_bigger_context(
    qapp, qtbot, tiny_model_dir, _isolated_home
):
    from desktop_chat.models import local_choice

    write_config(_isolated_home, CONFIG)
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_model_dir))  # loaded for 512 tokens
            assert controller.models._engine_host.engine.info.context_length == 512
            await controller.open_conversation(stored_stories(controller.store, 30))
            type_and_send(qtbot, window, "What is the capital of France?")
            await wait_for(lambda: reply_done(window), what="the reply")

        loop.run_until_complete(scenario())
        reply = controller.conversation.messages[-1]
        assert reply.meta["dropped_messages"] == 0, "the whole conversation reached the model"
        held = controller.models._engine_host.engine.info.context_length
        assert held == reply.meta["context_tokens"] > 512
        assert held >= reply.meta["usage"]["prompt_tokens"] + 64
        assert not banners(window) and "left out" not in window.view.replies()[-1].stats.text()


def test_a_conversation_the_memory_cannot_hold_is_trimmed_and_the_window_says_so(
    qapp, qtbot, tiny_model_dir, _isolated_home, monkeypatch
):
    import desktop_chat.engine as engine_module
    from desktop_chat.models import local_choice

    write_config(_isolated_home, CONFIG)
    weights, per_token = engine_module.estimate_bytes(tiny_model_dir, 1)
    monkeypatch.setattr(engine_module, "memory_limit_bytes", lambda: weights + 700 * per_token)
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_model_dir))
            conversation = stored_stories(controller.store, 30)
            await controller.open_conversation(conversation)
            type_and_send(qtbot, window, "What is the capital of France?")
            await wait_for(lambda: reply_done(window), what="the reply")
            await wait_for(lambda: banners(window), what="the banner")
            screenshot(window, "local-context-trimmed")
            said = (banners(window)[0].message.text(), banners(window)[0].hint.text())
            # The next reply is trimmed too: its line says so; the banner is not repeated.
            type_and_send(qtbot, window, "Say hello.")
            await wait_for(lambda: reply_done(window), what="the second reply")
            return conversation, said

        conversation, (message, hint) = loop.run_until_complete(scenario())
        engine = controller.models._engine_host.engine
        assert engine.info.context_length == 700, "grown as far as the memory allows"
        reply = controller.conversation.messages[-3]
        dropped = reply.meta["dropped_messages"]
        assert dropped > 0 and reply.meta["context_limit"] == "memory"
        assert message == (
            f"This conversation no longer fits in memory: {tiny_model_dir.name} can hold 700 "
            f"tokens of it on this machine. Its {dropped} oldest messages were left out of this "
            "reply; they stay in the chat."
        )
        assert hint == (
            "Start a new chat to give the model the whole conversation, or choose "
            "a smaller (4-bit) model."
        )
        assert not banners(window), "said once for this conversation"
        assert "oldest messages left out to fit" in window.view.replies()[-1].stats.text()
        assert len(controller.store.branch(conversation)) == 30 * 2 + 4, "nothing was lost"
        assert not controller.busy and window.composer.edit.isEnabled()


def test_a_long_quick_prompt_gets_the_context_it_needs(qapp, qtbot, tiny_model_dir, _isolated_home):
    """The quick prompt's own chat is what is counted, not the main window's."""
    from desktop_chat.gui.quick_prompt import quick_prompt_for
    from desktop_chat.models import local_choice

    write_config(_isolated_home, CONFIG)
    with running_window(qapp) as (loop, window):
        controller = window.controller
        quick = quick_prompt_for(window)

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_model_dir))
            quick.present()
            QApplication.clipboard().setText("Tell me a story. " * 200)  # about 1,200 tokens
            quick.use_clipboard.setChecked(True)
            qtbot.keyClicks(quick.input, "What is the capital of France?")
            qtbot.keyClick(quick.input, Qt.Key.Key_Return)
            await wait_for(lambda: quick.continue_button.isEnabled(), what="the answer")

        loop.run_until_complete(scenario())
        meta = quick.session.conversation.messages[-1].meta
        assert "The message is" not in quick.reply.text and quick.reply.text
        assert meta["dropped_messages"] == 0 and meta["usage"]["prompt_tokens"] > 1000
        held = controller.models._engine_host.engine.info.context_length
        assert held == meta["context_tokens"] > 1000
        quick.hide()
