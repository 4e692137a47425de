"""The window on an unlucky disk: it starts whatever the store's file is like and says why new
chats are not saved; a disk that fills while it runs loses no message (the reply still shows,
a banner says it was not saved, and it is saved once there is room); a deleted conversation
leaves the file once its Undo bar is gone."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import pytest
from PySide6.QtCore import Qt

from desktop_chat.store import Store
from tests.support.disks import tiny_disk
from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for


async def _ask(qtbot, window, text):
    type_and_send(qtbot, window, text)
    await wait_for(lambda: reply_done(window), what=text)


def _banner(window):
    items = [i for i in window.view.items if type(i).__name__ == "ErrorBanner"]
    return items[-1] if items else None


def test_a_disk_that_fills_while_chatting_loses_nothing(qapp, qtbot, fake, _isolated_home):
    fake.script = [Step(pieces=["Paris is the ", "capital."]), Step(pieces=["Rome."])]
    with tiny_disk(_isolated_home / "data") as disk:
        with running_window(qapp) as (loop, window):
            c = window.controller

            async def full():
                await c.refresh()
                disk.fill()
                await _ask(qtbot, window, "What is the capital of France?")
                await wait_for(lambda: _banner(window), what="the banner")

            loop.run_until_complete(full())
            assert window.composer.edit.toPlainText() == "", "the message was sent"
            assert [r.text for r in window.view.replies()] == ["Paris is the capital."]
            banner = _banner(window)
            assert banner.message.text() == "This chat is not being saved: the disk is full."
            assert "Free some space on the disk" in banner.hint.text()
            assert "Nothing is lost" in banner.hint.text()
            screenshot(window, "store-disk-full")

            async def room_again():
                disk.free()
                await _ask(qtbot, window, "And of Italy?")
                await wait_for(
                    lambda: _banner(window) and "saved again" in _banner(window).message.text()
                )

            loop.run_until_complete(room_again())
            conversation_id = c.conversation_id
        store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
        assert [m.content for m in store.branch(conversation_id)] == [
            "What is the capital of France?",
            "Paris is the capital.",
            "And of Italy?",
            "Rome.",
        ], "what the full disk refused was saved with the next message"
        assert store.conversation(conversation_id).title == "What is the capital of France?"
        store.close()


def test_a_refused_delete_is_said_and_the_chat_stays(qapp, qtbot, fake, _isolated_home):
    fake.script = [Step(pieces=["One."])]
    with tiny_disk(_isolated_home / "data") as disk, running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            await _ask(qtbot, window, "First chat")
            disk.fill()
            window.history.delete_conversation(window.controller.conversation_id)
            await wait_for(lambda: _banner(window), what="the banner")

        loop.run_until_complete(scenario())
        assert "the disk is full" in _banner(window).message.text()
        assert not window.sidebar.undo_bar.isVisible(), "no Undo for what did not happen"
        assert [c.title for c in window.controller.store.conversations()] == ["First chat"]
        assert window.controller.conversation.messages, "the chat on show stays"
        disk.free()


@pytest.mark.parametrize("condition", ["full", "not a folder", "damaged"])
def test_the_window_starts_whatever_the_file_is_like(qapp, fake, _isolated_home, condition):
    """What the file's trouble is, where a damaged one went, and that new chats are not saved
    (read-only or in memory), on the welcome panel; the history when it can be read."""
    data = _isolated_home / "data"
    with contextlib.ExitStack() as stack:
        if condition == "full":
            disk = stack.enter_context(tiny_disk(data))
            store = Store.open(data / "conversations.sqlite3")
            conv = store.new_conversation("Capitals")
            store.add_message(conv, "user", "What is the capital of France?")
            store.close()
            disk.fill()
            stack.callback(disk.free)
        elif condition == "not a folder":
            data.write_text("a file where the data folder should be")
        else:
            data.mkdir()
            (data / "conversations.sqlite3").write_bytes(b"precious, but not a database" * 50)
        with running_window(qapp) as (loop, window):
            loop.run_until_complete(window.controller.refresh())
            notes = window.welcome.notes.text()
            titles = [c.title for c in window.controller.store.conversations()]
            if condition == "damaged":
                (aside,) = [p for p in data.iterdir() if ".damaged-" in p.name]
                assert f"kept as {aside}" in notes
                assert aside.read_bytes().startswith(b"precious")
            else:
                assert "new chats are not saved" in notes
                assert ("the disk is full" if condition == "full" else "is a file") in notes
            assert titles == (["Capitals"] if condition == "full" else [])
            screenshot(window, f"store-start-{condition.replace(' ', '-')}")
    if condition == "not a folder":
        assert data.read_text() == "a file where the data folder should be"


def test_a_deleted_chat_leaves_the_file_when_its_undo_bar_is_gone(
    qapp, qtbot, fake, _isolated_home, monkeypatch
):
    monkeypatch.setattr("desktop_chat.store.UNDO_S", 0.4)
    fake.script = [Step(pieces=["Quokkas live on Rottnest."]), Step(pieces=["Kept."])]
    path = _isolated_home / "data" / "conversations.sqlite3"
    with running_window(qapp) as (loop, window):
        c = window.controller

        async def scenario():
            await c.refresh()
            await _ask(qtbot, window, "Tell me about zanzibarquokka")
            gone = c.conversation_id
            window.new_chat()
            await _ask(qtbot, window, "Keep this one")
            kept = c.conversation_id
            window.history.delete_conversation(kept)
            qtbot.mouseClick(window.sidebar.undo_button, Qt.MouseButton.LeftButton)  # undone
            window.history.delete_conversation(gone)
            assert window.sidebar.undo_bar.isVisible()
            await wait_for(lambda: not window.sidebar.undo_bar.isVisible(), what="the bar")
            await asyncio.sleep(0.8)  # the purge follows the bar
            return gone, kept

        gone, kept = loop.run_until_complete(scenario())
    db = sqlite3.connect(path)
    assert [r[0] for r in db.execute("SELECT id FROM conversations")] == [kept]
    assert (
        db.execute("SELECT count(*) FROM messages WHERE conversation_id = ?", (gone,)).fetchone()[0]
        == 0
    )
    assert (
        db.execute(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'zanzibarquokka'"
        ).fetchone()[0]
        == 0
    )
    db.close()
    on_disk = b"".join(p.read_bytes() for p in path.parent.iterdir())
    assert b"zanzibarquokka" not in on_disk and b"Rottnest" not in on_disk


def test_the_quick_prompt_on_a_full_disk_says_so_and_keeps_the_answer(
    qapp, qtbot, fake, _isolated_home
):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    fake.script = [Step(pieces=["Paris."])]
    with tiny_disk(_isolated_home / "data") as disk, running_window(qapp) as (loop, window):
        quick = quick_prompt_for(window)

        async def scenario():
            await window.controller.refresh()
            quick.present()
            disk.fill()
            qtbot.keyClicks(quick.input, "What is the capital of France?")
            qtbot.keyClick(quick.input, Qt.Key.Key_Return)
            await wait_for(
                lambda: quick.reply is not None and quick.reply.text == "Paris.", what="the answer"
            )

        loop.run_until_complete(scenario())
        assert quick.attached.isVisible()
        assert quick.attached.text().startswith("This chat is not being saved: the disk is full.")
        assert "Free some space" in quick.attached.text()
        screenshot(quick, "quick-prompt-disk-full")
        quick.hide()


def test_a_chat_the_full_disk_refused_is_kept_when_left_and_saved_once_there_is_room(
    qapp, qtbot, fake, _isolated_home
):
    """⌘N away from a chat whose rows the disk refused: it is not dropped from memory, and it
    is written at the next switch once there is room (not only at quit)."""
    fake.script = [Step(pieces=["Paris."]), Step(pieces=["Rome."])]
    path = _isolated_home / "data" / "conversations.sqlite3"
    with tiny_disk(_isolated_home / "data") as disk, running_window(qapp) as (loop, window):
        c = window.controller

        async def scenario():
            await c.refresh()
            disk.fill()
            await _ask(qtbot, window, "What is the capital of France?")
            await wait_for(lambda: _banner(window), what="the not-saved banner")
            window.new_chat()  # ⌘N: the unsaved chat is left behind
            assert c.session.chat.unsaved == 1, "kept, not dropped"
            disk.free()
            await _ask(qtbot, window, "And of Italy?")
            window.new_chat()  # a switch with room again: the chat left is written

        loop.run_until_complete(scenario())
        assert c.session.chat.unsaved == 0
        reader = sqlite3.connect(path)
        chats = reader.execute(
            "SELECT c.title, group_concat(m.content, ' | ') FROM conversations c"
            " JOIN messages m ON m.conversation_id = c.id GROUP BY c.id ORDER BY c.id"
        ).fetchall()
        reader.close()
        assert sorted(chats) == sorted(
            [
                ("What is the capital of France?", "What is the capital of France? | Paris."),
                ("And of Italy?", "And of Italy? | Rome."),
            ]
        ), chats
