"""The local engine's thread in the window: ``MlxEngine.serve()`` runs on a QThread.

The engine's own rule holds (load, generate, unload on one thread); Qt just owns that thread so
that it shows up in Qt's tooling and is stopped with the app. Replies still reach the asyncio
(qasync) loop through ``MlxLocalProvider``'s ``call_soon_threadsafe``, which is thread-safe and
needs no cross-thread signal.
"""

from __future__ import annotations

from typing import ClassVar

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_chat.engine import MlxEngine


class _Server(QObject):
    """Lives on the engine thread; its slot runs the engine's job loop until shutdown."""

    done = Signal()

    def __init__(self, engine: MlxEngine) -> None:
        super().__init__()
        self._engine = engine

    @Slot()
    def serve(self) -> None:
        self._engine.serve()
        self.done.emit()
        # End the thread from inside: a queued quit() would wait for the GUI thread's loop.
        QThread.currentThread().quit()


class EngineThread(QObject):
    """Start once; ``stop()`` unloads the model on its own thread and waits for the thread."""

    #: Hosts still running, so tests can fail any that leaves one behind.
    running: ClassVar[set[EngineThread]] = set()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = MlxEngine()
        self.thread = QThread()
        self.thread.setObjectName("mlx-engine")
        self._server = _Server(self.engine)
        self._server.moveToThread(self.thread)
        self.thread.started.connect(self._server.serve)

    def start(self) -> MlxEngine:
        EngineThread.running.add(self)
        self.thread.start()
        return self.engine

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """True once the thread has ended (the model freed first)."""
        self.engine.shutdown(wait=False)
        ended = self.thread.wait(timeout_ms)
        if ended:
            EngineThread.running.discard(self)
        return ended
