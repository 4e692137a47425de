"""The store on an unlucky disk, with the real conditions: a tmpfs filled up, a file and a
folder made read-only, a data folder that is a file, a lock held by another process, damaged
files found by several starts at once. Only what SQLite calls damaged is set aside (under a
name no earlier copy has); everything else is said in a sentence and nothing is renamed or
lost. Imports are all or nothing; deleted conversations leave the file for good."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from desktop_chat import store_files
from desktop_chat.store import UNDO_S, Store, StoreError
from desktop_chat.store_export import export_conversation, import_conversation
from tests.support.disks import obeying_permissions, tiny_disk

PRECIOUS = b"this is not a database, but someone's precious bytes" * 100


def _chat(store: Store, title: str = "Capitals") -> int:
    conv = store.new_conversation(title, model="tiny")
    q = store.add_message(conv, "user", "What is the capital of France?")
    store.add_message(conv, "assistant", "Paris.", parent_id=q)
    return conv


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _asides(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".damaged-" in p.name)


# --- a full disk ---------------------------------------------------------------------------


def test_a_full_disk_refuses_a_write_with_a_sentence_and_loses_nothing(tmp_path):
    with tiny_disk(tmp_path / "disk") as disk:
        path = disk.root / "data" / "conversations.sqlite3"
        store = Store.open(path)
        conv = _chat(store)
        disk.fill()
        with pytest.raises(StoreError) as caught:
            for _ in range(20):  # the WAL may still have room for a page or two
                store.add_message(conv, "user", "More words. " * 2000)
        err = caught.value
        assert err.kind == "full" and "the disk is full" in err.message
        assert "Free some space" in err.hint
        assert not isinstance(err, sqlite3.Error)
        disk.free()
        # The same store goes on.
        store.add_message(conv, "user", "Room again.", parent_id=store.branch_ids(conv)[-1])
        assert [m.content for m in store.branch(conv)] == [
            "What is the capital of France?",
            "Paris.",
            "Room again.",
        ]
        store.close()
        assert _asides(path.parent) == []


def test_starting_on_a_full_disk_shows_the_history_read_only_and_renames_nothing(tmp_path):
    with tiny_disk(tmp_path / "disk") as disk:
        path = disk.root / "data" / "conversations.sqlite3"
        store = Store.open(path)
        _chat(store)
        store.close()
        before = _digest(path)
        disk.fill()
        with pytest.raises(StoreError) as caught:
            Store.open(path)
        assert caught.value.kind == "full"
        session = Store.open_anyway(path)
        assert not session.saved
        (note,) = session.notes
        assert "the disk is full" in note and "new chats are not saved" in note
        assert [c.title for c in session.conversations()] == ["Capitals"]
        session.new_conversation("This session only")  # works, in memory
        session.close()
        assert _digest(path) == before and _asides(path.parent) == []
        disk.free()
        again = Store.open(path)
        assert [c.title for c in again.conversations()] == ["Capitals"]
        again.close()


# --- read-only and unreadable places -------------------------------------------------------

_OPEN_AS_A_USER = textwrap.dedent("""
    import json, sys
    from desktop_chat.store import Store, StoreError
    path = sys.argv[1]
    report = {}
    try:
        Store.open(path).close()
        report["opened"] = True
    except StoreError as err:
        report.update(kind=err.kind, message=err.message, hint=err.hint)
    session = Store.open_anyway(path)
    session.new_conversation("This session only")
    report.update(saved=session.saved, notes=session.notes,
                  titles=[c.title for c in session.conversations()])
    print(json.dumps(report))
""")


def _open_obeying_permissions(path: Path) -> dict:
    done = subprocess.run(
        obeying_permissions([sys.executable, "-c", _OPEN_AS_A_USER, str(path)]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("what", ["file", "folder", "both"])
def test_a_read_only_file_or_folder_opens_read_only_and_is_left_untouched(tmp_path, what):
    folder = tmp_path / "data"
    path = folder / "conversations.sqlite3"
    store = Store.open(path)
    _chat(store)
    store.close()
    before, names = _digest(path), sorted(p.name for p in folder.iterdir())
    if what in ("file", "both"):
        path.chmod(0o444)
    if what in ("folder", "both"):
        folder.chmod(0o555)
    try:
        report = _open_obeying_permissions(path)
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
    assert report.get("kind") == "read-only", report
    assert "read-only" in report["message"] and "writable" in report["hint"]
    assert report["saved"] is False
    assert "new chats are not saved" in report["notes"][0]
    assert report["titles"] == ["This session only", "Capitals"], "the history, read-only"
    assert _digest(path) == before
    if what != "file":  # nothing could be written beside it, not even -wal or -shm
        assert sorted(p.name for p in folder.iterdir()) == names


def test_an_unreadable_file_opens_an_empty_session_and_says_so(tmp_path):
    path = tmp_path / "data" / "conversations.sqlite3"
    store = Store.open(path)
    _chat(store)
    store.close()
    before = _digest(path)
    path.chmod(0o000)
    try:
        report = _open_obeying_permissions(path)
    finally:
        path.chmod(0o644)
    assert report["kind"] == "cannot open" and "cannot be opened" in report["message"]
    assert report["saved"] is False and "new chats are not saved" in report["notes"][0]
    assert report["titles"] == ["This session only"]
    assert _digest(path) == before and _asides(path.parent) == []


def test_a_read_only_volume_opens_read_only(tmp_path):
    with tiny_disk(tmp_path / "disk") as disk:
        path = disk.root / "conversations.sqlite3"
        store = Store.open(path)
        _chat(store)
        store.close()
        disk.remount("ro")
        try:
            with pytest.raises(StoreError) as caught:
                Store.open(path)
            assert caught.value.kind == "read-only"
            session = Store.open_anyway(path)
            assert [c.title for c in session.conversations()] == ["Capitals"]
            assert "new chats are not saved" in session.notes[0]
            session.close()
        finally:
            disk.remount("rw")


def test_a_data_folder_that_is_a_file_is_named_and_left_alone(tmp_path):
    data = tmp_path / "data"
    data.write_text("my own notes, not a folder")
    path = data / "conversations.sqlite3"
    with pytest.raises(StoreError) as caught:
        Store.open(path)
    err = caught.value
    assert err.kind == "not a folder" and f"{data} is a file" in err.message
    assert f"Move or rename the file {data}" in err.hint
    session = Store.open_anyway(path)
    assert not session.saved and "new chats are not saved" in session.notes[0]
    assert session.conversations() == []
    session.close()
    assert data.read_text() == "my own notes, not a folder"


# --- a lock held by another program --------------------------------------------------------

_HOLD = textwrap.dedent("""
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    if sys.argv[2] == "exclusive":  # no one else may even read
        db.execute("PRAGMA locking_mode = EXCLUSIVE")
    db.execute("BEGIN IMMEDIATE" if sys.argv[2] == "writing" else "BEGIN EXCLUSIVE")
    db.execute("INSERT INTO conversations (title, created, updated) VALUES ('half', 1, 1)")
    print("holding", flush=True)
    sys.stdin.readline()
    db.execute("ROLLBACK")
""")


@pytest.mark.parametrize("how", ["writing", "exclusive"])
def test_a_lock_held_by_another_process_is_said_and_nothing_moves(tmp_path, how):
    path = tmp_path / "data" / "conversations.sqlite3"
    store = Store.open(path)
    _chat(store)
    store.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path), how],
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreError) as caught:
            Store.open(path)
        assert caught.value.kind == "locked" and "locked by another program" in str(caught.value)
        assert "Quit the other" in caught.value.hint
        session = Store.open_anyway(path)
        assert not session.saved and "new chats are not saved" in session.notes[0]
        # Readers may read beside a writer; an exclusive lock keeps everyone out.
        expected = ["Capitals"] if how == "writing" else []
        assert [c.title for c in session.conversations()] == expected
        session.close()
    finally:
        holder.communicate("\n", timeout=30)
    assert _asides(path.parent) == []
    again = Store.open(path)
    assert [c.title for c in again.conversations()] == ["Capitals"] and again.integrity_ok()
    again.close()


# --- damaged files -------------------------------------------------------------------------


def test_damaged_files_found_in_the_same_second_are_all_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(store_files.time, "strftime", lambda fmt: "20260101-120000")
    path = tmp_path / "conversations.sqlite3"
    kept = []
    for n in range(3):
        path.write_bytes(PRECIOUS + str(n).encode())
        store = Store.open(path)
        assert store.integrity_ok() and store.conversations() == []
        (note,) = store.notes
        kept.append(note)
        store.close()
    asides = _asides(tmp_path)
    assert [p.name for p in asides] == [
        "conversations.sqlite3.damaged-20260101-120000",
        "conversations.sqlite3.damaged-20260101-120000-2",
        "conversations.sqlite3.damaged-20260101-120000-3",
    ]
    assert [p.read_bytes() for p in asides] == [PRECIOUS + str(n).encode() for n in range(3)]
    assert all(f"kept as {aside}" in note for aside, note in zip(asides, kept, strict=True))


_START = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from desktop_chat.store import Store
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.001)
    store = Store.open(sys.argv[1])
    conv = store.new_conversation("from " + sys.argv[3])
    store.add_message(conv, "user", "hello from " + sys.argv[3])
    print(json.dumps(store.notes))
    store.close()
""")


def test_starts_at_the_same_moment_on_a_damaged_file_set_it_aside_once(tmp_path):
    """Each start that finds the file damaged sets aside only the file it found damaged:
    never another start's fresh database (which would lose that start's chats)."""
    path = tmp_path / "conversations.sqlite3"
    path.write_bytes(PRECIOUS)
    go = tmp_path / "go"
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", _START, str(path), str(go), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    time.sleep(1.0)  # every start waits at the line
    go.touch()
    notes = []
    for start in starts:
        out, err = start.communicate(timeout=60)
        assert start.returncode == 0, err
        notes += json.loads(out)
    (aside,) = _asides(tmp_path)
    assert aside.read_bytes() == PRECIOUS
    assert len([n for n in notes if "kept as" in n]) == 1
    store = Store.open(path)
    assert sorted(c.title for c in store.conversations()) == [f"from {n}" for n in range(4)]
    store.close()


def test_an_error_that_is_not_damage_never_moves_the_file(tmp_path):
    """The old rule took any error but "locked" for damage."""
    assert not store_files.damaged(OSError(28, "No space left on device"))
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL
    assert not store_files.damaged(full)
    notadb = sqlite3.DatabaseError("file is not a database")
    notadb.sqlite_errorcode = sqlite3.SQLITE_NOTADB
    assert store_files.damaged(notadb)


# --- importing: all or nothing -------------------------------------------------------------


def test_an_import_with_a_malformed_message_adds_nothing_and_names_it(tmp_path):
    store = Store.open(tmp_path / "conversations.sqlite3")
    conv = _chat(store)
    store.add_message(conv, "user", "And Italy?", parent_id=store.branch_ids(conv)[-1])
    store.add_message(conv, "assistant", "Rome.", parent_id=store.branch_ids(conv)[-1])
    data = json.loads(json.dumps(export_conversation(store, conv)))
    del data["messages"][2]["content"]
    counts = store.db.execute(
        "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)"
    ).fetchone()
    with pytest.raises(StoreError) as caught:
        import_conversation(store, data)
    assert caught.value.message == "Message 3 of 4 has no text: its “content” is not a string."
    assert "Nothing was added" in caught.value.hint
    data["messages"][2]["content"] = "And Italy?"
    data["messages"][3]["role"] = "robot"
    with pytest.raises(StoreError, match="Message 4 of 4 has the role 'robot'"):
        import_conversation(store, data)
    assert (
        store.db.execute(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)"
        ).fetchone()
        == counts
    )
    store.close()


def test_an_import_the_disk_cannot_hold_leaves_no_half_conversation(tmp_path):
    with tiny_disk(tmp_path / "disk", size_kb=2048) as disk:
        store = Store.open(disk.root / "conversations.sqlite3")
        conv = store.new_conversation("Long")
        parent = None
        for n in range(8):  # about 400 KB of text
            parent = store.add_message(
                conv,
                "user" if n % 2 == 0 else "assistant",
                f"turn {n} " + "words " * 8000,
                parent_id=parent,
            )
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        data = export_conversation(store, conv)
        disk.fill(leave_kb=150)  # room for two or three of its messages, not for all eight
        with pytest.raises(StoreError) as caught:
            import_conversation(store, data)
        assert caught.value.kind == "full"
        assert [c.title for c in store.conversations()] == ["Long"]
        assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 8
        store.close()


# --- deleted for good ----------------------------------------------------------------------


def _file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


def test_a_purged_conversation_leaves_the_file_and_the_search_index(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    store = Store.open(path)
    kept = _chat(store)
    gone = store.new_conversation("Zanzibar holiday plans")
    store.add_message(gone, "user", "my passport number is quokkasecret42")
    store.delete_conversation(gone)
    assert store.purge(UNDO_S) == 0, "still within the Undo window"
    store.undelete(gone)
    assert [h.conversation_id for h in store.search("quokkasecret42")] == [gone]
    store.delete_conversation(gone)
    assert store.purge(conversation_id=kept) == 0, "only a deleted one is purged"
    assert store.purge() == 1
    db = store.db
    assert (
        db.execute("SELECT count(*) FROM messages WHERE conversation_id = ?", (gone,)).fetchone()[0]
        == 0
    )
    assert (
        db.execute(
            "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'quokkasecret42'"
        ).fetchone()[0]
        == 0
    )
    db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")
    on_disk = _file_bytes(path)
    assert b"quokkasecret42" not in on_disk and b"Zanzibar holiday" not in on_disk
    assert [c.id for c in store.conversations()] == [kept]
    store.close()


def test_opening_removes_what_was_deleted_before_the_undo_window_ran_out(tmp_path):
    path = tmp_path / "conversations.sqlite3"
    store = Store.open(path)
    old, recent, kept = _chat(store, "Old"), _chat(store, "Recent"), _chat(store, "Kept")
    store.delete_conversation(old)
    store.delete_conversation(recent)
    store.db.execute(
        "UPDATE conversations SET deleted = ? WHERE id = ?", (time.time() - UNDO_S - 60, old)
    )
    store.close()
    store = Store.open(path)
    left = {row[0] for row in store.db.execute("SELECT id FROM conversations")}
    assert left == {recent, kept}, "the recent one can still be undone"
    store.undelete(recent)
    assert {c.title for c in store.conversations()} == {"Recent", "Kept"}
    store.close()


def test_personas_and_templates_on_a_full_disk_are_refused_in_words_and_kept_in_the_form(
    tmp_path, qapp
):
    from desktop_chat.gui.library_dialog import LibraryDialog
    from desktop_chat.personas import Library, Persona

    with tiny_disk(tmp_path / "disk") as disk:
        store = Store.open(disk.root / "data" / "conversations.sqlite3")
        library = Library(store)
        library.save_persona(Persona("Pirate", "Talk like a pirate."))
        disk.fill()
        with pytest.raises(StoreError) as caught:  # a typed error, not a bare sqlite3 one
            for n in range(20):  # the WAL may still have room for a page or two
                library.save_persona(Persona(f"Long {n}", "Say a great deal. " * 2000))
        assert caught.value.kind == "full"
        dialog = LibraryDialog(library, "persona")
        dialog.name.setText("Bard")
        dialog.text.setPlainText("Speak in verse. " * 2000)
        assert dialog.save() is False
        assert dialog.status.text().startswith("“Bard” was not saved: the disk is full.")
        assert "Free some space" in dialog.status.text()
        assert dialog.text.toPlainText().startswith("Speak in verse."), "the text stays"
        disk.free()
        assert dialog.save() is True
        assert library.persona("Bard").system_prompt.startswith("Speak in verse.")
        assert library.persona("Pirate").system_prompt == "Talk like a pirate."
        dialog.close()
        store.close()
