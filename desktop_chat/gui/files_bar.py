"""Files in the next prompt's context, as removable chips, and the context meter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from desktop_chat.gui.untrusted import plain, plain_tip

if TYPE_CHECKING:
    from desktop_chat.context import ContextFile


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def human_tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


class FileChip(QFrame):
    remove_requested = Signal(str)

    def __init__(self, file: ContextFile, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("fileChip")
        self.name = file.name
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 2, 2, 2)
        layout.setSpacing(6)
        name = plain(QLabel(file.name, self))  # a file may be named "<img src=…>"
        cut = " · cut" if file.truncated else ""
        size = QLabel(
            f"{human_bytes(file.size_bytes)} · {human_tokens(file.tokens)} tok{cut}", self
        )
        size.setObjectName("chipSize")
        remove = QToolButton(self)
        remove.setObjectName("quiet")
        remove.setText("✕")
        remove.setToolTip(plain_tip(f"Remove {file.name} from the context"))
        remove.clicked.connect(self._remove)
        layout.addWidget(name)
        layout.addWidget(size)
        layout.addWidget(remove)
        self.setToolTip(plain_tip(str(file.path)))

    @Slot()
    def _remove(self) -> None:
        self.remove_requested.emit(self.name)


class FilesBar(QWidget):
    remove_requested = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.addStretch(1)
        self.chips: list[FileChip] = []
        self.hide()

    def show_files(self, files: list[ContextFile]) -> None:
        for chip in self.chips:
            self._row.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        for file in files:
            chip = FileChip(file, self)
            chip.remove_requested.connect(self.remove_requested)
            self._row.insertWidget(self._row.count() - 1, chip)
            self.chips.append(chip)
        self.setVisible(bool(files))


class ContextMeter(QWidget):
    """ "3.1k / 8k tokens": system prompt, history and files against the model's window."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(90, 6)
        self.label = QLabel("", self)
        self.label.setObjectName("contextLabel")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("context", self))
        layout.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.label)

    def show_usage(self, used: int, window: int | None, parts: dict[str, int]) -> None:
        detail = ", ".join(f"{name} {human_tokens(n)}" for name, n in parts.items() if n)
        self.setToolTip(f"About {used:,} tokens: {detail or 'nothing yet'}")
        if window:
            self.bar.show()
            self.bar.setRange(0, window)
            self.bar.setValue(min(used, window))
            self.label.setText(f"{human_tokens(used)} / {human_tokens(window)} tokens")
        else:
            self.bar.hide()
            self.label.setText(f"≈{human_tokens(used)} tokens")
