"""Which models see images, and the notice beside the composer when the chosen one does not:
said before sending, with the models that do, one click away."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from desktop_chat.gui.untrusted import plain_tip

if TYPE_CHECKING:
    from desktop_chat.models import ModelChoice

#: Buttons offered at most: the first of the user's vision models, remote first.
OFFERED = 3
#: What the model picker adds to a model that sees images.
MARK = "· sees images"


def sees_images(choice: ModelChoice | None) -> bool:
    """Whether the window may send ``choice`` images: the one place it decides. A choice
    that says (a ``vision`` flag from the catalog) is taken at its word; a local folder is
    asked of the hub (its config.json names a vision architecture); a remote model is assumed
    able: most are, and one that is not says so when asked (the turn's error names it)."""
    if choice is None:
        return False
    flag = getattr(choice, "vision", None)
    if flag is not None:
        return bool(flag)
    if not choice.local:
        return True
    return choice.path is not None and _vision_folder(str(choice.path))


@functools.lru_cache(maxsize=256)
def _vision_folder(path: str) -> bool:
    from desktop_chat import hub

    check = getattr(hub, "is_vision_folder", None)  # the local vision engine's own test
    return bool(check and check(Path(path)))


def vision_choices(choices: list[ModelChoice]) -> list[ModelChoice]:
    """The models the user has (not ones still to download) that see images."""
    return [c for c in choices if not c.to_download and sees_images(c)]


class VisionNotice(QFrame):
    """ "Llama 3.2 1B does not see images. Send them to: [GPT-4o mini] [Qwen2-VL 2B]". Shown
    while images are attached and the chosen model does not see them."""

    chosen = Signal(object)  # a ModelChoice

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("visionNotice")
        self.label = QLabel(self)
        self.label.setObjectName("waitingLabel")
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # a server's name for its model
        self.label.setWordWrap(True)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.addWidget(self.label)
        self._row.addStretch(1)
        self.buttons: list[QPushButton] = []
        self.offered: list[ModelChoice] = []
        self.hide()

    def update_for(
        self, choice: ModelChoice | None, choices: list[ModelChoice], images: int
    ) -> None:
        if not images or choice is None or sees_images(choice):
            self.hide()
            return
        for button in self.buttons:
            self._row.removeWidget(button)
            button.deleteLater()
        self.offered = [c for c in vision_choices(choices) if c.key != choice.key][:OFFERED]
        them = "it" if images == 1 else "them"
        if self.offered:
            text = f"{choice.label} does not see images. Choose a model that does to send {them}:"
        else:
            text = (
                f"{choice.label} does not see images, and none of your models does: add a "
                "provider whose models do (Add a provider… in the model menu), or download a "
                "vision model."
            )
        self.label.setText(text)
        self.buttons = []
        for offered in self.offered:
            where = "local" if offered.local else offered.detail
            button = QPushButton(f"{offered.label} · {where}", self)
            button.setToolTip(plain_tip(f"Use {offered.label} · {offered.detail}"))
            button.setProperty("choice_key", offered.key)
            button.clicked.connect(self._clicked)
            self._row.insertWidget(self._row.count() - 1, button)  # before the stretch
            self.buttons.append(button)
        self.show()

    @Slot()
    def _clicked(self) -> None:
        key = self.sender().property("choice_key")
        for offered in self.offered:
            if offered.key == key:
                self.chosen.emit(offered)
                return
