"""The local conversations' prompt caches as the window handles them: the disk they take and
Clear (Settings), and a conversation's caches removed once it is deleted for good.

While the engine runs, its pool holds caches in memory too and takes no lock: what changes it
runs on the engine's thread (``engine.submit``), after the job under way. Without an engine
the files are read or removed straight from the folder: none is started for them.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_chat import prompt_caches

if TYPE_CHECKING:
    from desktop_chat.gui.model_host import ModelHost
    from desktop_chat.store import Store

log = logging.getLogger(__name__)


def folder(models: ModelHost) -> Path:
    """Where the caches are: the running engine's folder, else the app's."""
    engine = models.engine
    if engine is not None and engine.caches.folder is not None:
        return engine.caches.folder
    return models.paths.cache_dir / prompt_caches.FOLDER


async def _on_engine(models: ModelHost, job) -> Any:
    engine = models.engine
    return await asyncio.wrap_future(engine.submit(job))


async def disk_used(models: ModelHost) -> int:
    return await asyncio.to_thread(prompt_caches.disk_usage, folder(models))


async def clear(models: ModelHost) -> None:
    """Every cache, on disk and in the engine's memory. ``OSError`` when a file stays."""
    engine = models.engine
    if engine is not None:
        await _on_engine(models, engine.caches.clear)
        if engine.caches.folder is not None:
            return
    # No engine, or one that saves none ([app] prompt_cache_disk_gb = 0): files left earlier.
    await asyncio.to_thread(prompt_caches.remove_files, folder(models))


async def forget(models: ModelHost, conversation_id: int) -> None:
    """A conversation deleted for good: its caches go, in memory and on disk."""
    key, engine = str(conversation_id), models.engine
    try:
        if engine is not None:
            await _on_engine(models, lambda: engine.caches.forget(key))
            if engine.caches.folder is not None:
                return
        await asyncio.to_thread(prompt_caches.remove_files, folder(models), key)
    except OSError as exc:  # the next start's tidy-up tries again
        log.warning("prompt cache of conversation %s not removed: %s", conversation_id, exc)


async def tidy(models: ModelHost, store: Store) -> int:
    """At startup: remove the caches of conversations the store no longer has (deleted by a
    copy of the app that quit before its Undo bar ran out, or by llmchat). Not for a store
    that lasts this session only: its conversations are not the file's."""
    if not store.saved:
        return 0

    def exists(conversation_id: int) -> bool:
        return store.stamp(conversation_id) is not None  # deleted ones Undo may bring back too

    from desktop_chat.store_files import StoreError

    try:
        gone = await asyncio.to_thread(prompt_caches.remove_orphans, folder(models), exists)
    except (OSError, StoreError) as exc:
        log.warning("prompt caches of deleted conversations not removed: %s", exc)
        return 0
    if gone:
        log.info("prompt caches of %d deleted conversations removed", gone)
    return gone
