"""The store used from two threads at once (the window's, and the one that writes a 2 MB message
for it): a write never lands inside another thread's transaction, writes asked for later run
in order on the store's own thread, closing waits for them, and SQLite's checkpoints run there
too, never in the thread that wrote."""

from __future__ import annotations

import threading

import pytest

from desktop_chat.drafts import NEW, Drafts
from desktop_chat.store import Store, StoreError


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "data" / "conversations.sqlite3")
    yield s
    s.close()


def test_a_write_from_another_thread_waits_for_a_transaction_in_progress(store):
    """Without a lock, the other thread's write runs inside the transaction (one connection)
    and is rolled back with it: a title change the user made, lost."""
    conv = store.new_conversation("Before")
    began, wrote = threading.Event(), threading.Event()

    def rename():
        began.wait(5)
        store.update_conversation(conv, title="Renamed meanwhile")
        wrote.set()

    other = threading.Thread(target=rename)
    other.start()
    with pytest.raises(RuntimeError), store.transaction():
        store.add_message(conv, "user", "rolled back")
        began.set()
        wrote.wait(0.5)  # the rename, if it gets in now, joins this transaction
        raise RuntimeError("the rest of the change failed")
    other.join(5)
    assert wrote.is_set()
    assert store.conversation(conv).title == "Renamed meanwhile", "the rename was kept"
    assert store.branch(conv) == [], "only the failed transaction's own write was undone"


def test_later_writes_run_in_order_off_the_calling_thread_and_close_waits_for_them(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    store = Store.open(path)
    conv = store.new_conversation("Order")
    threads, ids = [], []

    def add(text):  # each after the one before: the branch shows their order
        threads.append(threading.current_thread())
        ids.append(store.add_message(conv, "user", text, parent_id=ids[-1] if ids else None))
        return ids[-1]

    first = store.later(add, "one")
    for text in ("two", "three", "four"):
        store.later(add, text)
    assert first.result(5) > 0
    refused = store.later(store.update_conversation, conv, colour="red")  # not a column
    with pytest.raises(ValueError):
        refused.result(5)
    store.later(add, "five")
    store.close()  # waits for "five"
    assert threading.current_thread() not in threads
    reopened = Store.open(path)
    assert [m.content for m in reopened.branch(conv)] == ["one", "two", "three", "four", "five"]
    reopened.close()


def test_a_refused_later_write_is_a_store_error_in_its_future(store):
    store.db.execute("PRAGMA query_only = ON")  # as a read-only or full database refuses
    with pytest.raises(StoreError):
        store.later(store.new_conversation, "Refused").result(5)


def test_checkpoints_run_on_the_stores_thread_and_keep_the_journal_small(store):
    """SQLite's own checkpoint (every 1000 pages) runs inside whichever write crosses the mark,
    a 50 ms pause on the window's thread; the store turns it off and checkpoints itself."""
    assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    wal = store.path.with_name(store.path.name + "-wal")
    conv = store.new_conversation("Big")
    sizes = []
    for i in range(24):
        store.add_message(conv, "user", f"{i} " + "x" * 1_000_000)  # 24 MB in all
        store.idle()  # the checkpoint asked for, done
        sizes.append(wal.stat().st_size)
    assert max(sizes) < 10_000_000, f"the journal grew to {max(sizes):,} bytes"


def test_drafts_written_later_are_read_back_at_once_and_in_order(store):
    drafts = Drafts(store)
    big = "pasted " * 300_000
    done = [drafts.save_later(NEW, big), drafts.save_later(NEW, "then typed over")]
    assert drafts.get(NEW) == "then typed over", "what is on its way is what is read"
    assert all(f.result(5) for f in done)
    drafts.save_later(NEW, "")
    store.idle()
    assert drafts.get(NEW) == ""
    assert store.db.execute("SELECT count(*) FROM drafts").fetchone()[0] == 0
