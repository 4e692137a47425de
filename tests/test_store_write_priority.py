"""The store's write thread gives way to the window's thread when both want a core."""

import os
import sys
import threading

import pytest

from desktop_chat.store_writes import NICER, WriteQueue


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux nice levels per thread")
def test_writes_run_nicer_than_the_thread_that_asks() -> None:
    queue = WriteQueue("test-writes")
    asker = _nice()
    writer = queue.put(_nice).result(timeout=10)
    assert writer == min(19, asker + NICER)
    assert _nice() == asker  # the asking thread (the window's) keeps its own priority
    queue.wait()


def test_the_thread_stays_a_moment_for_the_next_write_then_ends(monkeypatch) -> None:
    """A message sent soon after its draft was saved finds the thread running: Enter's handler
    does not wait for one to start. Idle for longer, the store holds no thread."""
    import time

    from desktop_chat import store_writes

    monkeypatch.setattr(store_writes, "LINGER_S", 0.5)
    queue = WriteQueue("test-linger")
    first = queue.put(threading.get_ident).result(timeout=10)
    time.sleep(0.1)
    assert queue.put(threading.get_ident).result(timeout=10) == first  # the same thread
    deadline = time.monotonic() + 5
    while queue._thread is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue._thread is None
    assert not [t for t in threading.enumerate() if t.name == "test-linger"]
