"""What the user has typed and not sent yet, kept in the conversation store like the messages,
so that a crash, a quit or opening another conversation loses none of it.

A draft is kept under a key: a conversation's id, ``NEW`` for the new chat not yet saved,
``QUICK`` for the quick prompt's input.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from desktop_chat.store import Store

log = logging.getLogger(__name__)

NEW = "new"
QUICK = "quick"


def key_for(conversation_id: int | None) -> str:
    """The key of the draft typed for a conversation (``None``: the new chat)."""
    return NEW if conversation_id is None else str(conversation_id)


class Drafts:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, key: str) -> str:
        try:
            row = self.store.db.execute("SELECT text FROM drafts WHERE key = ?",
                                        (key,)).fetchone()  # fmt: skip
        except sqlite3.Error:
            log.warning("reading the draft %r failed", key, exc_info=True)
            return ""
        return row[0] if row else ""

    def save(self, key: str, text: str) -> bool:
        """Keep ``text`` as the draft (blank text: no draft). False when the store refused it
        (a full disk, a read-only file): the text is still on show, and the log says why."""
        try:
            if text.strip():
                self.store.db.execute(
                    "INSERT INTO drafts (key, text, updated) VALUES (?, ?, ?) ON CONFLICT(key)"
                    " DO UPDATE SET text = excluded.text, updated = excluded.updated",
                    (key, text, time.time()),
                )
            else:
                self.store.db.execute("DELETE FROM drafts WHERE key = ?", (key,))
        except sqlite3.Error:
            log.warning("saving the draft %r failed", key, exc_info=True)
            return False
        return True

    def drop(self, key: str) -> bool:
        """The draft was sent: it is a message now."""
        return self.save(key, "")
