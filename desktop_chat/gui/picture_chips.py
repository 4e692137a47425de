"""Images attached to the next message, as chips: a thumbnail, its size and an estimate of its
tokens, ✕ to remove it; and a chip for each image still being prepared (a paste of a 12 MP
screenshot takes a second)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from desktop_chat.gui.picture_view import Thumb, describe, enlarge
from desktop_chat.gui.untrusted import plain, plain_tip

if TYPE_CHECKING:
    from desktop_chat.picture import Picture

CHIP_THUMB = 40


class PictureChip(QFrame):
    remove_requested = Signal(str)  # the picture's digest

    def __init__(self, picture: Picture, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("fileChip")
        self.picture = picture
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 2, 4)
        layout.setSpacing(8)
        self.thumb = Thumb(picture, CHIP_THUMB, self)
        self.thumb.clicked.connect(self._enlarge)
        text = QVBoxLayout()
        text.setSpacing(0)
        name = plain(QLabel(picture.name or "Image", self))  # a file may be named "<img…>"
        self.size_label = QLabel(describe(picture), self)
        self.size_label.setObjectName("chipSize")
        text.addWidget(name)
        text.addWidget(self.size_label)
        remove = QToolButton(self)
        remove.setObjectName("quiet")
        remove.setText("✕")
        remove.setToolTip(plain_tip(f"Remove {picture.name or 'the image'} from the message"))
        remove.clicked.connect(self._remove)
        self.remove_button = remove
        layout.addWidget(self.thumb)
        layout.addLayout(text)
        layout.addWidget(remove)
        self.dialog = None

    @Slot()
    def _remove(self) -> None:
        self.remove_requested.emit(self.picture.digest)

    @Slot(object)
    def _enlarge(self, picture: Picture) -> None:
        self.dialog = enlarge(picture, self)


class PendingChip(QFrame):
    """An image on its way: named, and said to be prepared."""

    def __init__(self, name: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("fileChip")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        label = plain(QLabel(f"{name} · preparing…", self))
        label.setObjectName("chipSize")
        layout.addWidget(label)


class PicturesBar(QWidget):
    remove_requested = Signal(str)  # a digest

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.addStretch(1)
        self.chips: list[PictureChip] = []
        self.pending: list[PendingChip] = []
        self.hide()

    @Slot(list, list)
    def show_pictures(self, pictures: list[Picture], pending: list[str]) -> None:
        """Rebuilt whole: a chip's thumbnail is known by then (made with the picture)."""
        for chip in [*self.chips, *self.pending]:
            self._row.removeWidget(chip)
            chip.deleteLater()
        self.chips, self.pending = [], []
        for picture in pictures:
            chip = PictureChip(picture, self)
            chip.remove_requested.connect(self.remove_requested)
            self._row.insertWidget(self._row.count() - 1, chip)
            chip.show()  # now, not on the layout's next pass: the panel's height counts it
            self.chips.append(chip)
        for name in pending:
            chip = PendingChip(name, self)
            self._row.insertWidget(self._row.count() - 1, chip)
            chip.show()
            self.pending.append(chip)
        self.setVisible(bool(pictures or pending))
