"""The conversation store as the window meets it: what the store refuses or cannot read (a full
disk, a damaged page, a lock held by another program), what its check finds after opening and
a chat that stops being saved are said in a banner (``notice``), never raised; at quitting, the
log says what a full disk still refused. The controller holds one (``controller.guard``); the
window calls the store through ``controller.with_store``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktop_chat.store_files import StoreError

log = logging.getLogger(__name__)


class StoreGuard(QObject):
    notice = Signal(str, str)  # message, hint
    repaired = Signal()  # the store's file was damaged: the store is a repaired copy now

    _news = Signal(object)  # from the store's check thread

    def __init__(self, store, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._news.connect(self._told)
        store.listen(self._news.emit)

    def call(self, what: Callable, *args: Any, default: Any = None, **kwargs: Any) -> Any:
        """``what(store, *args, **kwargs)``: what the window asks of the conversation store (a
        ``Store`` method, an export, drafts or a session kept there). What the store cannot
        do is said in a banner, and ``default`` comes back instead: never raised."""
        try:
            return what(self.store, *args, **kwargs)
        except StoreError as err:
            self.refused(err)
            return default

    def refused(self, err: StoreError) -> None:
        log.warning("store: %s", err)
        self.notice.emit(err.message, err.hint)

    @Slot(object)
    def _told(self, news: StoreError) -> None:
        """The store found its file damaged after opening: repaired (what was kept, where the
        damaged file went) or not."""
        log.warning("store: %s", news.message)
        if news.kind == "repaired":
            self.repaired.emit()
        self.notice.emit(news.message, news.hint)

    def problem(self, problem: StoreError | None) -> None:
        """The chat on show stopped being saved (``problem``) or is saved again (None). Said
        once the action at hand is done: a new chat's first message is on show by then, not
        the welcome panel the banner would land on."""
        said = (problem.message, problem.hint) if problem else ("The chat is saved again.", "")
        asyncio.get_event_loop().call_soon(self.notice.emit, *said)

    def close(self, chat) -> None:
        """Close the store, once the window's ``chat`` has written what it still can; what a
        full disk still refuses is in the log."""
        if not chat.flush():
            problem = chat.problem or "the store refused them"
            log.warning(
                "%d conversations could not be saved before quitting: %s", chat.unsaved, problem
            )
        self.store.close()
