"""A real conversation database, written through the store, then damaged as a failing disk
damages one: pages in the middle of the file overwritten with garbage, the header and the
schema left intact, so that it still opens and only some reads fail."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path


def write_chats(path: Path, conversations: int = 12, messages: int = 120) -> dict[int, int]:
    """Conversations of alternating turns (a few hundred characters each, so that they span
    many pages), written through ``Store``; their ids and message counts."""
    from desktop_chat.store import Store

    rng = random.Random(11)
    words = (
        "the",
        "capital",
        "of",
        "france",
        "is",
        "paris",
        "and",
        "italy",
        "has",
        "rome",
        "a",
        "story",
        "about",
        "robot",
    )
    store = Store.open(path, check=False)
    counts = {}
    for c in range(conversations):
        conv = store.new_conversation(f"Chat {c}", model="tiny")
        parent = None
        with store.transaction():
            for i in range(messages):
                text = " ".join(rng.choices(words, k=60)) + f" (message {i} of chat {c})"
                parent = store.add_message(
                    conv, "user" if i % 2 == 0 else "assistant", text, parent_id=parent
                )
        counts[conv] = messages
    store.save_draft(str(min(counts)), "a draft kept through the damage")
    store.close()  # the journal checkpointed into the file: every page is in it
    assert not Path(f"{path}-wal").exists()
    return counts


def leaf_pages(path: Path, table: str) -> tuple[int, list[int]]:
    """The page size, and the numbers of ``table``'s leaf pages as SQLite's dbstat lists them."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        size = db.execute("PRAGMA page_size").fetchone()[0]
        return size, [
            r[0]
            for r in db.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
                (table,),
            )
        ]
    finally:
        db.close()


def garble(path: Path, table: str = "messages", pages: int = 2) -> list[int]:
    """Overwrite ``pages`` neighbouring leaf pages from the middle of ``table`` with random
    bytes (the file closed, or only read by others); their numbers. For ``messages``, pages
    that hold one conversation only (the nearest run to the middle that does, found by reading
    the pages' row ids): where a row's size puts the boundary between two conversations is no
    part of what the tests ask."""
    size, found = leaf_pages(path, table)
    assert len(found) > pages * 3, f"{table} has only {len(found)} leaf pages"
    middle = len(found) // 2
    chosen = found[middle : middle + pages]
    if table == "messages":
        chosen = _one_conversation(path, size, found, middle, pages)
    rng = random.Random(5)
    with open(path, "r+b") as f:
        for page in chosen:
            f.seek((page - 1) * size)
            f.write(rng.randbytes(size))
    return chosen


def _one_conversation(path: Path, size: int, found: list[int], middle: int, pages: int):
    """The run of ``pages`` leaf pages nearest ``middle`` whose rows all belong to one
    conversation."""
    data = path.read_bytes()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        owner = dict(db.execute("SELECT id, conversation_id FROM messages"))
    finally:
        db.close()
    for shift in (0, 1, -1, 2, -2, 3, -3, 4, -4):
        run = found[middle + shift : middle + shift + pages]
        owners = {owner.get(r) for page in run for r in _rowids(data, page, size)}
        if len(owners) == 1:
            return run
    raise AssertionError(f"no {pages} leaf pages near the middle hold one conversation")


def _rowids(data: bytes, page: int, size: int) -> list[int]:
    """The row ids on one table b-tree leaf page, read from its cells (SQLite's file format:
    a cell is its payload's size, then its row id, both varints)."""
    base = (page - 1) * size
    header = base + (100 if page == 1 else 0)
    if data[header] != 0x0D:  # not a table leaf
        return []
    cells = int.from_bytes(data[header + 3 : header + 5], "big")
    ids = []
    for i in range(cells):
        pointer = int.from_bytes(data[header + 8 + 2 * i : header + 10 + 2 * i], "big")
        _, at = _varint(data, base + pointer)
        ids.append(_varint(data, at)[0])
    return ids


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(9):
        byte = data[at + i]
        if i == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at + i + 1
    raise AssertionError("unreachable")


def unreadable_conversations(path: Path) -> list[int]:
    """The conversations whose messages cannot all be read, found with a plain connection (the
    store's would repair the file as it finds them)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    failed = []
    try:
        for (conv,) in db.execute("SELECT id FROM conversations").fetchall():
            try:
                db.execute(
                    "SELECT content, meta FROM messages WHERE conversation_id = ?", (conv,)
                ).fetchall()
            except sqlite3.DatabaseError:
                failed.append(conv)
    finally:
        db.close()
    return failed


def readable_messages(path: Path) -> set[int]:
    """The ids of the messages SQLite can still read one by one (the ids listed by an index,
    which the damage left alone), with a plain connection."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    readable = set()
    try:
        ids = [
            r[0]
            for r in db.execute(
                "SELECT id FROM messages INDEXED BY messages_by_conversation"
                " WHERE conversation_id > 0"
            )
        ]
        for message_id in ids:
            try:
                db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
            except sqlite3.DatabaseError:
                continue
            readable.add(message_id)
    finally:
        db.close()
    return readable
