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
