"""The conversation store's figures (issue 5), each beside a baseline in the same run:

1. open a conversation of 10,000 messages to first paint, against one of 40 messages;
2. full-text search over 100,000 messages (FTS5), against a ``LIKE`` scan of the same rows;
3. switch between two conversations of 10,000 messages, against two of 40;
4. open a database of 100,000 messages (``Store.open``), against an empty one; open it, list the
   conversations and read the latest one's branch as a start does (the check for damage comes
   ``store_repair.CHECK_AFTER_S`` later, on its thread); that check's own time, asked at once.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_VOCABULARY = """the plan reads files filters lines writes results quickly python list reverse
capital france paris italy rome story robot cat morning night page table code function returns
items slicing memory context window model answer"""
WORDS = _VOCABULARY.split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words))


def fill(store, conversations: int, messages: int, seed: int = 7) -> list[int]:
    """Conversations of ``messages`` alternating turns, written in one transaction each."""
    rng = random.Random(seed)
    ids = []
    db = store.db
    for c in range(conversations):
        conv = store.new_conversation(f"Conversation {c}")
        now = time.time()
        db.execute("BEGIN")
        parent = None
        for i in range(messages):
            role = "user" if i % 2 == 0 else "assistant"
            body = _text(rng, 12 if role == "user" else 60)
            if role == "assistant" and i % 10 == 1:
                body += "\n\n```python\nprint(items[::-1])\n```\n"
            cur = db.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, created,"
                " updated) VALUES (?, ?, ?, ?, ?, ?)",
                (conv, parent, role, body, now, now),
            )
            parent = cur.lastrowid
        db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (parent, conv))
        db.execute("COMMIT")
        ids.append(conv)
    return ids


def _open_seconds(app, view, chat, conversation_id: int) -> float:
    start = time.perf_counter()
    chat.open(conversation_id)
    view.show_conversation(chat.conversation)
    app.processEvents()  # layout and paint: the first frame of the opened conversation
    return time.perf_counter() - start


def rows(runs: int = 15) -> list[tuple]:
    from PySide6.QtWidgets import QApplication

    from desktop_chat.gui.conversation_view import ConversationView
    from desktop_chat.history import StoredChat
    from desktop_chat.store import Store

    app = QApplication.instance() or QApplication([])
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.sqlite3")
        long_a, long_b = fill(store, 2, 10_000, seed=1)
        short_a, short_b = fill(store, 2, 40, seed=2)
        view = ConversationView()
        view.resize(900, 700)
        view.show()
        chat = StoredChat(store)
        _open_seconds(app, view, chat, short_a)  # warm: imports, fonts, caches
        first_long = _open_seconds(app, view, chat, long_a)
        opens_long, opens_short = [], []
        for _ in range(runs):
            opens_long.append(_open_seconds(app, view, chat, long_b))
            opens_long.append(_open_seconds(app, view, chat, long_a))
            opens_short.append(_open_seconds(app, view, chat, short_b))
            opens_short.append(_open_seconds(app, view, chat, short_a))
        ol, os_ = statistics.median(opens_long) * 1000, statistics.median(opens_short) * 1000
        out.append(
            (
                "open 10,000 messages, first time, ms",
                first_long * 1000,
                os_,
                f"{first_long * 1000 / os_:.2f}×",
                "≤ 150 ms",
            )
        )
        out.append(("switch two 10,000-message chats, ms", ol, os_, f"{ol / os_:.2f}×", "≤ 50 ms"))
        view.close()
        # Search: 100,000 messages in all.
        fill(store, 8, 10_000, seed=3)
        total = store.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        queries = [
            "reverse",
            "capital paris",
            "robot cat",
            "slicing",
            "memory window",
            "morning page",
            "filters lines",
            "python list",
        ]
        fts, like = [], []
        for _ in range(3):
            for q in queries:
                start = time.perf_counter()
                store.search(q)
                fts.append(time.perf_counter() - start)
                start = time.perf_counter()
                store.db.execute(
                    "SELECT id FROM messages WHERE content LIKE ? ORDER BY id DESC LIMIT 50",
                    (f"%{q.split()[0]}%",),
                ).fetchall()
                like.append(time.perf_counter() - start)
        f, lk = statistics.median(fts) * 1000, statistics.median(like) * 1000
        out.append(
            (f"search {total:,} messages, ms", f, lk, f"{lk / f:.1f}× faster", "≤ 30 ms median")
        )
        store.close()
        out += _opening(Path(tmp) / "bench.sqlite3", total, runs)
    return out


def _opening(path: Path, total: int, runs: int) -> list[tuple]:
    """Opening the database, against an empty one; a start's first reads with the check for
    damage to come, against the same with none; the check's own time."""
    from desktop_chat.store import Store

    empty = path.with_name("empty.sqlite3")
    Store.open(empty).close()
    opens, bare, starts, unchecked, checks = [], [], [], [], []
    for _ in range(runs):  # interleaved, so drift hits both alike
        for target, times in ((path, opens), (empty, bare)):
            start = time.perf_counter()
            store = Store.open(target)
            times.append(time.perf_counter() - start)
            store.close()
        for check, times in ((True, starts), (False, unchecked)):
            start = time.perf_counter()
            store = Store.open(path, check=check)
            store.branch(store.conversations()[0].id)  # the latest: 10,000 messages
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
            store.checked()
            if check:
                checks.append(time.perf_counter() - start)
            store.close()
    o, b = statistics.median(opens) * 1000, statistics.median(bare) * 1000
    st, un = statistics.median(starts) * 1000, statistics.median(unchecked) * 1000
    ck = statistics.median(checks) * 1000
    return [
        (f"open a {total:,}-message database, ms", o, b, f"{o / b:.2f}×", "≈ 1× empty"),
        ("open, list, read the latest chat, ms", st, un, f"{st / un:.2f}×", "≈ 1× unchecked"),
        ("damage check, on the store's thread, ms", ck, st, f"{ck / st:.2f}×", "not waited"),
    ]
