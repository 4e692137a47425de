"""Conversations kept in the store, seen from the window: the sidebar lists them, search opens
one at the hit, versions of edited and regenerated turns can be flipped, delete can be undone,
and export/import round-trip."""

from __future__ import annotations

import asyncio
import json

from PySide6.QtCore import Qt

from desktop_chat.store import Store
from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for


def _titles(window) -> list[str]:
    lst = window.sidebar.list
    return [lst.item(i).text() for i in range(lst.count())]


async def _ask(qtbot, window, text):
    type_and_send(qtbot, window, text)
    await wait_for(lambda: reply_done(window), what=text)


def test_chats_are_listed_searched_and_reopened(qapp, qtbot, fake, _isolated_home):
    fake.script = [
        Step(pieces=["Paris is the ", "capital."]),
        Step(pieces=["Use ", "slicing."]),
        Step(pieces=["Rome."]),
    ]
    with running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            await _ask(qtbot, window, "What is the capital of France?")
            qtbot.keyClick(window.composer.edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
            await _ask(qtbot, window, "How do I reverse a list in Python?")
            assert _titles(window) == [
                "How do I reverse a list in Python?",
                "What is the capital of France?",
            ]
            qtbot.keyClick(window.composer.edit, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
            assert window.sidebar.search.hasFocus() or window.focusWidget() is window.sidebar.search
            qtbot.keyClicks(window.sidebar.search, "capit")
            assert window.sidebar.showing_hits and window.sidebar.list.count() == 2
            label = window.sidebar.list.itemWidget(window.sidebar.list.item(0))
            assert "<b>capital</b>" in label.text()
            screenshot(window, "search")
            window.sidebar.list.itemClicked.emit(window.sidebar.list.item(0))
            await wait_for(
                lambda: (
                    window.controller.conversation.messages
                    and window.controller.conversation.messages[0].content.startswith(
                        "What is the capital"
                    )
                )
            )
            window.sidebar.search.clear()
            assert _titles(window)[0] == "How do I reverse a list in Python?"
            # The reopened conversation goes on where it was.
            await _ask(qtbot, window, "And Italy?")

        loop.run_until_complete(scenario())
        messages = window.controller.conversation.messages
        assert [m.content for m in messages] == [
            "What is the capital of France?",
            "Paris is the capital.",
            "And Italy?",
            "Rome.",
        ]
        assert [r.text for r in window.view.replies()] == ["Paris is the capital.", "Rome."]


def test_regenerate_and_edit_keep_versions_to_flip_between(qapp, qtbot, fake):
    fake.script = [
        Step(pieces=["First answer."]),
        Step(pieces=["Second answer."]),
        Step(pieces=["About Italy."]),
    ]
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def scenario():
            await controller.refresh()
            await _ask(qtbot, window, "Tell me about France")
            qtbot.mouseClick(window.view.replies()[-1].regenerate_button, Qt.MouseButton.LeftButton)
            await wait_for(lambda: controller.busy)
            await wait_for(lambda: reply_done(window))
            reply = window.view.replies()[-1]
            assert reply.text == "Second answer." and reply.versions.label.text() == "2/2"
            screenshot(window, "versions")
            qtbot.mouseClick(reply.versions.back, Qt.MouseButton.LeftButton)
            await wait_for(
                lambda: window.view.replies() and window.view.replies()[-1].text == "First answer."
            )
            assert window.view.replies()[-1].versions.label.text() == "1/2"
            # Edit the question: a second version of it, with its own reply.
            qtbot.mouseClick(window.view.items[0].edit_button, Qt.MouseButton.LeftButton)
            window.composer.edit.selectAll()
            await _ask(qtbot, window, "Tell me about Italy")
            assert window.view.items[0].versions.label.text() == "2/2"
            qtbot.mouseClick(window.view.items[0].versions.back, Qt.MouseButton.LeftButton)
            await wait_for(
                lambda: controller.conversation.messages[0].content == "Tell me about France"
            )

        loop.run_until_complete(scenario())
        # Back on the first question, with its newest reply (the older one is ‹ away).
        assert [m.content for m in controller.conversation.messages] == [
            "Tell me about France",
            "Second answer.",
        ]
        assert window.view.replies()[-1].versions.label.text() == "2/2"


def test_delete_undo_rename_pin_export_and_import(qapp, qtbot, fake, tmp_path):
    fake.script = [Step(pieces=["One."]), Step(pieces=["Two."])]
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def scenario():
            await controller.refresh()
            await _ask(qtbot, window, "First chat")
            window.new_chat()
            await _ask(qtbot, window, "Second chat")

        loop.run_until_complete(scenario())
        first, second = sorted(c.id for c in controller.store.conversations())
        reply_file = tmp_path / "reply.md"
        window.ask_save_path = lambda suggested: suggested == "reply.md" and str(reply_file)
        qtbot.mouseClick(window.view.replies()[-1].save_button, Qt.MouseButton.LeftButton)
        assert reply_file.read_text() == "Two.\n"
        stored = controller.store.branch(second)[-1]
        assert stored.params == controller.session.params().to_dict() and stored.provider == "fake"
        window.history.rename(first, "Renamed")
        window.history.pin(first, True)
        assert _titles(window) == ["Pinned", "Renamed", "Recent", "Second chat"]
        window.history.delete_conversation(second)
        assert window.controller.conversation.messages == [], "the open chat was deleted"
        assert "Second chat" not in _titles(window) and window.sidebar.undo_bar.isVisible()
        qtbot.mouseClick(window.sidebar.undo_button, Qt.MouseButton.LeftButton)
        assert "Second chat" in _titles(window)
        out_md, out_json = tmp_path / "chat.md", tmp_path / "chat.json"
        window.ask_save_path = lambda suggested: str(out_md)
        window.history.export_conversation(first, "md")
        assert out_md.read_text().startswith("# Renamed") and "One." in out_md.read_text()
        window.ask_save_path = lambda suggested: str(out_json)
        window.history.export_conversation(first, "json")
        assert json.loads(out_json.read_text())["title"] == "Renamed"
        window.history.ask_open_path = lambda *a: str(out_json)
        window.history.import_conversation()
        loop.run_until_complete(wait_for(lambda: len(controller.store.conversations()) == 3))
        assert [m.content for m in controller.conversation.messages] == ["First chat", "One."]
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        window.history.ask_open_path = lambda *a: str(bad)
        window.history.import_conversation()
        loop.run_until_complete(asyncio.sleep(0.1))
        banner = window.view.items[-1]
        assert "bad.json could not be imported" in banner.message.text()


def test_a_locked_database_still_lets_the_app_start(qapp, _isolated_home):
    import sqlite3

    path = _isolated_home / "data" / "conversations.sqlite3"
    path.parent.mkdir(parents=True)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE t (x)")
    try:
        with running_window(qapp) as (loop, window):
            loop.run_until_complete(window.controller.refresh())
            assert "locked" in window.welcome.notes.text()
            assert "not saved" in window.welcome.notes.text()
    finally:
        holder.execute("COMMIT")
        holder.close()
    s = Store.open(path)  # once the other program lets go, the file is fine
    assert s.integrity_ok()
    s.close()


def test_a_long_conversation_opens_at_its_end_and_earlier_turns_come_on_request(
    qapp, fake, _isolated_home
):
    from desktop_chat.gui.conversation_view import FIRST, PAGE
    from tests.bench.store_bench import fill

    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    (conv,) = fill(store, 1, 100)
    early_id = store.branch_ids(conv)[3]
    store.db.execute(
        "UPDATE messages SET content = 'a needle in the haystack' WHERE id = ?", (early_id,)
    )
    store.close()
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        # Counted as the conversation is put on show, before the next page's timer can fire
        # (a busy machine may run that timer before this test's loop looks again).
        first_frame: list[int] = []
        window.controller.conversation_replaced.connect(
            lambda _conversation: first_frame.append(len(window.view.items))
        )
        window.history.open_conversation(conv)
        loop.run_until_complete(wait_for(lambda: first_frame))
        assert first_frame == [FIRST], "the first frame draws only what shows"
        assert window.view.items[-1].index == 99
        loop.run_until_complete(wait_for(lambda: len(window.view.items) == PAGE))
        bar = window.view.verticalScrollBar()
        assert bar.value() == bar.maximum(), "still at the newest turn"
        assert window.view.earlier.isVisible()
        assert window.view.earlier.text() == "Show 40 earlier messages (60 in all)"
        window.view.earlier.click()
        assert len(window.view.items) == 80 and window.view.items[0].index == 20
        # A search hit far back opens the conversation with that turn on show.
        window.sidebar.search.setText("needle")
        window.sidebar.list.itemClicked.emit(window.sidebar.list.item(0))
        loop.run_until_complete(
            wait_for(lambda: any(getattr(i, "index", -1) == 3 for i in window.view.items))
        )
        assert len(window.controller.conversation.messages) == 100


def test_a_damaged_database_is_kept_aside_and_the_app_starts(qapp, qtbot, fake, _isolated_home):
    path = _isolated_home / "data" / "conversations.sqlite3"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00garbage that is not SQLite\x00" * 64)
    fake.script = [Step(pieces=["Fine."])]
    with running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            banner = window.view.items[-1]
            assert "kept as" in banner.message.text(), "the window says what happened"
            await asyncio.sleep(0.1)
            screenshot(window, "damaged-database")
            type_and_send(qtbot, window, "Still working?")
            await wait_for(lambda: reply_done(window))

        loop.run_until_complete(scenario())
        assert window.view.replies()[-1].text == "Fine."
        notes = window.controller.store.notes
        assert notes and "kept as" in notes[0] and "new one was started" in notes[0]
    kept = [p for p in path.parent.iterdir() if ".damaged-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"\x00garbage")


def test_importing_a_fifo_or_a_device_is_refused_at_once(qapp, qtbot, fake, tmp_path):
    """Import reads a regular file only, and only so much of it: a FIFO (which would block the
    reading thread and the app's quit) or /dev/zero (which would fill the memory) chosen in
    the file dialog gets a banner at once."""
    import os

    fifo = tmp_path / "conversation.json"
    os.mkfifo(fifo)
    fake.script = [Step(pieces=["Paris."])]
    with running_window(qapp) as (loop, window):

        async def a_chat_on_show():
            await window.controller.refresh()
            await _ask(qtbot, window, "What is the capital of France?")

        loop.run_until_complete(a_chat_on_show())
        for chosen, said in (
            (fifo, "conversation.json is not a regular file"),
            ("/dev/zero", "zero is not a regular file"),
        ):
            window.history.ask_open_path = lambda *a, chosen=chosen: str(chosen)
            window.history.import_conversation()
            loop.run_until_complete(
                wait_for(
                    lambda said=said: (
                        type(window.view.items[-1]).__name__ == "ErrorBanner"
                        and said in window.view.items[-1].message.text()
                    ),
                    limit_s=10,
                    what=said,
                )
            )
        assert len(window.controller.store.conversations()) == 1, "nothing was imported"
