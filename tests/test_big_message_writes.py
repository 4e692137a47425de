"""Sending a 2 MB message (a log pasted in) writes nothing of that size on the window's thread:
its row (indexed for search, journalled) and its draft are written on the store's thread, the
message before the request leaves, and all of it is in the file after. The same for the quick
prompt. (The timings are in ``tests/bench``: event-loop lag while sending.)"""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt

from desktop_chat.gui.composer import DRAFT_DELAY_MS
from desktop_chat.store import Store
from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, wait_for

LINE = "The quick brown fox jumps over the lazy dog, and then it rests a while. " * 14
BIG = (LINE + "\n") * (2_000_000 // (len(LINE) + 1)) + "the very end"


class Watched:
    """The store's connection, noting each statement: on which thread, how many characters
    of text it carried, and how many requests the server had seen when it was done."""

    def __init__(self, db, fake) -> None:
        self.db, self.fake, self.seen = db, fake, []

    def execute(self, sql, params=()):
        result = self.db.execute(sql, params)
        size = sum(len(p) for p in params if isinstance(p, str))
        posts = sum(1 for r in self.fake.requests if r["method"] == "POST")
        gui = threading.current_thread() is threading.main_thread()
        self.seen.append((" ".join(sql.split()[:3]), size, gui, posts))
        return result

    def __getattr__(self, name):
        return getattr(self.db, name)

    def big(self, on_gui: bool) -> list[tuple]:
        return [s for s in self.seen if s[1] > 1_000_000 and s[2] is on_gui]

    def on_gui(self, table: str) -> list[tuple]:
        return [s for s in self.seen if s[2] and table in s[0] and not s[0].startswith("SELECT")]


def test_a_2_mb_message_and_its_draft_are_written_off_the_gui_thread(
    qapp, qtbot, fake, _isolated_home
):
    fake.script = [Step(pieces=["Got it."])]
    with running_window(qapp) as (loop, window):
        store = window.controller.store
        watched = store.db = Watched(store.db, fake)
        edit = window.composer.edit

        async def scenario():
            await window.controller.refresh()
            edit.setPlainText(BIG)  # pasted
            await wait_for(
                lambda: watched.big(False) or watched.big(True),
                limit_s=DRAFT_DELAY_MS / 1000 + 5,
                what="the draft saved",
            )
            store.idle()
            qtbot.keyClick(edit, Qt.Key.Key_Return)
            await wait_for(lambda: reply_done(window), what="the reply")
            store.idle()

        try:
            loop.run_until_complete(scenario())
        finally:
            store.db = watched.db
        conversation_id = window.controller.conversation_id
        rows = window.sidebar.list
        shown = [rows.item(i).data(Qt.ItemDataRole.UserRole) for i in range(rows.count())]
    assert watched.big(True) == [], "nothing of the text's size was written on the GUI thread"
    kinds = [s[0] for s in watched.big(False)]
    assert kinds == ["INSERT INTO drafts", "INSERT INTO messages"], kinds
    assert watched.on_gui("drafts") == [], "the sent draft was removed off the GUI thread too"
    # The sidebar's list, read once the question is written (before the reply), is read on
    # the store's thread: here it could wait for the store's lock with the window stopped.
    sent = next(i for i, x in enumerate(watched.seen) if x[0] == "INSERT INTO messages")
    # (The reply's end reads it again on the GUI thread, which may come first on a busy machine.)
    lists = [x for x in watched.seen[sent:] if x[0] == "SELECT id, title,"]
    assert any(gui is False for _, _, gui, _ in lists), "the sidebar's list was read here"
    assert [i[0] for i in shown if i] == [conversation_id], "the sidebar shows the new chat"
    (message,) = [s for s in watched.seen if s[0] == "INSERT INTO messages" and s[1] > 1e6]
    assert message[3] == 0, "the message was saved before the request was sent"
    assert fake.requests[-1]["body"]["messages"][-1]["content"] == BIG.strip()
    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    question, reply = store.branch(conversation_id)
    assert question.content == BIG.strip() and reply.content == "Got it."
    assert not reply.interrupted
    assert store.db.execute("SELECT count(*) FROM drafts").fetchone()[0] == 0
    store.close()


def test_the_quick_prompt_writes_a_2_mb_question_off_the_gui_thread(
    qapp, qtbot, fake, _isolated_home
):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    fake.script = [Step(pieces=["Read it."])]
    with running_window(qapp) as (loop, window):
        quick = quick_prompt_for(window)
        store = window.controller.store
        watched = store.db = Watched(store.db, fake)

        async def scenario():
            await window.controller.refresh()
            quick.present()
            quick.input.setPlainText(BIG)
            qtbot.keyClick(quick.input, Qt.Key.Key_Return)
            await wait_for(lambda: quick.continue_button.isEnabled(), what="the answer")
            store.idle()

        try:
            loop.run_until_complete(scenario())
        finally:
            store.db = watched.db
            quick.hide()
            quick.deleteLater()
        conversation_id = quick.session.conversation_id
    assert watched.big(True) == [], "nothing of the text's size was written on the GUI thread"
    (message,) = [s for s in watched.big(False) if s[0] == "INSERT INTO messages"]
    assert message[3] == 0, "the question was saved before the request was sent"
    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    assert [m.content for m in store.branch(conversation_id)] == [BIG.strip(), "Read it."]
    store.close()


def test_a_new_chat_while_the_2_mb_question_is_being_written_keeps_it_once(
    qapp, qtbot, fake, _isolated_home
):
    """⌘N in the moment the question is written on the store's thread: the turn stops before
    anything is sent, the question is kept (once), and no empty reply row is left behind."""
    with running_window(qapp) as (loop, window):
        c = window.controller
        edit = window.composer.edit

        async def scenario():
            await c.refresh()
            edit.setPlainText(BIG)
            qtbot.keyClick(edit, Qt.Key.Key_Return)
            first = c.conversation_id
            window.new_chat()  # before the loop has run the turn's first step
            await wait_for(lambda: not c.busy, what="the stopped turn")
            c.store.idle()
            window.history.open_conversation(first)
            await wait_for(lambda: c.conversation_id == first, what="the first chat")
            return first

        first = loop.run_until_complete(scenario())
        assert [m.content for m in c.conversation.messages] == [BIG.strip()]
        assert [type(i).__name__ for i in window.view.items] == ["UserMessage"]
    assert not [r for r in fake.requests if r["method"] == "POST"], "nothing was sent"
    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    rows = [(m.role, len(m.content)) for m in store.messages(first)]
    assert rows == [("user", len(BIG.strip()))], rows
    store.close()
