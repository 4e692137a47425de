"""What can still be read of a damaged conversation database, copied into a new one.

Python's ``sqlite3`` has no ``.recover`` (that is the ``sqlite3`` shell's), and ``iterdump()``
stops at the first unreadable page. So each table is read in rowid order and, where a page
cannot be read, the scan seeks past it (the table's tree still leads to the pages after a
damaged one): every row that SQLite can still decode is kept, with its id, so that what a
window or a chat holds by id stays valid. Indexes and the search index are not copied: the new
file builds them once the rows are in (the search index in one go: row by row, through its
trigger, costs four times as long). Then the copy is mended so that the app can show it: a
message whose conversation row was lost gets a conversation ("Recovered conversation"), one
whose parent was lost follows the message before it, and a conversation whose last message
was lost ends at its newest one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

#: The tables holding the user's things, parents first. The search index and the migrations'
#: table are made by the new file itself.
TABLES = ("conversations", "messages", "library", "drafts", "images", "message_images")

_LOWEST, _HIGHEST = -(2**63), 2**63 - 1


@dataclass(slots=True)
class Salvage:
    """What the copy holds."""

    conversations: int = 0
    messages: int = 0
    #: How many times reading a table met a damaged part and went on past it.
    skipped: int = 0


def _damaged(exc: BaseException) -> bool:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def readable_rows(
    db: sqlite3.Connection, table: str, columns: list[str], skips: list[int]
) -> list[tuple]:
    """Every row of ``table`` that can be read, as (rowid, *columns), in rowid order; each
    damaged part stepped over is counted in ``skips``."""
    select = f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid >= ? ORDER BY rowid"
    one = select + " LIMIT 1"
    rows: list[tuple] = []
    start = _LOWEST
    while start is not None:
        try:
            for row in db.execute(select, (start,)):
                rows.append(row)
                start = row[0] + 1
            return rows
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
        # Python's cursor steps to the next row before it hands one over: the row just before
        # a damaged page comes with that error. Alone, it can be read.
        found = _first(db, one, start)
        if found:
            rows.append(found)
            start = found[0] + 1
            continue
        skips.append(start)
        start = _past(db, one, start)
    return rows


def _first(db: sqlite3.Connection, one: str, start: int) -> tuple | None:
    """The first row from ``start`` on, read alone; None when it cannot be read (or none is
    there)."""
    try:
        return db.execute(one, (start,)).fetchone()
    except sqlite3.DatabaseError as exc:
        if not _damaged(exc):
            raise
        return None


def _past(db: sqlite3.Connection, first: str, failed: int) -> int | None:
    """The lowest rowid after ``failed`` from which a whole row can be read again (None: no
    readable row follows): seek further and further past it, then back towards it."""

    def works(start: int) -> bool:
        try:
            db.execute(first, (start,)).fetchall()  # LIMIT 1: no step past the row
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            return False
        return True

    bad, step = failed, 1
    while True:
        probe = min(failed + step, _HIGHEST)
        if works(probe):
            break
        bad = probe
        if probe == _HIGHEST:
            return None
        step *= 2
    good = probe
    while good - bad > 1:  # back towards the damage: rows right after it are kept too
        middle = (bad + good) // 2
        if works(middle):
            good = middle
        else:
            bad = middle
    return good


def copy_readable(source: sqlite3.Connection, target: sqlite3.Connection) -> Salvage:
    """Copy what ``source`` can still give of the app's tables into ``target`` (a new file with
    the app's schema), in one transaction, and mend it (see the module's docstring)."""
    salvage = Salvage()
    skips: list[int] = []
    target.execute("PRAGMA foreign_keys = OFF")  # rows whose parent was lost are mended after
    target.execute("BEGIN")
    try:
        (indexing,) = target.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'messages_ai'"
        ).fetchone()
        target.execute("DROP TRIGGER messages_ai")
        for table in TABLES:
            try:
                have = _columns(source, table)
            except sqlite3.DatabaseError as exc:
                if not _damaged(exc):
                    raise
                skips.append(0)
                continue
            columns = [c for c in _columns(target, table) if c in have]
            if not columns:
                continue
            rows = readable_rows(source, table, columns, skips)
            marks = ", ".join("?" * (len(columns) + 1))
            target.executemany(
                f"INSERT INTO {table} (rowid, {', '.join(columns)}) VALUES ({marks})", rows
            )
        target.execute(indexing)
        target.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
        _mend(target)
        target.execute("COMMIT")
    except BaseException:
        if target.in_transaction:
            target.execute("ROLLBACK")
        raise
    target.execute("PRAGMA foreign_keys = ON")
    salvage.skipped = len(skips)
    salvage.conversations = target.execute("SELECT count(*) FROM conversations").fetchone()[0]
    salvage.messages = target.execute("SELECT count(*) FROM messages").fetchone()[0]
    return salvage


def salvage_into(target: sqlite3.Connection, damaged: Path) -> Salvage | None:
    """What can still be read of ``damaged`` (a file set aside as it was), copied into
    ``target``, a new file; None when nothing could be read, or when ``target`` already holds
    chats (another start's, which are not to be mixed with these)."""
    for query in ("mode=ro", "mode=ro&immutable=1"):  # immutable: no -shm file to make
        try:
            source = sqlite3.connect(
                f"{damaged.resolve().as_uri()}?{query}", uri=True, timeout=0.5, isolation_level=None
            )
        except sqlite3.Error:
            continue
        try:
            if target.execute("SELECT 1 FROM conversations LIMIT 1").fetchone():
                return None
            salvage = copy_readable(source, target)
            return salvage if salvage.conversations or salvage.messages else None
        except sqlite3.Error:  # not even the schema can be read, or the new file is refused
            continue
        finally:
            source.close()
    return None


def _mend(db: sqlite3.Connection) -> None:
    """Make the copy whole again where rows were lost."""
    # Messages whose conversation was lost: a conversation of their own, under its old id.
    db.execute(
        """INSERT INTO conversations (id, title, created, updated)
           SELECT conversation_id, 'Recovered conversation', min(created), max(updated)
           FROM messages WHERE conversation_id NOT IN (SELECT id FROM conversations)
           GROUP BY conversation_id"""
    )
    # A message whose parent was lost follows the one before it in its conversation: the
    # branch on show then runs through it instead of stopping at the gap.
    db.execute(
        """UPDATE messages SET parent_id = (
               SELECT max(p.id) FROM messages p
               WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id)
           WHERE parent_id IS NOT NULL AND parent_id NOT IN (SELECT id FROM messages)"""
    )
    # An image reference whose message or image row was lost (the files stay in their folder
    # until the next purge's collection finds them unreferenced).
    db.execute(
        """DELETE FROM message_images WHERE message_id NOT IN (SELECT id FROM messages)
           OR digest NOT IN (SELECT digest FROM images)"""
    )
    # A conversation whose last message (the branch on show) was lost ends at its newest one.
    db.execute(
        """UPDATE conversations SET leaf_id = (
               SELECT max(m.id) FROM messages m WHERE m.conversation_id = conversations.id)
           WHERE leaf_id IS NULL OR leaf_id NOT IN (SELECT id FROM messages)"""
    )
