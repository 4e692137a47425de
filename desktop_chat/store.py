"""Conversations on disk: SQLite in WAL mode, migrations as a list of functions, full-text
search with FTS5. Nothing is ever lost: a reply being written is saved at least once a second,
edits and regenerations make branches instead of overwriting, a delete can be undone.

Messages form a tree (``parent_id``); a conversation's ``leaf_id`` names the last message of
the branch on show, and the branch is the path from the root to it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_chat.errors import DesktopChatError


class StoreError(DesktopChatError):
    """The conversation database cannot be used; the message says what was done about it."""


def _v1(db: sqlite3.Connection) -> None:
    # One statement per execute(): executescript() would commit the migration's transaction.
    for statement in _V1:
        db.execute(statement)


_V1 = (
    """CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        updated REAL NOT NULL,
        pinned INTEGER NOT NULL DEFAULT 0,
        persona TEXT,
        model TEXT,
        leaf_id INTEGER,
        deleted REAL)""",
    """CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        model TEXT,
        provider TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        meta TEXT NOT NULL DEFAULT '{}',
        interrupted INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL)""",
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, id)",
    "CREATE INDEX messages_by_parent ON messages(parent_id)",
    "CREATE INDEX conversations_by_update ON conversations(deleted, pinned, updated)",
    """CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='id', tokenize='unicode61')""",
    """CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END""",
    """CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
    END""",
    """CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END""",
)


def _v2(db: sqlite3.Connection) -> None:
    """Conversations the Python API keeps under a name of the caller's (ChatManager ids)."""
    db.execute("ALTER TABLE conversations ADD COLUMN external_id TEXT")
    db.execute("CREATE UNIQUE INDEX conversations_by_external_id ON conversations(external_id)"
               " WHERE external_id IS NOT NULL")  # fmt: skip


def _v3(db: sqlite3.Connection) -> None:
    """The user's own personas and prompt templates (``personas.Library``)."""
    db.execute("CREATE TABLE library (kind TEXT NOT NULL, name TEXT NOT NULL,"
               " data TEXT NOT NULL, PRIMARY KEY (kind, name))")  # fmt: skip


def _v4(db: sqlite3.Connection) -> None:
    """What is typed and not yet sent (``drafts.Drafts``), by conversation id, "new" (the
    unsaved new chat) or "quick" (the quick prompt)."""
    db.execute("CREATE TABLE drafts (key TEXT PRIMARY KEY, text TEXT NOT NULL,"
               " updated REAL NOT NULL)")  # fmt: skip
    # A conversation removed for good takes its draft with it.
    db.execute("CREATE TRIGGER drafts_ad AFTER DELETE ON conversations BEGIN"
               " DELETE FROM drafts WHERE key = CAST(old.id AS TEXT); END")  # fmt: skip


#: Applied in order; each runs once, recorded in ``schema_migrations``. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4]


@dataclass(slots=True)
class StoredMessage:
    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    content: str
    model: str | None = None
    provider: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    created: float = 0.0


@dataclass(slots=True)
class ConversationInfo:
    id: int
    title: str
    created: float
    updated: float
    pinned: bool
    persona: str | None
    model: str | None
    leaf_id: int | None


@dataclass(slots=True)
class SearchHit:
    conversation_id: int
    message_id: int
    title: str
    role: str
    #: The matching words wrapped in ``[`` and ``]``, around the hit.
    snippet: str


MESSAGE_COLUMNS = (
    "id, conversation_id, parent_id, role, content, model, provider, params, meta, "
    "interrupted, created"
)


def _json(text: str) -> dict[str, Any]:
    return {} if text == "{}" else json.loads(text)  # most rows: skip the parser


def message_from_row(row: tuple) -> StoredMessage:
    return StoredMessage(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                         _json(row[7]), _json(row[8]), bool(row[9]), row[10])  # fmt: skip


def _conversation(row: tuple) -> ConversationInfo:
    return ConversationInfo(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7])


class Store:
    """One connection, used from one thread (the GUI's or the CLI's)."""

    def __init__(self, db: sqlite3.Connection, path: Path, notes: list[str]) -> None:
        self.db = db
        self.path = path
        #: What opening had to do (a backup before migrating, a damaged file set aside).
        self.notes = notes

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open or create the database; a damaged file is moved aside (never deleted) and a
        fresh one started; a locked one raises ``StoreError`` saying what to do."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        notes: list[str] = []
        try:
            db = cls._connect(path, notes)
        except sqlite3.DatabaseError as exc:
            if _locked(exc):
                raise StoreError(
                    f"The conversation database {path} is locked by another program.",
                    "Quit the other Desktop Chat (or llmchat) using it, then try again.",
                ) from exc
            aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                part = Path(str(path) + suffix)
                if part.exists():
                    part.rename(Path(str(aside) + suffix))
            notes.append(
                f"The conversation database could not be read ({exc}); it was kept as "
                f"{aside.name} and a new one was started."
            )
            db = cls._connect(path, notes)
        return cls(db, path, notes)

    @classmethod
    def in_memory(cls, why: str) -> Store:
        """A store that lasts this session only, when the file cannot be used."""
        return cls(cls._connect(None, []), Path(":memory:"), [why])

    @staticmethod
    def _connect(path: Path | None, notes: list[str]) -> sqlite3.Connection:
        existed = path is not None and path.exists() and path.stat().st_size > 0
        db = sqlite3.connect(path or ":memory:", timeout=2.0, isolation_level=None,
                             check_same_thread=False)  # fmt: skip
        try:
            db.execute("PRAGMA foreign_keys = ON")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower()
            if path is not None and mode != "wal":
                raise sqlite3.DatabaseError("could not switch to WAL mode")
            db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints
            db.execute("PRAGMA busy_timeout = 2000")
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                " applied REAL NOT NULL)"
            )
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            pending = [(v, m) for v, m in enumerate(MIGRATIONS, start=1) if v not in done]
            if pending and existed and done:
                backup = path.with_name(f"{path.name}.before-v{pending[0][0]}")
                db.execute("PRAGMA wal_checkpoint(FULL)")
                shutil.copy2(path, backup)
                notes.append(f"Backed up the database to {backup.name} before updating it.")
            for version, migrate in pending:
                db.execute("BEGIN IMMEDIATE")
                try:
                    migrate(db)
                    db.execute("INSERT INTO schema_migrations VALUES (?, ?)",
                               (version, time.time()))  # fmt: skip
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self.db.close()

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    @property
    def version(self) -> int:
        return self.db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0

    # --- conversations -------------------------------------------------------------------

    def new_conversation(self, title: str = "", model: str | None = None,
                         persona: str | None = None,
                         external_id: str | None = None) -> int:  # fmt: skip
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO conversations (title, created, updated, model, persona, external_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (title, now, now, model, persona, external_id),
        )
        return int(cur.lastrowid)

    def find_external(self, external_id: str) -> int | None:
        """The conversation kept under a caller's name (deleted ones are not found)."""
        row = self.db.execute("SELECT id FROM conversations WHERE external_id = ?"
                              " AND deleted IS NULL", (external_id,)).fetchone()  # fmt: skip
        return row[0] if row else None

    def conversation(self, conversation_id: int) -> ConversationInfo | None:
        row = self.db.execute(
            "SELECT id, title, created, updated, pinned, persona, model, leaf_id"
            " FROM conversations WHERE id = ? AND deleted IS NULL",
            (conversation_id,),
        ).fetchone()
        return _conversation(row) if row else None

    def stamp(self, conversation_id: int) -> tuple | None:
        """(leaf, updated): changes whenever the conversation does."""
        return self.db.execute("SELECT leaf_id, updated FROM conversations WHERE id = ?",
                               (conversation_id,)).fetchone()  # fmt: skip

    def latest(self) -> ConversationInfo | None:
        """The conversation most recently written to (pinned or not)."""
        row = self.db.execute(
            "SELECT id, title, created, updated, pinned, persona, model, leaf_id"
            " FROM conversations WHERE deleted IS NULL ORDER BY updated DESC LIMIT 1"
        ).fetchone()
        return _conversation(row) if row else None

    def conversations(self, limit: int = 500) -> list[ConversationInfo]:
        """Pinned first, then the most recently updated."""
        rows = self.db.execute(
            "SELECT id, title, created, updated, pinned, persona, model, leaf_id"
            " FROM conversations WHERE deleted IS NULL"
            " ORDER BY pinned DESC, updated DESC LIMIT ?",
            (limit,),
        )
        return [_conversation(r) for r in rows]

    def update_conversation(self, conversation_id: int, **fields: Any) -> None:
        allowed = {"title", "pinned", "persona", "model", "leaf_id"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"can only update {sorted(allowed)}")
        sets = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(
            f"UPDATE conversations SET {sets}, updated = ? WHERE id = ?",
            (*fields.values(), time.time(), conversation_id),
        )

    def delete_conversation(self, conversation_id: int) -> None:
        """Hidden at once; ``undelete()`` brings it back; ``purge()`` removes it for good."""
        self.db.execute("UPDATE conversations SET deleted = ? WHERE id = ?",
                        (time.time(), conversation_id))  # fmt: skip

    def undelete(self, conversation_id: int) -> None:
        self.db.execute("UPDATE conversations SET deleted = NULL WHERE id = ?", (conversation_id,))

    def purge(self, older_than_s: float = 0.0) -> int:
        cur = self.db.execute("DELETE FROM conversations WHERE deleted IS NOT NULL"
                              " AND deleted <= ?", (time.time() - older_than_s,))  # fmt: skip
        return cur.rowcount

    # --- messages ------------------------------------------------------------------------

    def add_message(self, conversation_id: int, role: str, content: str, *,
                    parent_id: int | None = None, model: str | None = None,
                    provider: str | None = None, params: dict | None = None,
                    meta: dict | None = None, interrupted: bool = False) -> int:  # fmt: skip
        """Add a message after ``parent_id`` (a new branch if that parent already has a child)
        and make it the conversation's current leaf."""
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cur = self.db.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, model,"
                " provider, params, meta, interrupted, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent_id, role, content, model, provider,
                 json.dumps(params or {}), json.dumps(meta or {}, default=str),
                 int(interrupted), now, now),
            )  # fmt: skip
            message_id = int(cur.lastrowid)
            self.db.execute("UPDATE conversations SET leaf_id = ?, updated = ? WHERE id = ?",
                            (message_id, now, conversation_id))  # fmt: skip
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return message_id

    def update_message(self, message_id: int, content: str, *, interrupted: bool,
                       meta: dict | None = None, model: str | None = None,
                       provider: str | None = None) -> None:  # fmt: skip
        """Save a reply's text so far (``interrupted`` until it completes)."""
        sets = ["content = ?", "interrupted = ?", "updated = ?"]
        values: list[Any] = [content, int(interrupted), time.time()]
        for name, value in (("meta", meta), ("model", model), ("provider", provider)):
            if value is not None:
                sets.append(f"{name} = ?")
                values.append(json.dumps(value, default=str) if name == "meta" else value)
        self.db.execute(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?",
                        (*values, message_id))  # fmt: skip

    def message(self, message_id: int) -> StoredMessage | None:
        row = self.db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?",
                              (message_id,)).fetchone()  # fmt: skip
        return message_from_row(row) if row else None

    def branch(self, conversation_id: int, leaf_id: int | None = None) -> list[StoredMessage]:
        """The messages from the root to ``leaf_id`` (default: the current leaf)."""
        if leaf_id is None:
            info = self.conversation(conversation_id)
            leaf_id = info.leaf_id if info else None
        if leaf_id is None:
            return []
        wanted = set(self.branch_ids(conversation_id, leaf_id))
        rows = self.db.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
        return [message_from_row(r) for r in rows if r[0] in wanted]

    def branch_ids(self, conversation_id: int, leaf_id: int | None = None) -> list[int]:
        """The ids from the root to ``leaf_id`` (default: the current leaf), in order. One
        indexed scan and a walk in Python: a recursive query costs several times more."""
        if leaf_id is None:
            stamp = self.stamp(conversation_id)
            leaf_id = stamp[0] if stamp else None
        parents = dict(self.db.execute(
            "SELECT id, parent_id FROM messages WHERE conversation_id = ?", (conversation_id,)
        ).fetchall())  # fmt: skip
        path = []
        node = leaf_id
        while node is not None and node in parents:
            path.append(node)
            node = parents[node]
        return path[::-1]

    def versions(self, message_id: int) -> list[int]:
        """The ids of a message and its siblings (other versions of the same turn), oldest
        first."""
        msg = self.message(message_id)
        if msg is None:
            return []
        rows = self.db.execute(
            "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS ? AND role = ?"
            " ORDER BY id",
            (msg.conversation_id, msg.parent_id, msg.role),
        )
        return [r[0] for r in rows]

    def show_version(self, message_id: int) -> list[StoredMessage]:
        """Make the branch through ``message_id`` current (its latest descendant becomes the
        leaf) and return it."""
        leaf = message_id
        while True:
            row = self.db.execute("SELECT max(id) FROM messages WHERE parent_id = ?",
                                  (leaf,)).fetchone()  # fmt: skip
            if row[0] is None:
                break
            leaf = row[0]
        msg = self.message(message_id)
        self.db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?",
                        (leaf, msg.conversation_id))  # fmt: skip
        return self.branch(msg.conversation_id, leaf)

    # --- search --------------------------------------------------------------------------

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Words as typed (each a prefix), newest first; quotes and operators are taken
        literally, so any text the user types is a valid search."""
        words = [w.replace('"', '""') for w in query.split()]
        if not words:
            return []
        match = " ".join(f'"{w}"*' for w in words)
        # Newest first straight from the index (rowid order, no sort), snippets only for the
        # rows returned: common words match tens of thousands of messages.
        found = self.db.execute(
            """SELECT rowid, snippet(messages_fts, 0, '[', ']', '…', 12) FROM messages_fts
               WHERE messages_fts MATCH ? AND rowid NOT IN (
                   SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id
                   WHERE c.deleted IS NOT NULL)
               ORDER BY rowid DESC LIMIT ?""",
            (match, limit),
        ).fetchall()
        if not found:
            return []
        marks = ",".join("?" * len(found))
        about = {
            row[0]: row[1:]
            for row in self.db.execute(
                f"SELECT m.id, m.conversation_id, c.title, m.role FROM messages m"
                f" JOIN conversations c ON c.id = m.conversation_id WHERE m.id IN ({marks})",
                [rowid for rowid, _ in found],
            )
        }
        return [SearchHit(about[rowid][0], rowid, about[rowid][1], about[rowid][2], snippet)
                for rowid, snippet in found if rowid in about]  # fmt: skip


def _locked(exc: sqlite3.DatabaseError) -> bool:
    return "locked" in str(exc).lower() or "busy" in str(exc).lower()
