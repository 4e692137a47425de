"""The first-launch panel: a calm centre with three ways in — a local server found on this
machine, a small MLX model to download, or a provider of one's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop_chat.gui.files_bar import human_bytes
from desktop_chat.gui.untrusted import escaped, plain

if TYPE_CHECKING:  # the models (and settings) load after the first frame
    from desktop_chat.models import ModelChoice


class WelcomePanel(QWidget):
    chosen = Signal(object)
    download_requested = Signal(str)
    add_provider_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        self._outer = QVBoxLayout(self)
        self._outer.setContentsMargins(0, 0, 0, 0)
        self._outer.addStretch(1)
        self._column = QWidget(self)
        self._column.setFixedWidth(560)  # a fixed width lets wrapped text take its full height
        # Centred by stretches, not an alignment flag: an aligned widget gets its size hint,
        # which ignores the height its wrapped text needs at this width.
        centre = QHBoxLayout()
        centre.addStretch(1)
        centre.addWidget(self._column)
        centre.addStretch(1)
        self._outer.addLayout(centre)
        self._outer.addStretch(2)
        self._layout = QVBoxLayout(self._column)
        self.buttons: dict[str, QPushButton] = {}
        # The first frame's panel: nothing can be chosen before the app is ready, so no cards
        # yet (they cost the first frame ~8 ms); show_options follows within a moment.
        self._heading()
        self._notes("Looking for models on this machine…")
        self.notes.setAlignment(Qt.AlignmentFlag.AlignHCenter)

    def _heading(self) -> None:
        title = QLabel("<h2>Welcome to Desktop Chat</h2>", self._column)
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._layout.addWidget(title)
        sub = QLabel(
            "Choose where your answers come from. You can change it any time from the model menu.",
            self._column,
        )
        sub.setObjectName("welcomeNote")
        sub.setWordWrap(True)
        sub.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self._layout.addWidget(sub)
        self._layout.addSpacing(8)

    def _clear(self) -> None:
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.buttons = {}

    def _card(self, title: str, note: str) -> QVBoxLayout:
        card = QFrame(self._column)
        card.setObjectName("welcomeCard")
        layout = QVBoxLayout(card)
        layout.setContentsMargins(16, 12, 16, 14)
        heading = QLabel(f"<b>{escaped(title)}</b>", card)
        layout.addWidget(heading)
        if note:
            label = plain(QLabel(note, card))
            label.setObjectName("welcomeNote")
            label.setWordWrap(True)
            layout.addWidget(label)
        self._layout.addWidget(card)
        return layout

    def _button(
        self, layout: QVBoxLayout, key: str, title: str, detail: str, verb: str, slot
    ) -> None:
        """A row: what it is on the left, the action's button on the right."""
        row = QHBoxLayout()
        # Two short lines, never wrapped: wrapped labels in nested rows lose their height.
        # A server names its models: escaped, so a name that looks like an <img> stays a name.
        label = QLabel(f"<b>{escaped(title)}</b>" + (f"<br>{escaped(detail)}" if detail else ""))
        label.setTextFormat(Qt.TextFormat.RichText)
        button = QPushButton(verb)
        button.setMinimumSize(110, 28)
        button.clicked.connect(slot)
        row.addWidget(label, 1)
        row.addWidget(button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(row)
        self.buttons[key] = button

    def show_options(
        self, servers: list[ModelChoice], recommended, downloaded: set[str], notes: str = ""
    ) -> None:
        """``servers``: models of servers found here; ``recommended``: (repo, bytes, blurb)."""
        self._clear()
        self._heading()
        if servers:
            layout = self._card("A model server on this Mac", "Found running right now.")
            for choice in servers[:4]:
                self._button(
                    layout,
                    choice.key,
                    choice.label,
                    choice.detail,
                    "Use",
                    lambda *_, c=choice: self.chosen.emit(c),
                )
        layout = self._card(
            "Download a small model",
            "Runs privately on this Mac with MLX; nothing leaves your computer.",
        )
        for repo, size, blurb in recommended:
            name = repo.split("/")[-1]
            verb = "Use" if repo in downloaded else "Download"
            self._button(
                layout,
                repo,
                name,
                f"{human_bytes(size)} · {blurb}",
                verb,
                lambda *_, r=repo: self.download_requested.emit(r),
            )
        layout = self._card(
            "Use a provider",
            "OpenAI, Anthropic, Groq, OpenRouter or any "
            "OpenAI-compatible server; the key goes to the Keychain.",
        )
        self._button(
            layout,
            "add-provider",
            "Your own API key or server",
            "",
            "Add…",
            lambda *_: self.add_provider_requested.emit(),
        )
        self._notes(notes)

    def _notes(self, notes: str) -> None:
        self.notes = QLabel(notes, self._column)
        self.notes.setObjectName("welcomeNote")
        self.notes.setWordWrap(True)
        self.notes.setTextFormat(Qt.TextFormat.PlainText)
        self.notes.setVisible(bool(notes))
        self._layout.addWidget(self.notes)
