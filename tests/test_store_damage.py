"""A damaged database that still opens (pages in the middle of a real file overwritten with
garbage): opening does not wait for a check, the check after opening finds it, a read that
meets the damage is a sentence with what to do (never a bare ``sqlite3`` error), and what can
still be read is copied into a new file while the damaged one is kept aside as it was, under a
name no earlier copy has. The conversation on show is written again where the copy lacks it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from desktop_chat import store_files
from desktop_chat.history import StoredChat
from desktop_chat.store import MIGRATIONS, Store, StoreError
from tests.support.damaged_db import (
    garble,
    leaf_pages,
    readable_messages,
    unreadable_conversations,
    write_chats,
)

STAMP = "20260101-120000"


@pytest.fixture
def damaged(tmp_path, monkeypatch) -> tuple[Path, dict[int, int], str]:
    """A real database of 12 chats × 120 messages with two message pages garbled; the file's
    digest once damaged."""
    monkeypatch.setattr(store_files.time, "strftime", lambda fmt: STAMP)
    path = tmp_path / "conversations.sqlite3"
    counts = write_chats(path)
    garble(path, "messages", pages=2)
    assert len(unreadable_conversations(path)) == 1
    return path, counts, hashlib.sha256(path.read_bytes()).hexdigest()


def _unreadable(store: Store, counts: dict[int, int]) -> list[tuple[int, StoreError]]:
    failed = []
    for conv in counts:
        try:
            store.branch(conv)
        except StoreError as err:
            failed.append((conv, err))
    return failed


def test_a_damaged_file_that_opens_is_found_after_opening_and_what_can_be_read_is_kept(
    damaged,
):
    path, counts, digest = damaged
    readable = readable_messages(path)
    earlier = path.with_name(f"{path.name}.damaged-{STAMP}")
    earlier.write_bytes(b"an earlier damaged copy, kept by an earlier start")
    store = Store.open(path)
    news: list[StoreError] = []
    store.listen(news.append)
    store.checked()
    (told,) = news
    aside = path.with_name(f"{path.name}.damaged-{STAMP}-2")
    assert told.kind == "repaired"
    assert f"the damaged file is kept as {aside}" in told.message
    assert "12 conversations" in told.message
    assert told.message in store.notes[-1]
    # The damaged file is kept as it was; the earlier copy is not touched.
    assert hashlib.sha256(aside.read_bytes()).hexdigest() == digest
    assert earlier.read_bytes() == b"an earlier damaged copy, kept by an earlier start"
    # The store goes on with the copy: sound, every conversation, all but the lost messages.
    assert store.integrity_ok()
    assert sorted(c.id for c in store.conversations()) == sorted(counts)
    kept = {conv: len(store.message_ids(conv)) for conv in counts}
    lost = sum(counts.values()) - sum(kept.values())
    assert 0 < lost < 40, kept  # two pages' worth
    # Every message SQLite could still read, one by one, is in the copy.
    assert set().union(*(store.message_ids(conv) for conv in counts)) == readable
    # Each branch runs past the gap: the message after it follows the one before it.
    assert all(len(store.branch(conv)) == kept[conv] for conv in counts)
    assert store.search("chat 3")  # the search index is built again
    assert store.draft(str(min(counts))) == "a draft kept through the damage"
    # And it takes new messages.
    conv = min(counts)
    store.add_message(conv, "user", "Still here?", parent_id=store.branch_ids(conv)[-1])
    store.close()
    again = Store.open(path)
    again.checked()
    assert again.notes == [] and again.integrity_ok()
    assert again.branch(conv)[-1].content == "Still here?"
    again.close()


def test_a_read_that_meets_the_damage_is_a_sentence_and_repairs_the_file(damaged):
    path, counts, digest = damaged
    store = Store.open(path, check=False)  # the read finds it before any check does
    news: list[StoreError] = []
    store.listen(news.append)
    ((conv, err),) = _unreadable(store, counts)
    assert not isinstance(err, sqlite3.Error)
    assert err.kind == "damaged"
    assert err.message == "Could not read the conversation database: the file is damaged."
    assert "copies what can still be read into a new file" in err.hint
    store.checked()
    (told,) = news
    assert told.kind == "repaired" and ".damaged-" in told.message
    assert _unreadable(store, counts) == []
    assert 0 < counts[conv] - len(store.branch(conv)) < 40
    store.close()
    (aside,) = [p for p in path.parent.iterdir() if p.name.endswith(f".damaged-{STAMP}")]
    assert hashlib.sha256(aside.read_bytes()).hexdigest() == digest


def test_a_damaged_search_index_is_a_sentence_and_is_built_again(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    counts = write_chats(path)
    garble(path, "messages_fts_data", pages=2)
    store = Store.open(path, check=False)
    assert all(len(store.branch(conv)) == n for conv, n in counts.items())  # rows are sound
    with pytest.raises(StoreError) as caught:
        for word in ("paris", "rome", "robot", "story", "capital", "chat"):
            store.search(word)
    assert caught.value.kind == "damaged" and "could not read" in caught.value.message.lower()
    store.checked()
    assert store.search("robot") and store.integrity_ok()
    assert all(len(store.branch(conv)) == n for conv, n in counts.items())  # nothing lost
    store.close()


def test_a_write_that_meets_the_damage_is_refused_in_words_and_repairs_the_file(damaged):
    """A reply saved over a damaged page: a sentence (the chat goes on in ``StoredChat``, which
    says it is not saved for now), and the file is repaired without a restart (reopening would
    not help: the file opens)."""
    path, counts, _ = damaged
    (conv,) = unreadable_conversations(path)
    store = Store.open(path, check=False)
    refused = []
    for message_id in sorted(store.message_ids(conv)):  # ids from the index, which is sound
        try:
            store.update_message(message_id, "edited", interrupted=False)
        except StoreError as err:
            refused.append(err)
    assert refused and all(not isinstance(e, sqlite3.Error) for e in refused)
    assert refused[0].kind == "damaged"
    assert refused[0].message == "Could not save to the conversation database: the file is damaged."
    assert "copies what can still be read" in refused[0].hint
    store.checked()
    assert store.notes and "the damaged file is kept as" in store.notes[-1]
    assert len(store.branch(conv)) < counts[conv] and store.integrity_ok()
    store.close()


def test_the_chat_on_show_is_written_again_where_the_repaired_copy_lacks_it(tmp_path):
    """The disk damages pages after the window read a conversation: what it holds is not lost,
    it is written again from the first message the repaired copy lacks."""
    path = tmp_path / "conversations.sqlite3"
    counts = write_chats(path)
    store = Store.open(path)
    store.checked()
    assert store.notes == []  # sound when opened
    shown = {}
    for conv in counts:
        shown[conv] = StoredChat(store)
        shown[conv].open(conv)
    garble(path, "messages", pages=2)
    store.db.execute("PRAGMA shrink_memory")  # SQLite reads the pages from the disk again
    (conv,) = unreadable_conversations(path)
    with pytest.raises(StoreError):
        store.branch(conv)
    store.checked()
    chat = shown[conv]
    assert len(store.message_ids(conv)) < counts[conv]
    chat.repaired()
    assert chat.problem is None and None not in chat.ids
    assert [m.content for m in store.branch(conv)] == [
        m.content for m in chat.conversation.messages
    ]
    assert len(chat.conversation.messages) == counts[conv]
    store.close()


def test_a_file_damaged_where_opening_reads_is_set_aside_and_what_can_be_read_copied(
    tmp_path, monkeypatch
):
    """Damage in the page opening reads (the migrations' table): the file is set aside at
    once, as before, and now the chats it still holds are copied into the new one."""
    monkeypatch.setattr(store_files.time, "strftime", lambda fmt: STAMP)
    path = tmp_path / "conversations.sqlite3"
    counts = write_chats(path)
    size, (page,) = leaf_pages(path, "schema_migrations")
    with open(path, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(b"\xff" * size)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    store = Store.open(path)
    (note,) = store.notes
    aside = path.with_name(f"{path.name}.damaged-{STAMP}")
    assert f"it was kept as {aside}" in note
    assert f"(12 conversations, {sum(counts.values()):,} messages) was copied" in note
    assert hashlib.sha256(aside.read_bytes()).hexdigest() == digest
    assert all(len(store.branch(conv)) == n for conv, n in counts.items())
    assert store.integrity_ok() and store.version == len(MIGRATIONS)
    store.close()
