"""The conversation store: branches instead of overwrites, search, undoable deletes, export
round trips, migrations with a backup, and a damaged or locked file handled without loss."""

from __future__ import annotations

import json
import sqlite3

import pytest

from desktop_chat import store as store_module
from desktop_chat.drafts import NEW, Drafts, key_for
from desktop_chat.store import Store, StoreError
from desktop_chat.store_export import export_conversation, import_conversation, to_markdown


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "data" / "conversations.sqlite3")
    yield s
    s.close()


def _chat(store: Store) -> tuple[int, int, int]:
    conv = store.new_conversation("Capitals", model="tiny")
    q = store.add_message(conv, "user", "What is the capital of France?")
    a = store.add_message(
        conv, "assistant", "Paris.", parent_id=q, model="tiny", meta={"tokens_per_s": 40.0}
    )
    return conv, q, a


def test_a_new_database_is_wal_migrated_and_sound(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.version == len(store_module.MIGRATIONS)
    assert store.integrity_ok() and store.notes == []


def test_regenerate_and_edit_make_branches_and_versions_can_be_flipped(store):
    conv, q, a = _chat(store)
    a2 = store.add_message(conv, "assistant", "The capital is Paris.", parent_id=q)
    assert [m.content for m in store.branch(conv)] == [
        "What is the capital of France?",
        "The capital is Paris.",
    ]
    assert store.versions(a2) == [a, a2]
    # Edit the question: a sibling of the first user message, with its own reply.
    q2 = store.add_message(conv, "user", "What is the capital of Italy?")
    store.add_message(conv, "assistant", "Rome.", parent_id=q2)
    assert [m.content for m in store.branch(conv)] == ["What is the capital of Italy?", "Rome."]
    assert store.versions(q) == [q, q2]
    # Flip back to the first question: its latest reply comes with it; nothing was lost.
    shown = store.show_version(q)
    assert [m.content for m in shown] == ["What is the capital of France?", "The capital is Paris."]
    assert [m.content for m in store.branch(conv)] == [m.content for m in shown]
    shown = store.show_version(a)
    assert shown[-1].content == "Paris." and shown[-1].meta == {"tokens_per_s": 40.0}


def test_a_streaming_reply_is_saved_then_completed(store):
    conv, q, _ = _chat(store)
    r = store.add_message(conv, "assistant", "", parent_id=q, interrupted=True)
    store.update_message(r, "Half a rep", interrupted=True)
    assert store.message(r).content == "Half a rep" and store.message(r).interrupted
    store.update_message(
        r,
        "Half a reply, then the rest.",
        interrupted=False,
        meta={"ttft_s": 0.2},
        model="tiny",
        provider="mlx",
    )
    done = store.message(r)
    assert not done.interrupted and done.model == "tiny" and done.meta == {"ttft_s": 0.2}
    assert [h.message_id for h in store.search("rest")] == [r]


def test_search_finds_words_highlights_them_and_skips_deleted(store):
    conv, _, _ = _chat(store)
    other = store.new_conversation("Code")
    store.add_message(other, "user", 'How do I "reverse" a list in Python? (quickly)')
    hits = store.search("capit fran")  # prefixes, as typed
    assert [(h.conversation_id, h.title) for h in hits] == [(conv, "Capitals")]
    assert "[capital]" in hits[0].snippet and "[France]" in hits[0].snippet
    assert store.search('"reverse" (quickly') != []  # punctuation is taken literally
    assert store.search("   ") == []
    store.delete_conversation(other)
    assert store.search("reverse") == []
    store.undelete(other)
    assert len(store.search("reverse")) == 1


def test_list_rename_pin_delete_undo_and_purge(store):
    first, _, _ = _chat(store)
    second = store.new_conversation("Later")
    assert [c.id for c in store.conversations()] == [second, first]
    store.update_conversation(first, pinned=True, title="Pinned one")
    assert [c.title for c in store.conversations()] == ["Pinned one", "Later"]
    store.delete_conversation(first)
    assert [c.id for c in store.conversations()] == [second]
    store.undelete(first)
    assert {c.id for c in store.conversations()} == {first, second}
    store.delete_conversation(second)
    assert store.purge() == 1
    assert store.db.execute("SELECT count(*) FROM conversations").fetchone()[0] == 1
    with pytest.raises(ValueError):
        store.update_conversation(first, content="no")


def test_export_and_import_round_trip_every_branch(store, tmp_path):
    conv, q, _ = _chat(store)
    store.add_message(conv, "assistant", "Paris, on the Seine.", parent_id=q)
    data = json.loads(
        json.dumps(export_conversation(store, conv))
    )  # through a file's worth of JSON
    copy = import_conversation(store, data)
    assert [m.content for m in store.branch(copy)] == [m.content for m in store.branch(conv)]
    versions = store.versions(store.branch(copy)[-1].id)
    assert len(versions) == 2
    md = to_markdown("Capitals", store.branch(conv))
    assert md.startswith("# Capitals") and "## You" in md and "Paris, on the Seine." in md
    with pytest.raises(StoreError, match="not a Desktop Chat conversation"):
        import_conversation(store, {"messages": []})


def test_a_new_migration_backs_up_first_and_keeps_the_data(tmp_path, monkeypatch):
    path = tmp_path / "conversations.sqlite3"
    s = Store.open(path)
    conv, _, _ = _chat(s)
    s.close()

    def colour(db):
        db.execute("ALTER TABLE conversations ADD COLUMN colour TEXT")

    latest = len(store_module.MIGRATIONS)
    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, colour])
    s = Store.open(path)
    assert s.version == latest + 1
    assert any("Backed up" in n for n in s.notes)
    backup = tmp_path / f"conversations.sqlite3.before-v{latest + 1}"
    old = sqlite3.connect(backup)
    assert old.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == latest
    assert old.execute("SELECT count(*) FROM messages").fetchone()[0] == 2
    old.close()
    assert [m.content for m in s.branch(conv)][-1] == "Paris."
    s.close()


def test_a_damaged_file_is_kept_aside_and_a_new_one_started(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    path.write_bytes(b"this is not a database, but someone's precious bytes" * 100)
    s = Store.open(path)
    aside = [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    assert s.notes and "kept as" in s.notes[0] and s.integrity_ok()
    s.close()


def test_a_locked_database_says_what_to_do(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE t (x)")
    try:
        with pytest.raises(StoreError, match="locked") as caught:
            Store.open(path)
        assert "Quit the other" in caught.value.hint
        assert path.exists(), "never moved aside or deleted"
    finally:
        holder.execute("COMMIT")
        holder.close()


def test_every_earlier_schema_version_migrates_to_the_latest(tmp_path, monkeypatch):
    """A database left at each earlier version (by an older Desktop Chat) opens, is backed up,
    migrated, and keeps its conversations."""
    migrations = store_module.MIGRATIONS
    for version in range(1, len(migrations)):
        path = tmp_path / f"v{version}.sqlite3"
        monkeypatch.setattr(store_module, "MIGRATIONS", migrations[:version])
        old = Store.open(path)
        # Written with the columns that version had (what the older app would have written).
        conv = old.db.execute(
            "INSERT INTO conversations (title, created, updated) VALUES ('Capitals', 1, 1)"
        ).lastrowid
        q = old.db.execute(
            "INSERT INTO messages (conversation_id, role, content, created,"
            " updated) VALUES (?, 'user', 'What is the capital of France?', 1, 1)",
            (conv,),
        ).lastrowid
        a = old.db.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content,"
            " created, updated) VALUES (?, ?, 'assistant', 'Paris.', 1, 1)",
            (conv, q),
        ).lastrowid
        old.db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (a, conv))
        old.close()
        monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
        s = Store.open(path)
        assert s.version == len(migrations) and s.integrity_ok()
        assert (tmp_path / f"v{version}.sqlite3.before-v{version + 1}").exists()
        assert [m.content for m in s.branch(conv)] == ["What is the capital of France?", "Paris."]
        # What the latest version added works on the migrated file: drafts, and a purged
        # conversation taking its draft with it.
        drafts = Drafts(s)
        assert drafts.save(key_for(conv), "And of Italy?") and drafts.save(NEW, "Hello")
        assert drafts.get(key_for(conv)) == "And of Italy?" and drafts.get(NEW) == "Hello"
        s.delete_conversation(conv)
        s.purge()
        assert drafts.get(key_for(conv)) == "" and drafts.get(NEW) == "Hello"
        s.close()
