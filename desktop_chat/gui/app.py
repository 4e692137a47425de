"""The Qt application on a qasync loop.

The window appears before any heavy import: settings are read and local servers are looked for
after it is shown, in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QVBoxLayout, QWidget

from desktop_chat import __version__

APP_TITLE = "Desktop Chat"


class MainWindow(QMainWindow):
    """For now a calm welcome panel that says which models are within reach."""

    def __init__(self, on_quit=None) -> None:
        super().__init__()
        # What ⌘Q does: end the app's asyncio loop (run() passes it), or quit Qt directly.
        self._on_quit = on_quit or QApplication.quit
        self.setWindowTitle(APP_TITLE)
        self.resize(1100, 750)
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(120, 40, 120, 40)
        layout.addStretch(1)
        title = QLabel(f"<h1>{APP_TITLE}</h1>", body)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel("Looking for models on this machine…", body)
        self.status.setObjectName("status")
        self.status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setMinimumWidth(560)
        layout.addWidget(title)
        layout.addSpacing(12)
        layout.addWidget(self.status)
        layout.addStretch(2)
        self.setCentralWidget(body)
        # ⌘W / Ctrl+W closes the window, ⌘Q / Ctrl+Q quits, as on every Mac app.
        for keys, slot in ((QKeySequence.StandardKey.Close, self.close),
                           (QKeySequence.StandardKey.Quit, self._quit)):  # fmt: skip
            action = QAction(self)
            action.setShortcut(keys)
            action.triggered.connect(slot)
            self.addAction(action)

    def _quit(self) -> None:
        self._on_quit()

    def show_status(self, text: str) -> None:
        self.status.setText(text)


async def describe_reach() -> str:
    """One sentence per source of models: settings (with their errors) and local servers."""
    from desktop_chat.config import load_settings
    from desktop_chat.paths import app_paths
    from desktop_chat.providers.discovery import discover

    loaded = await asyncio.to_thread(load_settings, app_paths())
    lines = [str(err) for err in loaded.errors]
    found = await discover()
    for server in found:
        lines.append(f"Found {server.name} at {server.base_url} with {len(server.models)} models.")
    configured = len(loaded.settings.providers)
    if configured:
        lines.append(f"{configured} provider(s) configured in {app_paths().config_file}.")
    if not found and not configured:
        lines.append(
            "No models yet: start a local server (Ollama, LM Studio, mlx_lm.server) "
            f"or add a provider to {app_paths().config_file}."
        )
    return "\n".join(lines)


async def _look_around(window: MainWindow) -> None:
    try:
        window.show_status(await describe_reach())
    except Exception as exc:  # the window stays useful whatever the background check meets
        window.show_status(f"Could not look for models: {exc}")


async def _main(window: MainWindow, quit_event: asyncio.Event) -> None:
    window.show()
    background = asyncio.create_task(_look_around(window))
    await quit_event.wait()
    # Quitting while the background check runs must not leave it half-done on a dead loop.
    background.cancel()
    await asyncio.gather(background, return_exceptions=True)


def run(argv: list[str]) -> int:
    import qasync

    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName(APP_TITLE)
    app.setApplicationVersion(__version__)
    quit_event = asyncio.Event()
    window = MainWindow(on_quit=quit_event.set)
    # The loop ends when _main returns, never under it: Qt's own quit-on-last-window would stop
    # the loop while tasks are still running.
    app.setQuitOnLastWindowClosed(False)
    app.lastWindowClosed.connect(quit_event.set)
    with contextlib.suppress(asyncio.CancelledError):
        qasync.run(_main(window, quit_event))
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv))
