"""Work for the store done on a thread of its own, one piece after the other in the order it
was asked for: a 2 MB message's row or draft (indexed for search, journalled: tens of
milliseconds) and SQLite's checkpoints, which would otherwise pause the window's thread.

The thread lives while there is work and ``LINGER_S`` after (a message sent soon after its
draft was saved does not wait, in the Enter key's handler, for a thread to start), and is a
daemon: an idle store holds no thread, and ``Store.close()`` waits for what was asked before
it closes. ``concurrent.futures.ThreadPoolExecutor`` would keep a non-daemon thread per store
alive until it is shut down, which every store opened would then have to do.
"""

from __future__ import annotations

import collections
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)

#: How much less the write thread asks of the CPU than the window's thread (Linux nice levels).
NICER = 10
#: macOS: the quality-of-service class for work the user does not wait on (sys/qos.h).
_QOS_CLASS_UTILITY = 0x11
#: Seconds the thread waits for more work before it ends.
LINGER_S = 2.0


class WriteQueue:
    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: collections.deque[tuple[Future, Callable, tuple, dict]] = collections.deque()
        self._guard = threading.Condition()
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
            else:
                self._guard.notify()  # a lingering thread takes it at once
        return future

    def wait(self) -> None:
        """Return once everything put so far is done (at once on the queue's own thread)."""
        with self._guard:
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        self.put(_nothing).result()

    def _drain(self) -> None:
        _yield_to_the_window()
        while True:
            with self._guard:
                if not self._jobs:
                    self._guard.wait(LINGER_S)
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


def _yield_to_the_window() -> None:
    """Run this thread below the window's: on two cores, a 2 MB message's search index (40 ms
    of SQLite, the GIL released) would otherwise take the core a repaint was waiting for.
    The order of writes, and what waits for them, are unchanged; only the scheduler's choice
    when both want a core. Best effort: a system that refuses keeps the normal priority."""
    try:
        if sys.platform == "darwin":  # per-thread nice is not POSIX; macOS has QoS classes
            import ctypes

            libc = ctypes.CDLL("/usr/lib/libSystem.B.dylib")
            libc.pthread_set_qos_class_self_np(_QOS_CLASS_UTILITY, 0)
        elif sys.platform.startswith("linux"):  # Linux: a thread's nice level is its own
            me = threading.get_native_id()  # below whichever thread started this one
            os.setpriority(
                os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me) + NICER)
            )
    except (OSError, AttributeError) as exc:
        log.debug("store writes keep the normal priority: %s", exc)
