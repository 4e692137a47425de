"""Conversations on disk: SQLite in WAL mode, migrations as a list of functions, full-text
search with FTS5. Nothing is ever lost: a reply being written is saved at least once a second,
edits and regenerations make branches instead of overwriting, a delete can be undone for
``UNDO_S`` seconds (then the conversation leaves the file for good). A write SQLite refuses
raises ``StoreError`` with a sentence and a hint, and so does a read it cannot do (a damaged
page, a disk error); ``store_files`` says what went wrong.

One connection serves every thread: a lock keeps it to one at a time (a statement of one thread
never lands inside another's transaction). ``later()`` runs a write on the store's own thread
(``store_writes``), where its checkpoints run too: SQLite's automatic one would run inside
whichever write crosses its mark, the window's included.

A damaged file that still opens is found without making opening wait; what can still be read
is copied into a new file, the damaged one is kept aside under a name no earlier copy has, and
``listen()`` tells the client where it went (``store_repair``).

Messages form a tree (``parent_id``); a conversation's ``leaf_id`` names the last message of
the branch on show, and the branch is the path from the root to it.

A user's images are files beside the database, kept once each by content hash, and referred to
by their messages (``store_images``); purging deleted conversations removes the images no
message refers to any more.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_chat import store_images
from desktop_chat.picture import Picture
from desktop_chat.store_files import (
    StoreError,
    busy,
    damaged,
    error_for,
    identity,
    read_copy,
    set_aside,
)
from desktop_chat.store_repair import Repairs
from desktop_chat.store_rescue import salvage_into
from desktop_chat.store_writes import WriteQueue

log = logging.getLogger(__name__)

#: Seconds a deleted conversation can be brought back (the window's Undo bar); after that it
#: is removed from the file for good.
UNDO_S = 10.0

#: Characters of text written between two checkpoints on the store's own thread. The journal
#: (the -wal file) then holds up to about twice that (the search index, deleted rows zeroed):
#: about SQLite's own mark of 1000 pages.
CHECKPOINT_CHARS = 2_000_000

#: FTS5 can remove a deleted row's words from the index itself from SQLite 3.42 on.
_FTS_SECURE_DELETE = sqlite3.sqlite_version_info >= (3, 42, 0)


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
    db.execute(
        "CREATE UNIQUE INDEX conversations_by_external_id ON conversations(external_id)"
        " WHERE external_id IS NOT NULL"
    )


def _v3(db: sqlite3.Connection) -> None:
    """The user's own personas and prompt templates (``personas.Library``)."""
    db.execute(
        "CREATE TABLE library (kind TEXT NOT NULL, name TEXT NOT NULL,"
        " data TEXT NOT NULL, PRIMARY KEY (kind, name))"
    )


def _v4(db: sqlite3.Connection) -> None:
    """What is typed and not yet sent (``drafts.Drafts``), by conversation id, "new" (the
    unsaved new chat) or "quick" (the quick prompt)."""
    db.execute(
        "CREATE TABLE drafts (key TEXT PRIMARY KEY, text TEXT NOT NULL, updated REAL NOT NULL)"
    )
    # A conversation removed for good takes its draft with it.
    db.execute(
        "CREATE TRIGGER drafts_ad AFTER DELETE ON conversations BEGIN"
        " DELETE FROM drafts WHERE key = CAST(old.id AS TEXT); END"
    )


def _v5(db: sqlite3.Connection) -> None:
    """A reasoning model's thinking, kept with its reply in a column of its own: out of the
    search index (the triggers index ``content`` only) and never part of the answer's text."""
    db.execute("ALTER TABLE messages ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''")
    # Replies saved before this version kept their thinking in ``meta``: moved here.
    db.execute(
        "UPDATE messages SET reasoning = json_extract(meta, '$.reasoning'),"
        " meta = json_remove(meta, '$.reasoning')"
        " WHERE instr(meta, '\"reasoning\"') AND json_valid(meta)"
        " AND json_type(meta, '$.reasoning') = 'text'"
    )


def _v6(db: sqlite3.Connection) -> None:
    """Users' images, kept once by content hash (``store_images``)."""
    store_images.migrate(db)


def _v7(db: sqlite3.Connection) -> None:
    """A conversation's own options, as JSON (``{"think": false, "reasoning_effort": "low"}``):
    one column for every such choice, so the next one needs no migration."""
    db.execute("ALTER TABLE conversations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}'")


def _v8(db: sqlite3.Connection) -> None:
    """The tools a reply called before its answer, their arguments and results, as JSON
    (``Message.tool_rounds``): sent back with later turns, out of the search index."""
    db.execute("ALTER TABLE messages ADD COLUMN tool_calls TEXT NOT NULL DEFAULT '[]'")


#: Applied in order; each runs once, recorded in ``schema_migrations``. Append, never edit.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _v1,
    _v2,
    _v3,
    _v4,
    _v5,
    _v6,
    _v7,
    _v8,
]


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
    #: A reasoning model's thinking before the answer ("" for none).
    reasoning: str = ""
    #: A user's images, in order (``store_images``).
    images: list[Picture] = field(default_factory=list)
    #: A reply's rounds of tool calls and their results (``Message.tool_rounds``).
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


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
    "interrupted, created, reasoning, tool_calls"
)


def _json(text: str) -> dict[str, Any]:
    return {} if text == "{}" else json.loads(text)  # most rows: skip the parser


def message_from_row(row: tuple) -> StoredMessage:
    # Positional: this runs for every message a conversation opens with (keywords cost more).
    params, meta = _json(row[7]), _json(row[8])
    calls = [] if row[12] == "[]" else _tool_calls(row[12])
    return StoredMessage(*row[:7], params, meta, bool(row[9]), row[10], row[11], [], calls)


def _tool_calls(text: str) -> list[dict[str, Any]]:
    """A reply's stored tool rounds; text that is not a list of them (edited by hand) is none:
    a later turn can still be sent."""
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) and all(isinstance(v, dict) for v in value) else []


def _conversation(row: tuple) -> ConversationInfo:
    return ConversationInfo(row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7])


def _reads(method: Callable) -> Callable:
    """The connection to itself while it reads (see ``Store._lock``). What SQLite cannot read
    (a damaged page, a disk error) raises ``StoreError``, never a bare ``sqlite3`` error."""

    @functools.wraps(method)
    def read(self: Store, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise self._trouble(exc, reading=True) from exc

    return read


def _writes(method: Callable) -> Callable:
    """What SQLite refuses to write (a full disk, a read-only file, a lock held too long)
    raises ``StoreError`` with a sentence and a hint, never a bare ``sqlite3`` error."""

    @functools.wraps(method)
    def write(self: Store, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                result = method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise self._trouble(exc) from exc
            self._wrote(sum(len(a) for a in (*args, *kwargs.values()) if isinstance(a, str)))
            return result

    return write


class Store(Repairs):
    """One connection, shared by the threads that use it (the GUI's, and the store's own for
    ``later()``), one at a time."""

    def __init__(
        self, db: sqlite3.Connection, path: Path, notes: list[str], saved: bool = True
    ) -> None:
        self.db = db
        self.path = path
        #: What opening had to do (a backup before migrating, a damaged file set aside, a
        #: file that could not be used).
        self.notes = notes
        #: False for a store that lasts this session only (nothing reaches the file).
        self.saved = saved
        #: Taken by every method that uses ``db`` for as long as it runs, and for the whole of
        #: a ``transaction()``. The GUI thread waits on it only when it uses the store while a
        #: ``later()`` write is under way (a 2 MB message: tens of milliseconds), which its
        #: callers avoid by ordering: the turn awaits the write before anything reads the
        #: store (the sidebar is refreshed after it); drafts are written later too.
        self._lock = threading.RLock()
        self._queue = WriteQueue("store-writes")
        #: Checkpoints: their own connection on the store's thread (a PASSIVE checkpoint
        #: does not block writers in WAL mode, so the GUI thread never waits for one), and
        #: the text written since the last one was asked for.
        self._checkpoints: sqlite3.Connection | None = None
        self._checkpointing = threading.Lock()
        self._unchecked = 0
        #: The images' files, beside the database; new ones in memory when it is not saved.
        self._images = store_images.ImageFiles(path.parent / "images", writable=saved)
        self._init_repairs()

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, check: bool = True) -> Store:
        """Open or create the database. Only a file SQLite itself reports as damaged is moved
        aside (under a name no earlier copy has; never deleted) and a fresh one started; any
        other problem (a full disk, a read-only file or folder, a lock held by another program,
        a data folder that is a file) raises ``StoreError`` and leaves every file as it is.
        ``check``: look for damage in the whole file after opening, on the store's own thread
        (``checked()`` waits for it)."""
        path = Path(path)
        notes: list[str] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise error_for(exc, path, opening=True) from exc
        found: tuple[Path, BaseException] | None = None  # the damaged file this start set aside
        for _ in range(3):  # another start may set the same damaged file aside meanwhile
            seen = identity(path)
            try:
                db = cls._connect(path, notes)
                break
            except (sqlite3.Error, OSError) as exc:
                if not damaged(exc):
                    raise error_for(exc, path, opening=True) from exc
                try:
                    aside = set_aside(path, seen)
                except OSError as move:
                    cause = error_for(move, path, opening=True)
                    raise StoreError(
                        f"The conversation database {path} is damaged, and it could not be "
                        f"moved aside: {cause.why}.",
                        cause.hint,
                        kind="damaged",
                    ) from exc
                if aside is not None:
                    log.warning("%s is damaged (%s); kept as %s", path, exc, aside)
                    found = (aside, exc)
        else:
            raise StoreError(
                f"The conversation database {path} keeps being replaced by a damaged file.",
                "Quit every Desktop Chat and llmchat, then start one again.",
                kind="damaged",
            )
        if found is not None:
            notes.append(cls._salvaged(db, *found))
        store = cls(db, path, notes)
        try:  # what was deleted before the Undo bar of an earlier session ran out
            store.purge(UNDO_S)
        except StoreError as err:
            log.warning("could not remove deleted conversations: %s", err)
        if check:
            store._repairs.put(store._check)
        return store

    @classmethod
    def open_anyway(cls, path: str | Path, *, check: bool = True) -> Store:
        """``open()``, or, when the file cannot be used, a store for this session only that
        says why in ``notes``: the conversations copied from the file when it can be read
        (nothing is written to it), else an empty one. For the window and ``llmchat``, which
        start whatever the disk is like."""
        try:
            return cls.open(path, check=check)
        except StoreError as err:
            log.warning("conversation database not used: %s", err)
            path = Path(path)
            db = None if err.kind == "damaged" else read_copy(path)
            if db is not None:
                note = (
                    f"{err.message} Your conversations are shown read-only, and new chats "
                    f"are not saved. {err.hint}"
                )
            else:
                note = f"{err.message} For now, new chats are not saved. {err.hint}"
                db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            try:
                _prepare(db, None, [])
            except sqlite3.Error:  # a copy that cannot be brought up to date: start empty
                db.close()
                db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                _prepare(db, None, [])
            return cls(db, path, [note], saved=False)

    @staticmethod
    def _salvaged(db: sqlite3.Connection, aside: Path, exc: BaseException) -> str:
        """Into the new file ``db``, what can still be read of the damaged one kept as
        ``aside`` (``store_rescue``); the note that says so."""
        salvage = salvage_into(db, aside)
        if salvage is None:
            return (
                f"The conversation database was damaged ({exc}); it was kept as {aside} "
                "and a new one was started."
            )
        log.warning("copied out of %s: %s", aside, salvage)
        return (
            f"The conversation database was damaged ({exc}); it was kept as {aside}, and "
            f"what could still be read ({salvage.conversations:,} conversations, "
            f"{salvage.messages:,} messages) was copied into a new one."
        )

    @staticmethod
    def _new_schema(db: sqlite3.Connection) -> None:
        _prepare(db, None, [])

    @staticmethod
    def _connect(path: Path, notes: list[str]) -> sqlite3.Connection:
        db = sqlite3.connect(path, timeout=2.0, isolation_level=None, check_same_thread=False)
        try:
            _prepare(db, path, notes)
            # A read-only file opens and reads without a word; find out now, not at the first
            # message: rewrite one header field with its own value.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            db.execute(f"PRAGMA user_version = {int(version)}")
            # Checkpoints run on the store's thread (``_wrote``), never inside a write of the
            # window's. (The journal is not cut back after one: the write that would do it,
            # the next one, could be the window's, and cutting 6 MB costs it ~10 ms.)
            db.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        """Close the file once what ``later()`` was asked to write is written (a check under
        way is stopped; a repair under way ends first)."""
        self._stop_repairs()
        self._queue.wait()
        with self._lock, self._checkpointing:
            if self._checkpoints is not None:
                self._checkpoints.close()
                self._checkpoints = None
            self.db.close()

    # --- writes on the store's own thread ------------------------------------------------

    def later(self, change: Callable, *args: Any, **kwargs: Any) -> Future:
        """Run ``change(*args, **kwargs)`` (a write of this store's, or several) on the store's
        own thread, after every ``later()`` asked before; the future holds its result or its
        ``StoreError``. For what is sized to the user's text: a pasted 2 MB message costs its
        search index and journal there, not a pause of the window. Never wait for it inside a
        ``transaction()``: the store's thread waits for that transaction to end."""
        return self._queue.put(change, *args, **kwargs)

    def idle(self) -> None:
        """Return once every ``later()`` asked so far (and any checkpoint) is done."""
        self._queue.wait()

    def _wrote(self, chars: int) -> None:
        """After a write of ``chars`` characters of text (the lock is held): a checkpoint on
        the store's thread once ``CHECKPOINT_CHARS`` have been written since the last one."""
        self._unchecked += chars + 100  # a row's other columns, its page's header
        if self.saved and self._unchecked >= CHECKPOINT_CHARS:
            self._unchecked = 0
            self._queue.put(self._checkpoint)

    def _checkpoint(self) -> None:
        """Copy the journal into the file, on the store's own connection for it: no lock of
        the main one is taken, and PASSIVE waits for no reader or writer (one that holds the
        journal leaves it to the next checkpoint)."""
        with self._checkpointing:
            try:
                if self._checkpoints is None:
                    self._checkpoints = sqlite3.connect(
                        self.path, timeout=0, isolation_level=None, check_same_thread=False
                    )
                self._checkpoints.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:  # the journal keeps it; tried again as it grows
                log.warning("checkpoint of %s failed: %s", self.path, exc)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside is saved together or not at all (one inside another
        joins it). A failure to write raises ``StoreError``. Other threads wait until it ends."""
        with self._lock:
            if self.db.in_transaction:
                yield
                return
            try:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self.db.execute("COMMIT")
                except BaseException:
                    if self.db.in_transaction:  # SQLite may already have rolled back (full)
                        self.db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._trouble(exc) from exc

    @_reads
    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    @property
    @_reads
    def version(self) -> int:
        return self.db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0

    # --- conversations -------------------------------------------------------------------

    @_writes
    def new_conversation(
        self,
        title: str = "",
        model: str | None = None,
        persona: str | None = None,
        external_id: str | None = None,
    ) -> int:
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO conversations (title, created, updated, model, persona, external_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (title, now, now, model, persona, external_id),
        )
        return int(cur.lastrowid)

    @_reads
    def find_external(self, external_id: str) -> int | None:
        """The conversation kept under a caller's name (deleted ones are not found)."""
        row = self.db.execute(
            "SELECT id FROM conversations WHERE external_id = ? AND deleted IS NULL", (external_id,)
        ).fetchone()
        return row[0] if row else None

    @_reads
    def conversation(self, conversation_id: int) -> ConversationInfo | None:
        row = self.db.execute(
            "SELECT id, title, created, updated, pinned, persona, model, leaf_id"
            " FROM conversations WHERE id = ? AND deleted IS NULL",
            (conversation_id,),
        ).fetchone()
        return _conversation(row) if row else None

    @_reads
    def stamp(self, conversation_id: int) -> tuple | None:
        """(leaf, updated): changes whenever the conversation does."""
        return self.db.execute(
            "SELECT leaf_id, updated FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()

    @_reads
    def latest(self) -> ConversationInfo | None:
        """The conversation most recently written to (pinned or not)."""
        row = self.db.execute(
            "SELECT id, title, created, updated, pinned, persona, model, leaf_id"
            " FROM conversations WHERE deleted IS NULL ORDER BY updated DESC LIMIT 1"
        ).fetchone()
        return _conversation(row) if row else None

    @_reads
    def conversations(self, limit: int = 500) -> list[ConversationInfo]:
        """Pinned first, then the most recently updated."""
        rows = self.db.execute(
            "SELECT id, title, created, updated, pinned, persona, model, leaf_id"
            " FROM conversations WHERE deleted IS NULL"
            " ORDER BY pinned DESC, updated DESC LIMIT ?",
            (limit,),
        )
        return [_conversation(r) for r in rows]

    @_writes
    def update_conversation(self, conversation_id: int, **fields: Any) -> None:
        allowed = {"title", "pinned", "persona", "model", "leaf_id"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"can only update {sorted(allowed)}")
        sets = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(
            f"UPDATE conversations SET {sets}, updated = ? WHERE id = ?",
            (*fields.values(), time.time(), conversation_id),
        )

    @_reads
    def conversation_settings(self, conversation_id: int) -> dict[str, Any]:
        """The conversation's own options (``{}`` when it has none, or is not there)."""
        row = self.db.execute(
            "SELECT settings FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return _json(row[0]) if row else {}

    @_writes
    def update_conversation_settings(self, conversation_id: int, **changes: Any) -> None:
        """Set these of the conversation's options (None removes one); the others stay. Not a
        change of the conversation itself: its place in the sidebar stays."""
        self.db.execute(
            "UPDATE conversations SET settings = json_patch(settings, ?) WHERE id = ?",
            (json.dumps(changes), conversation_id),
        )

    @_writes
    def delete_conversation(self, conversation_id: int) -> None:
        """Hidden at once; ``undelete()`` brings it back; ``purge()`` removes it for good."""
        self.db.execute(
            "UPDATE conversations SET deleted = ? WHERE id = ?", (time.time(), conversation_id)
        )

    @_writes
    def undelete(self, conversation_id: int) -> None:
        self.db.execute("UPDATE conversations SET deleted = NULL WHERE id = ?", (conversation_id,))

    @_writes
    def purge(self, older_than_s: float = 0.0, conversation_id: int | None = None) -> int:
        """Remove for good the conversations deleted at least ``older_than_s`` ago (only
        ``conversation_id``, if given): their rows, their words in the search index, and their
        bytes in the file (``secure_delete``; the WAL emptied after). Returns how many."""
        where, args = "deleted IS NOT NULL AND deleted <= ?", [time.time() - older_than_s]
        if conversation_id is not None:
            where, args = f"{where} AND id = ?", [*args, conversation_id]
        if not self.db.execute(
            f"SELECT 1 FROM conversations WHERE {where} LIMIT 1", args
        ).fetchone():
            return 0
        with self.transaction():
            if _FTS_SECURE_DELETE:  # deleting then drops the words from the index itself
                self.db.execute(
                    "INSERT INTO messages_fts(messages_fts, rank) VALUES ('secure-delete', 1)"
                )
            count = self.db.execute(f"DELETE FROM conversations WHERE {where}", args).rowcount
            # Their images too, once no other message refers to them (Undo's window is over).
            store_images.collect(self.db, self._images)
            if not _FTS_SECURE_DELETE:
                # Older FTS5 only marks deleted words as gone; merging the index drops them.
                self.db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
        # Best effort: a reader may hold the WAL. Not while the store's thread checkpoints,
        # which would make this one give up at once.
        with self._checkpointing, contextlib.suppress(sqlite3.Error):
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count

    # --- messages ------------------------------------------------------------------------

    @_writes
    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        *,
        parent_id: int | None = None,
        model: str | None = None,
        provider: str | None = None,
        params: dict | None = None,
        meta: dict | None = None,
        interrupted: bool = False,
        reasoning: str = "",
        images: Sequence[Picture] = (),
        tool_calls: Sequence[dict[str, Any]] = (),
    ) -> int:
        """Add a message after ``parent_id`` (a new branch if that parent already has a child)
        and make it the conversation's current leaf. ``reasoning``: a reply's thinking;
        ``images``: a user's, each kept once (a file that cannot be written: ``StoreError``,
        and the message is not added)."""
        now = time.time()
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, model,"
                " provider, params, meta, interrupted, created, updated, reasoning, tool_calls)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    parent_id,
                    role,
                    content,
                    model,
                    provider,
                    json.dumps(params or {}),
                    json.dumps(meta or {}, default=str),
                    int(interrupted),
                    now,
                    now,
                    reasoning,
                    json.dumps(list(tool_calls), default=str),
                ),
            )
            message_id = int(cur.lastrowid)
            if images:
                try:
                    store_images.refer(self.db, self._images, message_id, images)
                except OSError as exc:  # the transaction is undone: no half message
                    err = error_for(exc, self._images.folder / "image")
                    raise StoreError(
                        f"Could not save the image with your message: {err.why}.",
                        err.hint,
                        kind=err.kind,
                        why=err.why,
                        fix=err.fix,
                    ) from exc
            self.db.execute(
                "UPDATE conversations SET leaf_id = ?, updated = ? WHERE id = ?",
                (message_id, now, conversation_id),
            )
        return message_id

    @_writes
    def drop_message(self, message_id: int, conversation_id: int, leaf_id: int | None) -> None:
        """Remove a reply row that never got any text; ``leaf_id`` is on show again."""
        with self.transaction():
            self.db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            self.db.execute(
                "UPDATE conversations SET leaf_id = ?, updated = ? WHERE id = ?",
                (leaf_id, time.time(), conversation_id),
            )

    @_writes
    def update_message(
        self,
        message_id: int,
        content: str,
        *,
        interrupted: bool,
        meta: dict | None = None,
        model: str | None = None,
        provider: str | None = None,
        reasoning: str | None = None,
        tool_calls: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Save a reply's text so far (``interrupted`` until it completes); what is None
        stays as it was (the thinking and tool calls too, which progress saves leave out)."""
        sets = ["content = ?", "interrupted = ?", "updated = ?"]
        values: list[Any] = [content, int(interrupted), time.time()]
        changes = (
            ("meta", meta),
            ("model", model),
            ("provider", provider),
            ("reasoning", reasoning),
            ("tool_calls", None if tool_calls is None else list(tool_calls)),
        )
        for name, value in changes:
            if value is not None:
                sets.append(f"{name} = ?")
                as_json = name in ("meta", "tool_calls")
                values.append(json.dumps(value, default=str) if as_json else value)
        self.db.execute(
            f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", (*values, message_id)
        )

    @_reads
    def message(self, message_id: int) -> StoredMessage | None:
        row = self.db.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        return (
            self._with_images([message_from_row(row)], "m.id = ?", message_id)[0] if row else None
        )

    @_reads
    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """Every message of a conversation, every branch, oldest first."""
        rows = self.db.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
        found = [message_from_row(r) for r in rows]
        return self._with_images(found, "m.conversation_id = ?", conversation_id)

    @_reads
    def message_ids(self, conversation_id: int) -> set[int]:
        """The ids of every message of a conversation (no text read)."""
        rows = self.db.execute(
            "SELECT id FROM messages WHERE conversation_id = ?", (conversation_id,)
        )
        return {r[0] for r in rows}

    @_reads
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
        found = [message_from_row(r) for r in rows if r[0] in wanted]
        return self._with_images(found, "m.conversation_id = ?", conversation_id)

    def _with_images(
        self, messages: list[StoredMessage], where: str, *args: Any
    ) -> list[StoredMessage]:
        """``messages`` with their images (one query for all; the lock is held)."""
        if messages:
            images = store_images.pictures_of(self.db, self._images, where, args)
            for m in messages:
                m.images = images.get(m.id, [])
        return messages

    @_reads
    def branch_ids(self, conversation_id: int, leaf_id: int | None = None) -> list[int]:
        """The ids from the root to ``leaf_id`` (default: the current leaf), in order. One
        indexed scan and a walk in Python: a recursive query costs several times more."""
        if leaf_id is None:
            stamp = self.stamp(conversation_id)
            leaf_id = stamp[0] if stamp else None
        parents = dict(
            self.db.execute(
                "SELECT id, parent_id FROM messages WHERE conversation_id = ?", (conversation_id,)
            ).fetchall()
        )
        path = []
        node = leaf_id
        while node is not None and node in parents:
            path.append(node)
            node = parents[node]
        return path[::-1]

    @_reads
    def versions(self, message_id: int) -> list[int]:
        """The ids of a message and its siblings (other versions of the same turn), oldest
        first. Reads no text: the window asks this of every message after each reply."""
        found = self.db.execute(
            "SELECT conversation_id, parent_id, role FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if found is None:
            return []
        rows = self.db.execute(
            "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS ? AND role = ?"
            " ORDER BY id",
            found,
        )
        return [r[0] for r in rows]

    @_writes
    def show_version(self, message_id: int) -> list[StoredMessage]:
        """Make the branch through ``message_id`` current (its latest descendant becomes the
        leaf) and return it."""
        leaf = message_id
        while True:
            row = self.db.execute(
                "SELECT max(id) FROM messages WHERE parent_id = ?", (leaf,)
            ).fetchone()
            if row[0] is None:
                break
            leaf = row[0]
        (conversation_id,) = self.db.execute(
            "SELECT conversation_id FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        self.db.execute(
            "UPDATE conversations SET leaf_id = ? WHERE id = ?", (leaf, conversation_id)
        )
        return self.branch(conversation_id, leaf)

    # --- search --------------------------------------------------------------------------

    @_reads
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
        return [
            SearchHit(about[rowid][0], rowid, about[rowid][1], about[rowid][2], snippet)
            for rowid, snippet in found
            if rowid in about
        ]

    # --- the user's personas and templates ----------------------------------------------

    @_reads
    def library_items(self, kind: str) -> list[tuple[str, dict]]:
        """The user's own entries of ``kind`` ("persona", "template"), by name."""
        rows = self.db.execute(
            "SELECT name, data FROM library WHERE kind = ? ORDER BY name", (kind,)
        )
        return [(name, json.loads(data)) for name, data in rows]

    @_writes
    def save_library_item(self, kind: str, name: str, data: dict) -> None:
        self.db.execute(
            "INSERT INTO library (kind, name, data) VALUES (?, ?, ?)"
            " ON CONFLICT (kind, name) DO UPDATE SET data = excluded.data",
            (kind, name, json.dumps(data)),
        )

    @_writes
    def delete_library_item(self, kind: str, name: str) -> None:
        self.db.execute("DELETE FROM library WHERE kind = ? AND name = ?", (kind, name))

    # --- drafts (``drafts.Drafts``) ------------------------------------------------------

    @_reads
    def draft(self, key: str) -> str:
        row = self.db.execute("SELECT text FROM drafts WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""

    @_writes
    def save_draft(self, key: str, text: str) -> None:
        """Keep ``text`` as the draft under ``key``; blank text: no draft."""
        if text.strip():
            self.db.execute(
                "INSERT INTO drafts (key, text, updated) VALUES (?, ?, ?) ON CONFLICT(key)"
                " DO UPDATE SET text = excluded.text, updated = excluded.updated",
                (key, text, time.time()),
            )
        else:
            self.db.execute("DELETE FROM drafts WHERE key = ?", (key,))


def _journal_mode_wal(db: sqlite3.Connection) -> str:
    """Switch to WAL. A start beside another one (two at the same moment, on a new file) may
    find the switch busy, without SQLite waiting for it: try again for a few seconds."""
    deadline = time.monotonic() + 5.0
    while True:
        try:
            return db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower()
        except sqlite3.OperationalError as exc:
            if not busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _prepare(db: sqlite3.Connection, path: Path | None, notes: list[str]) -> None:
    """Settings every connection needs, then the migrations not yet applied (the file backed
    up first when it already holds data)."""
    db.execute("PRAGMA foreign_keys = ON")
    # A deleted row's bytes are overwritten, not left in free pages: a purged chat is gone.
    db.execute("PRAGMA secure_delete = ON")
    mode = _journal_mode_wal(db)
    if path is not None and mode != "wal":
        raise sqlite3.OperationalError("could not switch to WAL mode")
    db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints
    db.execute("PRAGMA busy_timeout = 2000")
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
        " applied REAL NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
    pending = [(v, m) for v, m in enumerate(MIGRATIONS, start=1) if v not in done]
    if pending and done and path is not None:
        backup = path.with_name(f"{path.name}.before-v{pending[0][0]}")
        db.execute("PRAGMA wal_checkpoint(FULL)")
        shutil.copy2(path, backup)
        notes.append(f"Backed up the database to {backup.name} before updating it.")
    for version, migrate in pending:
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
            ).fetchone():
                db.execute("COMMIT")  # another start applied it while this one waited
                continue
            migrate(db)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite may already have rolled back (a full disk)
                db.execute("ROLLBACK")
            raise
