"""Manage personas or prompt templates: a list on the left, the one chosen on the right.
Built-in entries can be changed (the change is saved as the user's own) and reset."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from desktop_chat.params import GenerationParams
from desktop_chat.personas import SELECTION, Persona, Template
from desktop_chat.store_files import StoreError


class LibraryDialog(QDialog):
    """``kind`` is "persona" or "template"."""

    def __init__(self, library, kind: str, parent=None, on_change=None) -> None:
        super().__init__(parent)
        self.library = library
        self.kind = kind
        self.on_change = on_change or (lambda: None)
        personas = kind == "persona"
        self.setWindowTitle("Personas" if personas else "Prompt templates")
        self.setMinimumSize(640, 400)
        self.list = QListWidget(self)
        self.list.currentRowChanged.connect(self._show)
        self.name = QLineEdit(self)
        self.text = QPlainTextEdit(self)
        self.text.setPlaceholderText("You are …" if personas else f"Summarise this: {SELECTION}")
        self.model = QLineEdit(self)
        self.model.setPlaceholderText("keep the current model (or provider:model, an alias)")
        self.temperature = QDoubleSpinBox(self)
        self.temperature.setRange(-0.1, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setSpecialValueText("model default")
        self.temperature.setValue(-0.1)
        # A reasoning model's Think switch in a new chat under this persona (each chat can
        # still change it); models without the switch ignore it.
        self.think = QComboBox(self)
        for text, value in (("model's default", None), ("on", True), ("off", False)):
            self.think.addItem(text, value)
        self.think.setToolTip(
            "Whether a reasoning model thinks before answering, in a new chat with this persona"
        )
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("System prompt" if personas else "Text", self.text)
        if personas:
            form.addRow("Model", self.model)
            form.addRow("Temperature", self.temperature)
            form.addRow("Think", self.think)
        else:
            hint = QLabel(
                f"{SELECTION} is replaced by the selected text (or what is in the message box).",
                self,
            )
            hint.setObjectName("hintLabel")
            hint.setWordWrap(True)
            form.addRow("", hint)
        self.status = QLabel("", self)
        self.status.setObjectName("hintLabel")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        new = QPushButton("New", self)
        new.clicked.connect(self._new)
        self.save_button = QPushButton("Save", self)
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.clicked.connect(self.delete)
        close = QPushButton("Close", self)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        for b in (new, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.status)
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addLayout(right, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addLayout(buttons)
        self._fill()

    def entries(self):
        return self.library.personas() if self.kind == "persona" else self.library.templates()

    def _fill(self, select: str | None = None) -> None:
        self.list.clear()
        entries = self.entries()
        for entry in entries:
            self.list.addItem(entry.name + ("  (built in)" if entry.built_in else ""))
        names = [e.name for e in entries]
        self.list.setCurrentRow(names.index(select) if select in names else 0)

    @Slot(int)
    def _show(self, row: int) -> None:
        entries = self.entries()
        if not 0 <= row < len(entries):
            return
        entry = entries[row]
        self.name.setText(entry.name)
        if isinstance(entry, Persona):
            self.text.setPlainText(entry.system_prompt)
            self.model.setText(entry.model or "")
            t = entry.params.temperature
            self.temperature.setValue(-0.1 if t is None else t)
            self.think.setCurrentIndex(self.think.findData(entry.params.think))
        else:
            self.text.setPlainText(entry.text)
        self.delete_button.setText("Reset" if entry.built_in else "Delete")
        self.status.setText("")

    @Slot()
    def _new(self) -> None:
        self.list.clearSelection()
        self.name.setText("")
        self.text.setPlainText("")
        self.model.setText("")
        self.temperature.setValue(-0.1)
        self.think.setCurrentIndex(0)
        self.name.setFocus()

    @Slot()
    def save(self) -> bool:
        name = self.name.text().strip()
        if not name:
            self.status.setText("Give it a name.")
            return False
        try:
            if self.kind == "persona":
                t = self.temperature.value()
                params = GenerationParams(
                    temperature=None if t < 0 else round(t, 2), think=self.think.currentData()
                )
                model = self.model.text().strip() or None
                persona = Persona(name, self.text.toPlainText().strip(), model, params)
                self.library.save_persona(persona)
            else:
                text = self.text.toPlainText().strip()
                if not text:
                    self.status.setText("A template needs some text.")
                    return False
                self.library.save_template(Template(name, text))
        except StoreError as err:  # a full disk, a read-only file: the text stays in the form
            self.status.setText(f"“{name}” was not saved: {err.why}. {err.hint}")
            return False
        self._fill(select=name)
        self.status.setText(f"Saved “{name}”.")
        self.on_change()
        return True

    @Slot()
    def delete(self) -> None:
        name = self.name.text().strip()
        try:
            self.library.delete(self.kind, name)
        except StoreError as err:
            self.status.setText(f"“{name}” was not deleted: {err.why}. {err.hint}")
            return
        self._fill()
        self.on_change()
