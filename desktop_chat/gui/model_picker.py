"""The model picker: one button naming the model; its menu groups remote and local models (each
that sees images marked so) and ends with Download a model…, Open a model folder… and Add a
provider…."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QToolButton

from desktop_chat.gui.vision_notice import MARK, sees_images

if TYPE_CHECKING:  # the models (and settings) load after the first frame
    from desktop_chat.models import ModelChoice


#: Beside a local model that can call tools (``ModelChoice.tools``).
TOOLS_MARK = "· uses tools"
#: What a quantized KV cache means for the user: the picker's tooltip, and Settings'.
KV_BITS_TIP = (
    "Local models keep what they have read at {bits} bits ([app] kv_bits): less memory for "
    "long chats; replies may differ slightly from full precision."
)


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
        #: ``[app] kv_bits``: said beside a local model, whose KV cache it quantizes.
        self.kv_bits: int | None = None
        self._rebuild(groups=False)  # the groups come with the first list of models
        self._relabel()

    def set_choices(self, choices: list[ModelChoice]) -> None:
        self.choices = list(choices)
        self._rebuild()

    def set_current(self, choice: ModelChoice | None) -> None:
        self.current = choice
        self._relabel()
        self._rebuild()

    def set_kv_bits(self, bits: int | None) -> None:
        self.kv_bits = bits
        self._relabel()

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
        quantized = self.kv_bits is not None and self.current is not None and self.current.local
        if quantized and not self.busy_text:
            text += f" · {self.kv_bits}-bit KV cache"
        self.setText(text)
        self.setToolTip(KV_BITS_TIP.format(bits=self.kv_bits) if quantized else "")

    def _rebuild(self, groups: bool = True) -> None:
        menu = self.menu_
        menu.clear()
        if groups:
            from desktop_chat.models import LOCAL, REMOTE

            for group in (REMOTE, LOCAL):
                self._add_group(group)
        menu.addSeparator()
        menu.addAction("Download a model…").triggered.connect(self.download_requested)
        menu.addAction("Open a model folder…").triggered.connect(self.open_folder_requested)
        menu.addAction("Add a provider…").triggered.connect(self.add_provider_requested)

    def _add_group(self, group: str) -> None:
        menu = self.menu_
        members = [c for c in self.choices if c.group == group]
        menu.addSection(group)
        if not members:
            menu.addAction("None yet").setEnabled(False)
        for choice in members:
            mark = f"  {MARK}" if sees_images(choice) else ""
            # A local model's files say whether it calls tools; a server's says so only by
            # calling one (its tools are offered all the same).
            if getattr(choice, "tools", None):
                mark += f"  {TOOLS_MARK}"
            action = QAction(f"{choice.label}    {choice.detail}{mark}", menu)
            action.setCheckable(True)
            action.setChecked(self.current is not None and choice.key == self.current.key)
            action.setData(choice.key)
            action.triggered.connect(self._picked)
            menu.addAction(action)

    @Slot()
    def _picked(self) -> None:
        key = self.sender().data()
        for choice in self.choices:
            if choice.key == key:
                self.chosen.emit(choice)
                return
