"""Which models see images, and the notice beside the composer when the chosen one does not:
said before sending, with the models that do, one click away."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from desktop_chat.gui.untrusted import plain_tip

if TYPE_CHECKING:
    from desktop_chat.models import ModelChoice

#: Buttons offered at most: the first of the user's vision models, remote first.
OFFERED = 3
#: What the model picker adds to a model that sees images.
MARK = "· sees images"


def sees_images(choice: ModelChoice | None) -> bool:
    """Whether the window may send ``choice`` images: the one place it decides. A local model
    says (``ModelChoice.vision``: its config.json has a vision part), as does one of the
    recommended downloads; a remote model is assumed able: most are, and one that is not says
    so when asked (the turn's error names it, and nothing attached is lost)."""
    if choice is None:
        return False
    if choice.vision is not None:
        return choice.vision
    if choice.to_download:
        from desktop_chat.hub import RECOMMENDED_VISION

        return choice.repo in RECOMMENDED_VISION
    return not choice.local


def vision_choices(choices: list[ModelChoice]) -> list[ModelChoice]:
    """The models the user has (not ones still to download) that see images."""
    return [c for c in choices if not c.to_download and sees_images(c)]


class VisionNotice(QFrame):
    """ "Llama 3.2 1B does not see images. Send them to: [GPT-4o mini] [Qwen2-VL 2B]". Shown
    while images are attached and the chosen model does not see them."""

    chosen = Signal(object)  # a ModelChoice
    download_requested = Signal(str)  # a Hugging Face repo: none of the user's models sees

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("visionNotice")
        self.label = QLabel(self)
        self.label.setObjectName("waitingLabel")
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # a server's name for its model
        self.label.setWordWrap(True)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        column.addWidget(self.label)
        self._row = QHBoxLayout()  # the buttons, under the sentence
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.addStretch(1)
        column.addLayout(self._row)
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
                f"{choice.label} does not see images, and none of your models does: download "
                "one, or add a provider whose models do (Add a provider… in the model menu)."
            )
        self.label.setText(text)
        self.buttons = []
        if not self.offered:
            from desktop_chat.hub import RECOMMENDED, RECOMMENDED_VISION

            for repo, size, _ in RECOMMENDED:
                if repo in RECOMMENDED_VISION:
                    button = QPushButton(f"Download {repo.split('/')[-1]}…", self)
                    button.setToolTip(f"{repo}, about {size / 1e9:.1f} GB")
                    button.clicked.connect(lambda *_, r=repo: self.download_requested.emit(r))
                    self._row.insertWidget(self._row.count() - 1, button)
                    self.buttons.append(button)
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
