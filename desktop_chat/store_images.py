"""The images of users' messages, kept once each by content hash: a file in ``images/`` beside
the database (``images/<digest[:2]>/<digest>.png|jpg``) and a row in ``images``; each message
refers to its own in ``message_images``, in order, under the name the user gave it.

The bytes live in files, not in the database: the database stays small and fast to open,
copy and repair, and a 2 MB screenshot sent twice costs 2 MB once. A file is written to a
temporary name in its folder and renamed, so a file under a digest's name is always whole.

What writes a reference ensures its file exists inside the same transaction, and what removes
unreferenced images (``collect``, when deleted conversations are purged, after Undo's window)
does so inside its own: two programs using the same data folder (the window and ``llmchat``)
take SQLite's write lock in turn, so neither removes a file the other has just referred to.

A store that lasts this session only (a file that cannot be written) keeps new images in
memory, and still reads those already in the folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from desktop_chat.picture import Picture

log = logging.getLogger(__name__)

_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg"}
#: A file in the folder that no row names is removed once it is this old: younger, it may be
#: another program's, written in a transaction that has not committed yet.
STRAY_AGE_S = 3600.0


def migrate(db: sqlite3.Connection) -> None:
    """The tables (a schema migration of ``store.MIGRATIONS``)."""
    db.execute(
        "CREATE TABLE images (digest TEXT PRIMARY KEY, mime TEXT NOT NULL,"
        " width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL,"
        " created REAL NOT NULL)"
    )
    db.execute(
        "CREATE TABLE message_images ("
        " message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
        " position INTEGER NOT NULL,"
        " digest TEXT NOT NULL REFERENCES images(digest),"
        " name TEXT NOT NULL DEFAULT '',"
        " PRIMARY KEY (message_id, position))"
    )
    db.execute("CREATE INDEX message_images_by_digest ON message_images(digest)")


class ImageFiles:
    """The folder of image files (``folder``); ``writable`` False: new ones kept in memory."""

    def __init__(self, folder: Path, writable: bool = True) -> None:
        self.folder = folder
        self.writable = writable
        self._memory: dict[str, bytes] = {}

    def path(self, digest: str, mime: str) -> Path:
        return self.folder / digest[:2] / f"{digest}{_SUFFIX.get(mime, '.img')}"

    def keep(self, picture: Picture) -> None:
        """Make sure the picture's file exists (raises ``OSError`` when it cannot be written)."""
        if not self.writable:
            self._memory.setdefault(picture.digest, picture.data)
            return
        target = self.path(picture.digest, picture.mime)
        if target.is_file() and target.stat().st_size == len(picture.data):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(picture.data)
                out.flush()
                os.fsync(out.fileno())  # whole on disk before its name says it is there
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def read(self, digest: str, mime: str) -> bytes | None:
        """The image's bytes; None when its file is gone (removed by hand, a disk error)."""
        if digest in self._memory:
            return self._memory[digest]
        try:
            return self.path(digest, mime).read_bytes()
        except OSError as exc:
            log.warning("image %s cannot be read: %s", digest, exc)
            return None

    def remove(self, digest: str, mime: str) -> None:
        self._memory.pop(digest, None)
        if self.writable:
            with contextlib.suppress(FileNotFoundError):
                self.path(digest, mime).unlink()

    def strays(self, known: set[str], older_than_s: float = STRAY_AGE_S) -> Iterable[Path]:
        """Files (and leftover temporary ones) older than ``older_than_s`` that no row names:
        a write whose transaction failed after its file was made."""
        if not self.writable or not self.folder.is_dir():
            return
        cutoff = time.time() - older_than_s
        for file in self.folder.glob("*/*"):
            with contextlib.suppress(OSError):
                if file.stem not in known and file.stat().st_mtime < cutoff:
                    yield file


def refer(
    db: sqlite3.Connection, files: ImageFiles, message_id: int, pictures: Sequence[Picture]
) -> None:
    """Inside a transaction: ``message_id``'s images, each file made if it is not there yet."""
    now = time.time()
    for position, picture in enumerate(pictures):
        files.keep(picture)
        db.execute(
            "INSERT OR IGNORE INTO images (digest, mime, width, height, bytes, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (picture.digest, picture.mime, picture.width, picture.height, len(picture.data), now),
        )
        db.execute(
            "INSERT INTO message_images (message_id, position, digest, name) VALUES (?, ?, ?, ?)",
            (message_id, position, picture.digest, picture.name),
        )


def pictures_of(
    db: sqlite3.Connection, files: ImageFiles, where: str, args: Sequence
) -> dict[int, list[Picture]]:
    """The images of the messages that ``where`` (a condition on ``m``, the messages table)
    picks, by message id, in order. An image whose file is gone is left out (logged)."""
    rows = db.execute(
        "SELECT r.message_id, r.name, i.digest, i.mime, i.width, i.height"
        " FROM message_images r JOIN messages m ON m.id = r.message_id"
        f" JOIN images i ON i.digest = r.digest WHERE {where}"
        " ORDER BY r.message_id, r.position",
        args,
    ).fetchall()
    found: dict[int, list[Picture]] = {}
    for message_id, name, digest, mime, width, height in rows:
        data = files.read(digest, mime)
        if data is not None:
            found.setdefault(message_id, []).append(
                Picture(data, mime, width, height, name=name, digest=digest)
            )
    return found


def collect(db: sqlite3.Connection, files: ImageFiles) -> int:
    """Inside a transaction: remove the images no message refers to any more (rows, then
    files), and stray files; returns how many images went."""
    gone = db.execute(
        "SELECT digest, mime FROM images WHERE digest NOT IN (SELECT digest FROM message_images)"
    ).fetchall()
    db.executemany("DELETE FROM images WHERE digest = ?", [(d,) for d, _ in gone])
    for digest, mime in gone:  # last, in the transaction: see the module's docstring
        files.remove(digest, mime)
    known = {d for (d,) in db.execute("SELECT digest FROM images")}
    for stray in list(files.strays(known)):
        with contextlib.suppress(OSError):
            stray.unlink()
    return len(gone)
