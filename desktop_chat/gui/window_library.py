"""The main window's persona picker and prompt-template menu: buttons whose menus are rebuilt
each time they open, with "Manage…" opening the library's dialog."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QMenu, QToolButton

from desktop_chat.gui.untrusted import plain_tip


class LibraryButton(QToolButton):
    """A button that opens a menu of the library's ``kind`` ("persona" or "template"), filled
    by ``fill`` each time it opens, and ends it with Manage…."""

    def __init__(self, parent, text: str, name: str, kind: str) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setText(text)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setMenu(QMenu(self))
        self.menu().aboutToShow.connect(self._fill)
        self.kind = kind
        self.controller = None
        self.dialog = None

    @Slot()
    def _fill(self) -> None:
        menu = self.menu()
        menu.clear()
        self.fill(menu)
        menu.addSeparator()
        menu.addAction(f"Manage {self.kind}s…").triggered.connect(self.manage)

    def fill(self, menu: QMenu) -> None:
        raise NotImplementedError

    @Slot()
    def manage(self) -> None:
        from desktop_chat.gui.library_dialog import LibraryDialog
        from desktop_chat.personas import Library

        c = self.controller
        # Edited there, and said there when the store refuses; the persona in use follows.
        library = c.with_store(Library)
        self.dialog = LibraryDialog(library, self.kind, self.window(), c.persona_edited)
        self.dialog.open()


class PersonaButton(LibraryButton):
    """Persona: the one this conversation is answered as; choosing one may switch models."""

    def __init__(self, parent) -> None:
        super().__init__(parent, "Persona: Default", "personaPicker", "persona")

    def attach(self, controller) -> None:
        self.controller = controller
        controller.persona_changed.connect(self.show_persona)

    def fill(self, menu: QMenu) -> None:
        for persona in self.controller.personas():
            action = menu.addAction(persona.name)
            action.setCheckable(True)
            action.setChecked(persona.name == self.controller.persona.name)
            action.setToolTip(plain_tip(persona.system_prompt))
            action.triggered.connect(lambda _=False, n=persona.name: self.choose(n))

    def choose(self, name: str) -> None:
        self.controller.spawn(self.controller.set_persona(name))

    @Slot(object)
    def show_persona(self, persona) -> None:
        self.setText(f"Persona: {persona.name}")
        self.setToolTip(plain_tip(persona.system_prompt or "No system prompt of its own"))


class TemplatesButton(LibraryButton):
    """Templates: reusable instructions put into the composer around what it holds."""

    def __init__(self, parent, composer) -> None:
        super().__init__(parent, "Templates", "quiet", "template")
        self.composer = composer
        self.setToolTip("Reusable instructions: Summarise, Explain this code…")

    def attach(self, controller) -> None:
        self.controller = controller

    def fill(self, menu: QMenu) -> None:
        for template in self.controller.templates():
            menu.addAction(template.name).triggered.connect(lambda _=False, t=template: self.use(t))

    def use(self, template) -> None:
        """The template in the composer, around the selected text (or all of it)."""
        edit = self.composer.edit
        selection = edit.textCursor().selectedText().replace("\u2029", "\n") or edit.toPlainText()
        self.composer.set_text(template.fill(selection.strip()))
