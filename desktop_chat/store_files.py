"""The conversation database's file when it cannot be used as it is: what SQLite (or the file
system) said, as a sentence with what to do; a damaged file set aside under a name no earlier
copy has; the conversations read from a file that cannot be written."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from desktop_chat.errors import DesktopChatError


class StoreError(DesktopChatError):
    """The conversation database cannot be opened, or a change to it was not saved: what
    happened and what to do. ``kind`` names the cause ("full", "read-only", "locked",
    "damaged", "cannot open", "not a folder", "disk error", "other"); ``why`` says it as the
    end of a sentence; ``fix`` what to do about it."""

    def __init__(
        self, message: str, hint: str = "", *, kind: str = "other", why: str = "", fix: str = ""
    ) -> None:
        super().__init__(message, hint)
        self.kind = kind
        self.why = why or message
        #: What to do, without "then try again" (a client says what follows).
        self.fix = fix or hint.rstrip(".")


class StoreWarning(UserWarning):
    """A reply arrived but was not saved (the Python API's ``chat``/``ask`` warn with it)."""


def _code(exc: BaseException) -> int:
    """SQLite's primary result code (the extended code's low byte), 0 when there is none."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def damaged(exc: BaseException) -> bool:
    """Only what SQLite itself calls damaged: anything else (full, read-only, locked) must
    never make a file be moved aside."""
    return _code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def busy(exc: BaseException) -> bool:
    """Another connection holds a lock this one needs."""
    return _code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _kind(exc: BaseException, folder: Path) -> str:
    code = _code(exc)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return "damaged"
    if code == sqlite3.SQLITE_FULL:
        return "full"
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH):
        return "read-only"
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return "locked"
    if code == sqlite3.SQLITE_CANTOPEN:  # a -shm file that cannot be made, or no access
        return "read-only" if _read_only(folder) else "cannot open"
    if code == sqlite3.SQLITE_IOERR or isinstance(exc, OSError):
        number = getattr(exc, "errno", None)
        if number in (errno.ENOSPC, errno.EDQUOT) or _nearly_full(folder):
            return "full"  # an I/O error on a full disk (SQLite says IOERR for a -shm file)
        if number in (errno.EROFS, errno.EACCES, errno.EPERM):
            return "read-only"
        if number in (errno.ENOTDIR, errno.EEXIST):
            return "not a folder"
        return "disk error"
    return "other"


def _read_only(folder: Path) -> bool:
    """A folder on a read-only volume, or one this process may not write in."""
    with contextlib.suppress(OSError):
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY) or not os.access(folder, os.W_OK)
    return False


def _nearly_full(folder: Path) -> bool:
    for place in (folder, *folder.parents):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(place).free < 1_000_000
    return False


def error_for(
    exc: BaseException, path: Path, *, opening: bool = False, reading: bool = False
) -> StoreError:
    """A sentence for what SQLite (or the file system) said while opening, reading or
    writing, and what to do about it."""
    folder = path.parent
    if opening and isinstance(exc, OSError) and not folder.is_dir():
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        kind = "not a folder" if blocker.is_file() else _kind(exc, folder)
    else:
        blocker, kind = folder, _kind(exc, folder)
    why = {
        "damaged": "the file is damaged",
        "full": "the disk is full",
        "read-only": "the file or its folder is read-only",
        "locked": "it is locked by another program",
        "cannot open": "it cannot be opened (the file or its folder may not be readable)",
        "not a folder": f"{blocker} is a file, where a folder is needed",
        "disk error": f"the disk reported an error ({exc})",
    }.get(kind, str(exc))
    fix = {
        "damaged": "Quit and reopen Desktop Chat: it keeps the damaged file aside and starts a "
        "new one",
        "full": "Free some space on the disk",
        "read-only": f"Make {path.name} and its folder {folder} writable (Finder → Get Info → "
        "Sharing & Permissions)",
        "locked": "Quit the other Desktop Chat (or llmchat) using it",
        "cannot open": f"Check that you may read and write {folder}",
        "not a folder": f"Move or rename the file {blocker}",
    }.get(kind, "Check the disk (Disk Utility → First Aid)")
    then = "then start Desktop Chat (or llmchat) again" if opening else "then try again"
    hint = f"{fix}." if kind == "damaged" else f"{fix}, {then}."
    if opening:
        message = f"The conversation database {path} cannot be used: {why}."
    else:
        message = f"Could not {'read' if reading else 'save to'} the conversation database: {why}."
    return StoreError(message, hint, kind=kind, why=why, fix=fix)


def identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """One start at a time may set a damaged file aside (an advisory lock on the folder)."""
    try:
        import fcntl
    except ImportError:  # not on macOS or Linux: no lock, the checks below still hold
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def new_name(path: Path, label: str) -> Path:
    """``path`` + ``.label-<date>-<time>`` (``-2``, ``-3``… when taken), made empty now: the name
    is ours once made, nothing else can take it and nothing is replaced."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        name = path.with_name(f"{path.name}.{label}-{stamp}" + (f"-{n}" if n > 1 else ""))
        if any(Path(f"{name}{s}").exists() for s in ("-wal", "-shm")):
            continue
        try:
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            continue
        return name
    raise FileExistsError(errno.EEXIST, f"no free name for {path.name}.{label}-{stamp}")


def set_aside(path: Path, seen: tuple[int, int] | None, fresh: Path | None = None) -> Path | None:
    """Move the damaged file (and its -wal and -shm) to a name no file has yet, and put
    ``fresh`` (a repaired copy) in its place; None when it is no longer the file found damaged
    (another start moved it aside first). ``fresh`` stays where it is when it cannot take the
    place (a file made there since is never replaced)."""
    with _folder_lock(path.parent):
        if seen is None or identity(path) != seen:
            return None
        aside = new_name(path, "damaged")
        for suffix in ("-wal", "-shm", ""):  # the database itself last: it names the set
            part = Path(f"{path}{suffix}")
            if part.exists():
                os.replace(part, Path(f"{aside}{suffix}"))
        if fresh is not None:
            with contextlib.suppress(OSError):
                _move_to_free_name(fresh, path)
        return aside


def _move_to_free_name(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` unless a file is there (a hard link fails on an existing
    name; a file system without hard links is looked at first)."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        if not target.exists():
            os.replace(source, target)
    else:
        os.unlink(source)


def read_copy(path: Path) -> sqlite3.Connection | None:
    """The file's conversations copied into memory, read without writing anything next to it
    (no -wal or -shm); None when it cannot be read."""
    if not path.is_file():
        return None
    uri = path.resolve().as_uri()
    # Read-only first; then immutable, which needs no -shm file (a read-only folder, a full
    # disk), but not for a locked file, whose writer may be halfway through a change.
    for query in ("mode=ro", "mode=ro&immutable=1"):
        try:
            source = sqlite3.connect(f"{uri}?{query}", uri=True, timeout=0.5, isolation_level=None)
        except sqlite3.Error:
            continue
        try:
            # The read lock first, held through the copy: backup() itself would wait for a
            # lock held by another program forever.
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
            copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            source.backup(copy)
            return copy
        except sqlite3.Error as exc:
            if _code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return None
        finally:
            source.close()
    return None
