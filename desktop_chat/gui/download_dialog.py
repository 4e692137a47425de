"""Download a model: a Hugging Face id in, a progress bar with bytes, speed and time left out,
and Cancel (what arrived is kept; the next download resumes from it)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from desktop_chat.gui.files_bar import human_bytes


def describe(progress) -> str:
    """ "120.5 MB / 695.0 MB · 12.3 MB/s · 48 s left"."""
    text = f"{human_bytes(progress.done_bytes)} / {human_bytes(progress.total_bytes)}"
    if progress.bytes_per_s:
        text += f" · {human_bytes(int(progress.bytes_per_s))}/s"
    if progress.eta_s is not None:
        eta = progress.eta_s
        text += f" · {eta / 60:.0f} min left" if eta >= 90 else f" · {eta:.0f} s left"
    return text


class DownloadDialog(QDialog):
    def __init__(self, controller, repo: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Download a model")
        self.setMinimumWidth(520)
        self.controller = controller
        self.task = None
        intro = QLabel(
            "A Hugging Face id of an MLX model, for example "
            "<b>mlx-community/Llama-3.2-1B-Instruct-4bit</b>.",
            self,
        )
        intro.setWordWrap(True)
        self.repo = QLineEdit(repo, self)
        self.repo.setPlaceholderText("organisation/model")
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 1000)
        self.bar.hide()
        self.status = QLabel("", self)
        self.status.setObjectName("hintLabel")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.start_button = QPushButton("Download", self)
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.repo)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        controller.downloads.progress.connect(self.show_progress)
        controller.downloads.ended.connect(self.ended)

    @Slot()
    def start(self) -> None:
        repo = self.repo.text().strip()
        if repo.count("/") != 1:
            self.status.setText("Write the id as organisation/model, as on huggingface.co.")
            return
        self.repo.setEnabled(False)
        self.start_button.setEnabled(False)
        self.bar.show()
        self.bar.setValue(0)
        self.status.setText(f"Looking up {repo}…")
        self.task = self.controller.spawn(self.controller.downloads.download(repo))

    @Slot(object)
    def show_progress(self, progress) -> None:
        self.bar.setValue(int(progress.fraction * 1000))
        self.status.setText(describe(progress))

    @Slot(str, str)
    def ended(self, message: str, hint: str) -> None:
        if not message:
            self.accept()
            return
        self.status.setText(f"{message} {hint}".strip())
        self.repo.setEnabled(True)
        self.start_button.setEnabled(True)
        self.start_button.setText("Try again")

    @Slot()
    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.controller.downloads.cancel()  # the dialog closes when the download ends
            self.status.setText("Cancelling… what has arrived is kept for next time.")
            return
        self.reject()
