"""The model picker: one button naming the model; its menu groups remote and local models and
ends with Download a model…, Open a model folder… and Add a provider…."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QToolButton

from desktop_chat.catalog import LOCAL, REMOTE, ModelChoice


class ModelPicker(QToolButton):
    chosen = Signal(object)
    download_requested = Signal()
    open_folder_requested = Signal()
    add_provider_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPicker")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_ = QMenu(self)
        self.setMenu(self.menu_)
        self.choices: list[ModelChoice] = []
        self.current: ModelChoice | None = None
        self.busy_text = ""
        self._rebuild()
        self._relabel()

    def set_choices(self, choices: list[ModelChoice]) -> None:
        self.choices = list(choices)
        self._rebuild()

    def set_current(self, choice: ModelChoice | None) -> None:
        self.current = choice
        self._relabel()
        self._rebuild()

    def set_busy(self, text: str) -> None:
        """ "Loading Llama…": shown on the button while a model loads."""
        self.busy_text = text
        self._relabel()

    def _relabel(self) -> None:
        if self.busy_text:
            text = self.busy_text
        elif self.current is None:
            text = "Choose a model"
        else:
            where = "local" if self.current.local else self.current.detail
            text = f"{self.current.label} · {where}"
        self.setText(f"{text}  ▾")

    def _rebuild(self) -> None:
        menu = self.menu_
        menu.clear()
        for group in (REMOTE, LOCAL):
            members = [c for c in self.choices if c.group == group]
            menu.addSection(group)
            if not members:
                empty = menu.addAction("None yet")
                empty.setEnabled(False)
            for choice in members:
                action = QAction(f"{choice.label}    {choice.detail}", menu)
                action.setCheckable(True)
                action.setChecked(self.current is not None and choice.key == self.current.key)
                action.setData(choice.key)
                action.triggered.connect(self._picked)
                menu.addAction(action)
        menu.addSeparator()
        menu.addAction("Download a model…").triggered.connect(self.download_requested)
        menu.addAction("Open a model folder…").triggered.connect(self.open_folder_requested)
        menu.addAction("Add a provider…").triggered.connect(self.add_provider_requested)

    @Slot()
    def _picked(self) -> None:
        key = self.sender().data()
        for choice in self.choices:
            if choice.key == key:
                self.chosen.emit(choice)
                return
