"""Settings → Tools: the MCP servers with their state (starting, ready with N tools, failed with
the last lines of its output), add, edit (its environment or headers, their values kept in
the Keychain), remove, restart; each tool switched on or off, and its
"Always allow" kept or revoked; Claude Desktop's servers imported when the user asks.

A server's and a tool's names come from config.toml and the servers themselves: shown as plain
text only. Each change is written to config.toml at once (``ToolHost``, ``config_writer``).
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.errors import DesktopChatError, KeyringUnavailable
from desktop_chat.gui.untrusted import plain, plain_tip

if TYPE_CHECKING:
    from desktop_chat.mcp_import import ClaudeServer

log = logging.getLogger(__name__)

#: Where an item keeps what it is: ("server", name) or ("tool", server, tool).
_ROLE = Qt.ItemDataRole.UserRole


def _words(message: str, hint: str = "") -> str:
    return f"{message} {hint}".strip()


class ToolsPage(QWidget):
    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.host = controller.tools
        self.task: asyncio.Task | None = None
        self.dialog: QDialog | None = None
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Server and its tools", "Always allow"])
        self.tree.setColumnWidth(0, 340)
        self.tree.itemChanged.connect(self._changed)
        self.tree.currentItemChanged.connect(self._show_detail)
        self.detail = plain(QLabel("", self))
        self.detail.setObjectName("toolServerDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = plain(QLabel("", self))
        self.message.setWordWrap(True)
        self.message.setObjectName("hintLabel")
        self.add_button = QPushButton("Add…", self)
        self.add_button.clicked.connect(self._add)
        self.edit_button = QPushButton("Edit…", self)
        self.edit_button.clicked.connect(self._edit)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(self._remove)
        self.restart_button = QPushButton("Restart", self)
        self.restart_button.clicked.connect(self._restart)
        self.import_button = QPushButton("Import from Claude Desktop…", self)
        self.import_button.clicked.connect(self._import)
        from desktop_chat.mcp_import import claude_config_path

        self.claude_file = claude_config_path()
        self.import_button.setVisible(self.claude_file.exists())
        row = QHBoxLayout()
        for button in (self.add_button, self.edit_button, self.remove_button, self.restart_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.import_button)
        note = QLabel(
            "Every call a model makes is shown first, with Allow once, Always allow and Deny. "
            "Unticked tools are never offered to a model.",
            self,
        )
        note.setObjectName("hintLabel")
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.detail)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(note)
        self.host.state_changed.connect(self._state_changed)
        self.fill()

    # --- the list ------------------------------------------------------------------------

    def fill(self) -> None:
        """Every configured server, its state, and its tools: those it listed (when ready) and
        those config.toml names (so a revoke works while the server is down)."""
        current = self._selected_server()
        states = {state.name: state for state in self.host.states()}
        listed: dict[str, list[str]] = {}
        for tool in self.host.servers.tools() if self.host.servers is not None else []:
            listed.setdefault(tool.server or "", []).append(tool.remote_name or tool.name)
        self.tree.blockSignals(True)
        self.tree.clear()
        for name, settings in self.host.configured.items():
            state = states.get(name)
            said = state.describe().split(" Its last output:")[0] if state else "stopped"
            if said == "stopped":
                said = "not started (starts with the first message)"
            top = QTreeWidgetItem(self.tree, [f"{name} — {said}"])
            top.setData(0, _ROLE, ("server", name))
            if state is not None:
                top.setToolTip(0, plain_tip(state.describe()))
            top.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            tools = list(listed.get(name, []))
            tools += [t for t in (*settings.always_allow, *settings.disabled) if t not in tools]
            for tool in tools:
                item = QTreeWidgetItem(top, [tool, ""])
                item.setData(0, _ROLE, ("tool", name, tool))
                item.setFlags(
                    Qt.ItemFlag.ItemIsEnabled
                    | Qt.ItemFlag.ItemIsSelectable
                    | Qt.ItemFlag.ItemIsUserCheckable
                )
                on = tool not in settings.disabled
                always = tool in settings.always_allow
                item.setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
                item.setCheckState(1, Qt.CheckState.Checked if always else Qt.CheckState.Unchecked)
            top.setExpanded(True)
            failed = state is not None and bool(state.error)
            if name == current or (current is None and failed):
                # A failed server's output is shown without a click: it says what to fix.
                self.tree.setCurrentItem(top)
                current = name
        if not self.host.configured:
            empty = QTreeWidgetItem(self.tree, ["No MCP servers yet: Add… one."])
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
        self.tree.blockSignals(False)
        self._show_detail()

    def server_item(self, name: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, _ROLE) == ("server", name):
                return item
        return None

    def tool_item(self, server: str, tool: str) -> QTreeWidgetItem | None:
        top = self.server_item(server)
        for i in range(top.childCount() if top is not None else 0):
            if top.child(i).data(0, _ROLE) == ("tool", server, tool):
                return top.child(i)
        return None

    def _selected_server(self) -> str | None:
        item = self.tree.currentItem()
        what = item.data(0, _ROLE) if item is not None else None
        return what[1] if what else None

    @Slot(object)
    def _state_changed(self, _state) -> None:
        self.fill()

    @Slot()
    def _show_detail(self, *_) -> None:
        name = self._selected_server()
        self.remove_button.setEnabled(name is not None)
        self.edit_button.setEnabled(name is not None)
        self.restart_button.setEnabled(name is not None and self.host.servers is not None)
        if name is None:
            self.detail.setText("")
            return
        settings = self.host.configured.get(name)
        where = (
            settings.url
            if settings is not None and settings.url
            else shlex.join([settings.command or "", *settings.args])
            if settings is not None
            else ""
        )
        lines = [f"{name}: {where}"]
        named = {**settings.env, **settings.headers} if settings is not None else {}
        if named:  # the names only: a value is a keychain: reference or the user's own text
            lines.append(f"{'Headers' if settings.url else 'Environment'}: {', '.join(named)}")
        states = {state.name: state for state in self.host.states()}
        state = states.get(name)
        if state is not None and state.error:
            lines.append(f"Failed: {state.error}")
        if state is not None and state.stderr:
            lines.append(f"Its last output:\n{state.stderr}")
        self.detail.setText("\n".join(lines))

    @Slot(QTreeWidgetItem, int)
    def _changed(self, item: QTreeWidgetItem, column: int) -> None:
        what = item.data(0, _ROLE)
        if not what or what[0] != "tool":
            return
        _, server, tool = what
        checked = item.checkState(column) == Qt.CheckState.Checked
        done = (
            self.host.set_enabled(server, tool, checked)
            if column == 0
            else self.host.set_always(server, tool, checked)
        )
        if done:
            verb = ("offered" if checked else "not offered") if column == 0 else None
            self.message.setText(
                f"'{tool}' is {verb} to models from now on."
                if verb
                else f"'{tool}' {'runs without asking' if checked else 'is asked about'} "
                "from now on."
            )
        else:
            self.message.setText(f"The setting for '{tool}' could not be saved.")
            self.fill()

    # --- actions -------------------------------------------------------------------------

    @Slot()
    def _restart(self) -> None:
        if (name := self._selected_server()) is not None:
            self.message.setText(f"Restarting {name}…")
            self.task = self.controller.spawn(self.restart(name))

    async def restart(self, name: str) -> None:
        await self.host.restart(name)
        self.message.setText("")
        self.fill()

    @Slot()
    def _remove(self) -> None:
        if (name := self._selected_server()) is not None:
            self.task = self.controller.spawn(self.remove(name))

    async def remove(self, name: str) -> None:
        """Take the server out of config.toml, then the Keychain items made for it."""
        from desktop_chat.config_writer import remove_mcp_server

        settings = self.host.configured.get(name)
        try:
            await asyncio.to_thread(remove_mcp_server, self.controller.paths.config_file, name)
        except DesktopChatError as exc:
            self.message.setText(_words(exc.message, exc.hint))
            return
        await self.controller.reload()
        said = f"{name} was removed."
        if settings is not None and (failed := await self._forget(settings)):
            said += f" {failed}"
        self.message.setText(said)
        self.fill()

    async def _forget(self, settings, keep=None) -> str:
        """Delete the Keychain items made for ``settings`` that neither ``keep`` (its new
        settings) nor another server names; a sentence when the Keychain refused."""
        from desktop_chat.mcp_import import own_keychain_items

        others = [s for n, s in self.host.configured.items() if n != settings.name]
        used = {i for s in others for i in s.keychain_items()}
        used |= set(keep.keychain_items()) if keep is not None else set()
        items = [i for i in own_keychain_items(settings) if i not in used]
        if not items:
            return ""
        try:
            await asyncio.to_thread(_delete_items, items)
        except DesktopChatError as exc:
            return _words(f"Its Keychain items were not deleted: {exc.message}", exc.hint)
        return ""

    @Slot()
    def _add(self) -> None:
        from desktop_chat.gui.mcp_server_dialog import ServerDialog

        self.dialog = ServerDialog(self, taken=tuple(self.host.configured))
        self.dialog.accepted.connect(self._added)
        self.dialog.open()

    @Slot()
    def _edit(self) -> None:
        from desktop_chat.gui.mcp_server_dialog import ServerDialog

        name = self._selected_server()
        if name is None or (server := self.host.configured.get(name)) is None:
            return
        self.dialog = ServerDialog(self, server)
        self.dialog.accepted.connect(self._added)
        self.dialog.open()

    @Slot()
    def _added(self) -> None:
        dialog = self.dialog
        self.task = self.controller.spawn(self.add(dialog.settings(), dialog.original))

    async def add(self, settings, previous=None) -> None:
        """Put its values in the Keychain, write the server with keychain: references in their
        place, read the settings again, and start it so its state shows. ``previous``: the
        server as it was before an edit, whose items no longer named are deleted."""
        from desktop_chat.config_writer import save_mcp_server
        from desktop_chat.mcp_import import restore_secrets, store_secrets

        written: list = []  # what the Keychain held before, should config.toml refuse
        try:
            settings = await asyncio.to_thread(store_secrets, settings, written=written)
        except KeyringUnavailable as exc:  # its hint is about providers' keys: not this
            said = (
                f"{settings.name} was not saved: its values could not be put in the Keychain. "
                f"{exc.message} Unlock the keychain, then OK again."
            )
            self.message.setText(said)
            if self.dialog is not None:  # the same dialog again: nothing typed is lost
                self.dialog.open()
                self.dialog.say(said)
            return
        try:
            await asyncio.to_thread(save_mcp_server, self.controller.paths.config_file, settings)
        except DesktopChatError as exc:
            # Not saved: the Keychain goes back to what the file still names.
            await asyncio.to_thread(restore_secrets, written)
            self.message.setText(_words(exc.message, exc.hint))
            return
        failed = await self._forget(previous, keep=settings) if previous is not None else ""
        self.message.setText(failed)
        await self.controller.reload()
        self.fill()
        if settings.name in self.host.configured:
            await self.host.restart(settings.name)
            self.fill()

    @Slot()
    def _import(self) -> None:
        from desktop_chat.mcp_import import read_claude_servers

        try:
            found = read_claude_servers(self.claude_file)
        except DesktopChatError as exc:
            self.message.setText(_words(str(exc), exc.hint))
            return
        taken = set(self.host.configured)
        offered = [s for s in found if s.settings.name not in taken]
        if not offered:
            self.message.setText("Claude Desktop has no servers that are not here already.")
            return
        self.dialog = ImportDialog(offered, self)
        self.dialog.accepted.connect(self._import_chosen)
        self.dialog.open()

    @Slot()
    def _import_chosen(self) -> None:
        self.task = self.controller.spawn(self.import_servers(self.dialog.chosen()))

    async def import_servers(self, chosen: list[ClaudeServer]) -> None:
        from desktop_chat.mcp_import import import_servers

        config = self.controller.paths.config_file
        try:
            written = await asyncio.to_thread(
                import_servers, config, chosen, existing=list(self.host.configured)
            )
        except DesktopChatError as exc:
            self.message.setText(_words(exc.message, exc.hint))
            return
        await self.controller.reload()
        self.message.setText(
            f"Imported {', '.join(written)}: they start with the first message."
            if written
            else "Nothing was imported."
        )
        self.fill()


def _delete_items(items: list[str]) -> None:
    from desktop_chat.keys import KeyStore

    keys = KeyStore()
    for item in items:
        keys.delete(item)


class ImportDialog(QDialog):
    """Claude Desktop's servers, each ticked to import; its tokens go to the Keychain."""

    def __init__(self, servers: list[ClaudeServer], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import from Claude Desktop")
        self.servers = servers
        self.boxes: list[QCheckBox] = []
        layout = QVBoxLayout(self)
        intro = QLabel("Choose the servers to use here too:", self)
        layout.addWidget(intro)
        for server in servers:
            s = server.settings
            where = s.url or shlex.join([s.command or "", *s.args])
            box = QCheckBox(f"{s.name} — {where}", self)
            box.setChecked(True)
            if server.secrets:
                box.setToolTip(plain_tip(f"Its {', '.join(server.secrets)} go to the Keychain."))
            layout.addWidget(box)
            self.boxes.append(box)
        note = QLabel("Tokens among their settings are moved to the Keychain.", self)
        note.setObjectName("hintLabel")
        layout.addWidget(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def chosen(self) -> list[ClaudeServer]:
        return [s for s, box in zip(self.servers, self.boxes, strict=True) if box.isChecked()]
