"""The conversation store's watch over its file, mixed into ``Store``: a damaged file that
still opens is found without making opening wait, and what can still be read is saved.

SQLite's quick_check runs once, ``CHECK_AFTER_S`` after opening, on a thread of its own (about
90 ms for 100,000 messages, which opening itself takes 2 ms for; run at once, it doubled the
time to open and read the latest chat on two busy cores); any read or write SQLite answers with
"damaged" finds the damage too. Then what can still be read is copied into a new file
(``store_rescue``), the damaged one is kept aside as it was, under a name no earlier copy has
(``store_files.set_aside``), the store goes on with the copy, and ``listen()`` tells the client
where the damaged file went. Only what SQLite itself calls damaged is ever set aside.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from desktop_chat.store_files import StoreError, damaged, error_for, identity, new_name, set_aside
from desktop_chat.store_rescue import Salvage, copy_readable
from desktop_chat.store_writes import WriteQueue

log = logging.getLogger(__name__)

#: Seconds after opening before the whole file is checked for damage: the start (the window
#: shown, the sidebar and the latest chat read) is over by then.
CHECK_AFTER_S = 5.0


class Repairs:
    """What ``Store`` needs of it: ``db``, ``path``, ``notes``, ``saved``, ``_lock``,
    ``_checkpointing``, ``_checkpoints``, ``_connect`` and ``_new_schema``."""

    def _init_repairs(self) -> None:
        #: The check after opening and repairs, on a thread of their own: ``later()``'s
        #: writes (a message being sent) never wait behind them.
        self._repairs = WriteQueue("store-check")
        #: The files (by identity) a repair was tried for: once each.
        self._repaired: set[tuple[int, int]] = set()
        self._check_now = threading.Event()  # the check waits ``CHECK_AFTER_S`` for it
        self._guard = threading.Lock()  # for the four below
        self._checking: sqlite3.Connection | None = None  # interrupted by close()
        self._closed = False
        self._listener: Callable[[StoreError], None] | None = None
        self._news: list[StoreError] = []  # told to the listener once there is one

    def _stop_repairs(self) -> None:
        """Before closing: a check under way stops, a repair under way ends first."""
        with self._guard:
            self._closed = True
            if self._checking is not None:
                self._checking.interrupt()
        self._check_now.set()
        self._repairs.wait()

    def listen(self, callback: Callable[[StoreError], None]) -> None:
        """``callback(news)`` for what the store's own thread finds after opening: a damaged
        file repaired (``kind`` "repaired": what was kept, where the damaged file went) or one
        that could not be (``kind`` "damaged"). Called on that thread; what it found before
        there was a listener, at once. The same sentences are added to ``notes``."""
        with self._guard:
            self._listener = callback
            told, self._news = self._news, []
        for news in told:
            callback(news)

    def checked(self) -> None:
        """Check the file now if that is still to come, and return once the check and any
        repair asked so far are done."""
        self._check_now.set()
        self._repairs.wait()

    def _tell(self, news: StoreError) -> None:
        self.notes.append(f"{news.message} {news.hint}")
        with self._guard:
            listener = self._listener
            if listener is None:
                self._news.append(news)
        if listener is not None:
            listener(news)

    def _trouble(self, exc: sqlite3.Error, reading: bool = False) -> StoreError:
        """What SQLite refused, as a sentence; a damaged file is repaired on the store's own
        thread (once), and the sentence says so."""
        err = error_for(exc, self.path, reading=reading)
        if err.kind != "damaged" or not self.saved:
            return err
        seen = identity(self.path)
        if seen is not None and seen not in self._repaired:
            self._check_now.set()  # the repair is not to wait behind the check's delay
            self._repairs.put(self._repair, exc, seen)
            fix = (
                "Wait a moment while Desktop Chat copies what can still be read into a new "
                "file (the damaged one is kept aside)"
            )
        else:
            fix = "Quit and reopen Desktop Chat (or llmchat): it tries to repair the file again"
        return StoreError(
            err.message, f"{fix}, then try again.", kind="damaged", why=err.why, fix=fix
        )

    def _check(self) -> None:
        """On the store's check thread, ``CHECK_AFTER_S`` after opening (or when ``checked()``
        asks): SQLite's quick_check of the whole file, on a connection of its own (opening does
        not wait for it; the window's reads and writes go on beside it, WAL is made for that)."""
        self._check_now.wait(CHECK_AFTER_S)
        if self._closed:
            return
        seen = identity(self.path)
        try:
            check = sqlite3.connect(
                self.path, timeout=2.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            log.info("no check of %s: %s", self.path, exc)
            return
        with self._guard:
            if self._closed:
                check.close()
                return
            self._checking = check
        problem: BaseException | None = None
        try:
            check.execute("PRAGMA query_only = ON")
            found = check.execute("PRAGMA quick_check(1)").fetchone()[0]
            if found != "ok":
                problem = sqlite3.DatabaseError(f"quick_check: {found}")
        except sqlite3.Error as exc:  # interrupted by close(), locked, or damaged
            if damaged(exc):
                problem = exc
            else:
                log.info("the check of %s did not finish: %s", self.path, exc)
        finally:
            with self._guard:
                self._checking = None
            check.close()
        if problem is not None and seen is not None:
            self._repair(problem, seen)
        else:
            log.info("%s checked: no damage found", self.path)

    def _repair(self, cause: BaseException, seen: tuple[int, int]) -> None:
        """On the store's check thread, for a file SQLite reported damaged (its identity
        ``seen`` when it did): copy what can still be read into a new file, keep the damaged one
        aside under a name no earlier copy has, go on with the copy, and tell the listener.
        Other users of the store wait meanwhile (about 2 s for 100,000 messages): no write
        may fall between the copy and the swap."""
        with self._lock, self._checkpointing:
            if self._closed or seen in self._repaired or identity(self.path) != seen:
                return
            self._repaired.add(seen)
            log.warning("%s is damaged (%s): copying what can still be read", self.path, cause)
            started = time.monotonic()
            try:
                fresh, salvage = self._copy_readable()
            except (sqlite3.Error, OSError) as exc:
                log.warning("no repaired copy of %s could be made: %s", self.path, exc)
                why = error_for(exc, self.path)
                news = StoreError(
                    f"The conversation database {self.path} is damaged, and no repaired copy "
                    f"could be made: {why.why}.",
                    f"{why.fix}, then quit and reopen Desktop Chat (or llmchat): it tries "
                    "again. Until then, what can still be read is shown.",
                    kind="damaged",
                )
            else:
                news = self._swap(fresh, salvage, seen)
                log.warning(
                    "%s repaired in %.1f s: %s", self.path, time.monotonic() - started, news.message
                )
        self._tell(news)

    def _copy_readable(self) -> tuple[Path, Salvage]:
        """What can still be read, copied into a new file beside the damaged one (one file,
        no journal, ready to take its place). A copy that fails is removed: it is ours."""
        fresh = new_name(self.path, "repaired")
        try:
            target = sqlite3.connect(fresh, isolation_level=None)
            try:
                self._new_schema(target)
                self.db.execute("BEGIN")  # one snapshot of the damaged file
                try:
                    salvage = copy_readable(self.db, target)
                finally:
                    if self.db.in_transaction:
                        self.db.execute("ROLLBACK")
                target.execute("PRAGMA journal_mode = DELETE")
            finally:
                target.close()
        except BaseException:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{fresh}{suffix}").unlink(missing_ok=True)
            raise
        return fresh, salvage

    def _swap(self, fresh: Path, salvage: Salvage, seen: tuple[int, int]) -> StoreError:
        """Go on with the repaired copy ``fresh``; the damaged file is kept aside as it is (no
        checkpoint into it on closing: its journal goes with it)."""
        if self._checkpoints is not None:
            self._checkpoints.close()
            self._checkpoints = None
        with contextlib.suppress(sqlite3.Error, AttributeError):  # SQLite older than 3.28
            self.db.setconfig(sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, True)
        self.db.close()
        kept = (
            f"What could still be read ({salvage.conversations:,} conversations, "
            f"{salvage.messages:,} messages)"
        )
        try:
            aside = set_aside(self.path, seen, fresh)
        except OSError as exc:  # not moved: the damaged file goes on being used
            log.warning("could not set %s aside: %s", self.path, exc)
            aside = None
        self.db = self._reopen()
        if aside is not None and not fresh.exists():
            return StoreError(
                f"The conversation database was damaged. {kept} is in a new "
                f"file; the damaged file is kept as {aside}.",
                "Nothing needs doing. What stood in its damaged parts could not "
                "be read; a recovery tool (the sqlite3 shell's .recover) may get "
                "more out of the kept file.",
                kind="repaired",
            )
        # Another start set it aside first, or made a new file in its place since: the
        # copy stays beside it.
        also = f" The damaged file is kept as {aside}." if aside is not None else ""
        return StoreError(
            f"The conversation database {self.path} was damaged. {kept} is kept as {fresh}.{also}",
            f"To go on with that copy, quit Desktop Chat (and llmchat) and put "
            f"it in the place of {self.path.name}.",
            kind="repaired",
        )

    def _reopen(self) -> sqlite3.Connection:
        """The connection to the file now at ``path``; one for this session only (saying so)
        when it cannot be opened."""
        try:
            return self._connect(self.path, self.notes)
        except (sqlite3.Error, OSError) as exc:
            err = error_for(exc, self.path, opening=True)
            log.warning("could not reopen %s: %s", self.path, err)
            self.saved = False
            self.notes.append(f"{err.message} For now, new chats are not saved. {err.hint}")
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            self._new_schema(db)
            return db
