"""The local engine's thread in the window: ``MlxEngine.serve()`` runs on a QThread.

The engine's own rule holds (load, generate, unload on one thread); Qt owns that thread so it
is stopped with the app. A worker QObject moved onto the thread runs the job loop; what it
reports (a model loaded, a load failed) reaches ``@Slot`` methods of ``EngineThread``, which
lives in the GUI thread (PySide6 runs a lambda or plain function connected to a signal in the
emitting thread, even with a queued connection, and such receivers can crash: PYSIDE-3124).
Streamed tokens still reach the asyncio (qasync) loop through ``MlxLocalProvider``'s
``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_chat.engine import MlxEngine, engine_for

if TYPE_CHECKING:
    from desktop_chat.config import Settings


class _Server(QObject):
    """Lives on the engine thread; its slot runs the engine's job loop until shutdown."""

    done = Signal()
    #: A finished load job (its result or its error), emitted on the engine thread.
    load_done = Signal(object)

    def __init__(self, engine: MlxEngine) -> None:
        super().__init__()
        self._engine = engine

    @Slot()
    def serve(self) -> None:
        self._engine.serve()
        self.done.emit()
        # End the thread from inside: a queued quit() would wait for the GUI thread's loop.
        QThread.currentThread().quit()

    def report(self, job: Future) -> None:
        self.load_done.emit(job)


class EngineThread(QObject):
    """Start once; ``stop()`` unloads the model on its own thread and waits for the thread."""

    #: Hosts still running, so tests can fail any that leaves one behind.
    running: ClassVar[set[EngineThread]] = set()

    def __init__(self, parent: QObject | None = None, settings: Settings | None = None) -> None:
        super().__init__(parent)
        # Prompt caches kept on disk by the settings; none (memory only) without settings.
        self.engine = MlxEngine() if settings is None else engine_for(settings)
        self.thread = QThread()
        self.thread.setObjectName("mlx-engine")
        self._server = _Server(self.engine)
        self._server.moveToThread(self.thread)
        self.thread.started.connect(self._server.serve)
        self._server.load_done.connect(self._load_done)
        self._waiting: dict[int, asyncio.Future] = {}

    def start(self) -> MlxEngine:
        EngineThread.running.add(self)
        self.thread.start()
        return self.engine

    def load(self, model_dir: str | Path, context_tokens: int | None = None) -> asyncio.Future:
        """Load on the engine thread, for a context of ``context_tokens``; the returned future
        resolves in the GUI thread."""
        waiter = asyncio.get_running_loop().create_future()
        job = self.engine.load(Path(model_dir), context_tokens)
        self._waiting[id(job)] = waiter
        job.add_done_callback(self._server.report)
        return waiter

    @Slot(object)
    def _load_done(self, job: Future) -> None:
        waiter = self._waiting.pop(id(job), None)
        if waiter is None or waiter.done():
            return
        error = job.exception()
        if error is None:
            waiter.set_result(job.result())
        else:
            waiter.set_exception(error)

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """True once the thread has ended (the model freed first)."""
        self.engine.shutdown(wait=False)
        ended = self.thread.wait(timeout_ms)
        if ended:
            EngineThread.running.discard(self)
        return ended
