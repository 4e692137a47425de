"""The main window's persona picker and prompt-template menu. Mixed into ``MainWindow``."""

from __future__ import annotations

from PySide6.QtCore import Slot

from desktop_chat.gui.untrusted import plain_tip


class LibraryMenus:
    @Slot()
    def _persona_menu(self) -> None:
        menu = self.persona_menu
        menu.clear()
        for persona in self.controller.library.personas():
            action = menu.addAction(persona.name)
            action.setCheckable(True)
            action.setChecked(persona.name == self.controller.persona.name)
            action.setToolTip(plain_tip(persona.system_prompt))
            action.triggered.connect(lambda _=False, n=persona.name: self.choose_persona(n))
        menu.addSeparator()
        menu.addAction("Manage personas…").triggered.connect(lambda: self.manage("persona"))

    def choose_persona(self, name: str) -> None:
        self.controller.spawn(self.controller.set_persona(name))

    @Slot(object)
    def _persona_changed(self, persona) -> None:
        self.persona_button.setText(f"Persona: {persona.name}")
        tip = persona.system_prompt or "No system prompt of its own"
        self.persona_button.setToolTip(plain_tip(tip))

    @Slot()
    def _templates_menu(self) -> None:
        menu = self.templates_menu
        menu.clear()
        for template in self.controller.library.templates():
            menu.addAction(template.name).triggered.connect(
                lambda _=False, t=template: self.use_template(t)
            )
        menu.addSeparator()
        menu.addAction("Manage templates…").triggered.connect(lambda: self.manage("template"))

    def use_template(self, template) -> None:
        """The template in the composer, around the selected text (or all of it)."""
        edit = self.composer.edit
        cursor = edit.textCursor()
        selection = cursor.selectedText().replace("\u2029", "\n") or edit.toPlainText()
        self.composer.set_text(template.fill(selection.strip()))

    def manage(self, kind: str) -> None:
        from desktop_chat.gui.library_dialog import LibraryDialog

        def changed() -> None:  # the persona in use may have been edited
            current = self.controller.library.persona(self.controller.persona.name)
            self.controller.persona = current
            self._persona_changed(current)

        self.dialog = LibraryDialog(self.controller.library, kind, self, on_change=changed)
        self.dialog.open()
