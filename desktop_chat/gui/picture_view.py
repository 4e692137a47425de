"""An image shown by the window: a clickable thumbnail (in a chip, in the user's bubble) and the
enlarged view it opens (Esc or a click closes it).

Only the app's own images are shown here, from their bytes: a ``QLabel`` given a pixmap, never
rich text that names a file or a URL (see ``gui.untrusted``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QVBoxLayout, QWidget

from desktop_chat.gui.files_bar import human_bytes, human_tokens
from desktop_chat.gui.untrusted import plain, plain_tip

if TYPE_CHECKING:
    from desktop_chat.picture import Picture


def describe(picture: Picture) -> str:
    """ "1920×1080 · 412.3 KB · ≈1.1k tok": what the chip and the tooltip say."""
    return (
        f"{picture.width}×{picture.height} · {human_bytes(len(picture.data))}"
        f" · ≈{human_tokens(picture.tokens)} tok"
    )


class Thumb(QLabel):
    """A thumbnail ``side`` points high (narrower or wider with the image); a click opens
    the picture larger."""

    clicked = Signal(object)  # the Picture

    def __init__(self, picture: Picture, side: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("thumb")
        self.picture = picture
        self.side = side
        width = max(1, round(side * picture.width / max(1, picture.height)))
        # A panorama is shown smaller, inside a box no wider than 5:3: thumbnails line up.
        self.setFixedSize(QSize(min(width, side * 5 // 3), side))
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        name = picture.name or "Image"
        self.setToolTip(plain_tip(f"{name}\n{describe(picture)}\nClick to see it larger"))
        self.setAccessibleName(name)
        from desktop_chat.gui.pictures import thumb_later  # Pillow's side: once one is shown

        thumb_later(picture, self._show)

    def _show(self, thumb: QImage) -> None:
        if thumb.isNull():
            return
        try:
            ratio = self.devicePixelRatioF()
        except RuntimeError:  # decoded after the label went (another chat on show)
            return
        pixmap = QPixmap.fromImage(thumb).scaled(
            self.size() * ratio,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        pixmap.setDevicePixelRatio(ratio)
        self.setPixmap(pixmap)

    @property
    def loaded(self) -> bool:
        return not self.pixmap().isNull()

    def mouseReleaseEvent(self, event) -> None:
        inside = self.rect().contains(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and inside:
            self.clicked.emit(self.picture)
            return
        super().mouseReleaseEvent(event)


class ThumbStrip(QWidget):
    """The images a user's message carried, under its text: rows of ``PER_ROW``, so that ten
    screenshots wrap inside the bubble instead of widening it past the window."""

    PER_ROW = 3

    def __init__(self, pictures: list[Picture], side: int = 96, parent=None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        self.thumbs = [Thumb(p, side, self) for p in pictures]
        for i, thumb in enumerate(self.thumbs):
            thumb.clicked.connect(self.enlarge)
            grid.addWidget(thumb, i // self.PER_ROW, i % self.PER_ROW, Qt.AlignmentFlag.AlignLeft)
        grid.setColumnStretch(min(len(self.thumbs), self.PER_ROW), 1)
        self.dialog: PictureDialog | None = None

    def enlarge(self, picture: Picture) -> None:
        self.dialog = enlarge(picture, self)


class PictureDialog(QDialog):
    """The picture as large as the screen allows (never larger than itself), its name and
    size below. Esc, or a click on it, closes it."""

    def __init__(self, picture: Picture, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("pictureDialog")
        self.setWindowTitle(picture.name or "Image")
        self.picture = picture
        image = QImage.fromData(picture.data)  # ≤ 2048 px: a few ms, on a click
        screen = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        room = QSize(int(screen.width() * 0.85), int(screen.height() * 0.8))
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap.fromImage(image)
        shown = pixmap.size() / ratio
        if shown.width() > room.width() or shown.height() > room.height():
            shown = shown.scaled(room, Qt.AspectRatioMode.KeepAspectRatio)
            pixmap = pixmap.scaled(
                shown * ratio,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        pixmap.setDevicePixelRatio(ratio)
        self.image = QLabel(self)
        self.image.setPixmap(pixmap)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setToolTip("Esc or a click closes this")
        caption = plain(QLabel(f"{picture.name or 'Image'} · {describe(picture)}", self))
        caption.setObjectName("chipSize")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 10)
        layout.addWidget(self.image, 1)
        layout.addWidget(caption, 0, Qt.AlignmentFlag.AlignHCenter)

    def mouseReleaseEvent(self, event) -> None:
        self.accept()


def enlarge(picture: Picture, parent: QWidget) -> PictureDialog:
    dialog = PictureDialog(picture, parent.window())
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
