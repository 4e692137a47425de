"""Work for the store done on a thread of its own, one piece after the other in the order it
was asked for: a 2 MB message's row or draft (indexed for search, journalled: tens of
milliseconds) and SQLite's checkpoints, which would otherwise pause the window's thread.

The thread lives only while there is work, and is a daemon: an idle store holds no thread (the
tests fail on one left running), and ``Store.close()`` waits for what was asked before it
closes. ``concurrent.futures.ThreadPoolExecutor`` would keep a non-daemon thread per store
alive until it is shut down, which every store opened would then have to do.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class WriteQueue:
    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: collections.deque[tuple[Future, Callable, tuple, dict]] = collections.deque()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, work: Callable, *args: Any, **kwargs: Any) -> Future:
        """Run ``work(*args, **kwargs)`` after everything put before it; the future holds what
        it returned or raised."""
        future: Future = Future()
        with self._guard:
            self._jobs.append((future, work, args, kwargs))
            if self._thread is None:
                self._thread = threading.Thread(target=self._drain, name=self._name, daemon=True)
                self._thread.start()
        return future

    def wait(self) -> None:
        """Return once everything put so far is done (at once on the queue's own thread)."""
        with self._guard:
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        self.put(_nothing).result()

    def _drain(self) -> None:
        while True:
            with self._guard:
                if not self._jobs:
                    self._thread = None
                    return
                future, work, args, kwargs = self._jobs.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work(*args, **kwargs))
            except BaseException as exc:  # the asker's to handle, like any call's error
                future.set_exception(exc)


def _nothing() -> None:
    return None
