"""Whatever the user does while a reply streams — ⌘N, deleting the chat, opening another one,
switching models — the reply ends in its own conversation: reopened, the question and the
partial reply are there, marked stopped."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt

from desktop_chat import catalog
from tests.support.fake_openai import Step, as_provider
from tests.support.gui import reply_done, running_window, type_and_send, wait_for

QUESTION = "Tell me a long story."
PIECES = ["Once ", "upon ", "a ", "time ", "there ", "was ", "a ", "very ", "long ", "story."]


async def _streaming(qtbot, window) -> int:
    """Ask, and return once part of the reply is on screen; the conversation's id."""
    type_and_send(qtbot, window, QUESTION)
    await wait_for(
        lambda: window.reply is not None and "upon" in window.reply.text,
        what="the first words of the reply",
    )
    return window.controller.conversation_id


def _new_chat(qtbot, window, cid):
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)


def _delete(qtbot, window, cid):
    window.history.delete_conversation(cid)


def _open_other(qtbot, window, cid):
    other = window.controller.store.new_conversation("Another chat")
    window.history.open_conversation(other)


def _switch_model(qtbot, window, cid):
    window.choose(catalog.find(window.controller.models.choices, "fake:n"))


@pytest.mark.parametrize(
    "action",
    [_new_chat, _delete, _open_other, _switch_model],
    ids=["new-chat", "delete", "open-another", "switch-model"],
)
def test_an_action_mid_reply_keeps_the_question_and_the_partial_reply(
    qapp, qtbot, _isolated_home, action
):
    with as_provider(_isolated_home, models=("m", "n")) as fake:
        fake.script = [Step(pieces=PIECES, delay_s=0.25)]
        with running_window(qapp) as (loop, window):

            async def scenario():
                await window.controller.refresh()
                cid = await _streaming(qtbot, window)
                action(qtbot, window, cid)
                await wait_for(lambda: reply_done(window), what="the reply to end")
                await asyncio.sleep(0.1)
                if action is _delete:
                    window.history.undelete(cid)  # what Undo does
                await window.controller.open_conversation(cid)
                return cid

            cid = loop.run_until_complete(scenario())
            messages = window.controller.conversation.messages
            assert [m.role for m in messages] == ["user", "assistant"], messages
            assert messages[0].content == QUESTION
            assert messages[1].content.startswith("Once upon")
            assert messages[1].interrupted
            # The store agrees, and a restart would show the same.
            branch = window.controller.store.branch(cid)
            assert branch[0].content == QUESTION
            assert branch[1].content.startswith("Once upon") and branch[1].interrupted
            shown = [r.text for r in window.view.replies()]
            assert shown and shown[0].startswith("Once upon")
