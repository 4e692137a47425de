"""What the user has typed and not sent yet, kept in the conversation store like the messages,
so that a crash, a quit or opening another conversation loses none of it.

A draft is kept under a key: a conversation's id, ``NEW`` for the new chat not yet saved,
``QUICK`` for the quick prompt's input.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

from desktop_chat.store import Store, StoreError

log = logging.getLogger(__name__)

NEW = "new"
QUICK = "quick"


def key_for(conversation_id: int | None) -> str:
    """The key of the draft typed for a conversation (``None``: the new chat)."""
    return NEW if conversation_id is None else str(conversation_id)


class Drafts:
    """Drafts in the store. ``save_later`` writes on the store's thread (a pasted 2 MB draft
    costs the window nothing), in order with the store's other later writes; ``get`` reads
    what is on its way there as already saved."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: What ``save_later`` is writing, by key: the newest text asked for each.
        self._on_the_way: dict[str, str] = {}
        self._guard = threading.Lock()  # the store's thread clears what it has written

    def get(self, key: str) -> str:
        if key in self._on_the_way:
            return self._on_the_way[key]
        try:
            return self.store.draft(key)
        except StoreError:  # a damaged page, a disk error: the composer starts empty
            log.warning("reading the draft %r failed", key, exc_info=True)
            return ""

    def save(self, key: str, text: str) -> bool:
        """Keep ``text`` as the draft (blank text: no draft), now: after any ``save_later``
        still on its way. False when the store refused it (a full disk, a read-only file):
        the text is still on show, and the log says why."""
        return self.save_later(key, text).result()

    def save_later(self, key: str, text: str) -> Future:
        """``save`` on the store's thread; the future says whether it was kept."""
        with self._guard:
            self._on_the_way[key] = text
        return self.store.later(self._write, key, text)

    def drop(self, key: str) -> bool:
        """The draft was sent: it is a message now."""
        return self.save(key, "")

    def drop_later(self, key: str) -> Future:
        return self.save_later(key, "")

    def _write(self, key: str, text: str) -> bool:
        try:
            self.store.save_draft(key, text)
            return True
        except StoreError:
            log.warning("saving the draft %r failed", key, exc_info=True)
            return False
        finally:
            with self._guard:
                if self._on_the_way.get(key) is text:  # no newer text asked for meanwhile
                    del self._on_the_way[key]
