"""The dialog that adds or edits an MCP server: its name, its command line or its Streamable HTTP
URL, and its environment variables (a command server) or headers (a URL server).

Values are typed into masked fields and go to the Keychain on OK (``mcp_import.store_secrets``);
config.toml gets ``keychain:ITEM`` in their place. Editing shows the ``keychain:`` references,
never the secrets: a value is read again only if the user types a new one.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_chat.gui.untrusted import plain

if TYPE_CHECKING:
    from desktop_chat.mcp_config import McpServerSettings

_SERVER_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: RFC 9110's token: the characters a header's name may have.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class PairRow(QWidget):
    """NAME = value, the value masked, with its own line saying what is wrong with it."""

    def __init__(self, rows: PairRows, name: str = "", value: str = "") -> None:
        super().__init__(rows)
        self.name = QLineEdit(name, self)
        self.name.setPlaceholderText(rows.name_hint)
        self.value = QLineEdit(value, self)
        self.value.setPlaceholderText("value, or keychain:ITEM")
        self.value.setEchoMode(rows.echo())
        self.remove = QPushButton("−", self)
        self.remove.setToolTip("Remove this row")
        self.remove.setFixedWidth(28)
        self.remove.clicked.connect(lambda: rows.remove_row(self))
        self.problem = plain(QLabel("", self))
        self.problem.hide()  # one line, not wrapped: a wrapped label here overlaps the next row
        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.name, 1)
        line.addWidget(QLabel("=", self))
        line.addWidget(self.value, 1)
        line.addWidget(self.remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(line)
        layout.addWidget(self.problem)

    def say(self, problem: str) -> None:
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))

    def pair(self) -> tuple[str, str]:
        return self.name.text().strip(), self.value.text().strip()


class PairRows(QWidget):
    """An editable list of NAME = value pairs: environment variables or headers."""

    def __init__(self, kind: str, pairs: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind  # "env" or "headers"
        self.name_hint = "API_KEY" if kind == "env" else "Authorization"
        self.rows: list[PairRow] = []
        self.list = QVBoxLayout()
        self.list.setContentsMargins(0, 0, 0, 0)
        self.add_button = QPushButton("Add Variable" if kind == "env" else "Add Header", self)
        self.add_button.clicked.connect(lambda: self.add_row().name.setFocus())
        self.show_values = QCheckBox("Show values", self)
        self.show_values.toggled.connect(self._show)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        buttons.addWidget(self.show_values)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.list)
        layout.addLayout(buttons)
        for name, value in pairs.items():
            self.add_row(name, value)

    def echo(self) -> QLineEdit.EchoMode:
        shown = self.show_values.isChecked()
        return QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password

    def add_row(self, name: str = "", value: str = "") -> PairRow:
        row = PairRow(self, name, value)
        self.rows.append(row)
        self.list.addWidget(row)
        row.show()  # the layout would show it only at the next turn of the event loop
        return row

    def remove_row(self, row: PairRow) -> None:
        self.rows.remove(row)
        self.list.removeWidget(row)
        row.deleteLater()

    @Slot(bool)
    def _show(self, _shown: bool) -> None:
        for row in self.rows:
            row.value.setEchoMode(self.echo())

    def pairs(self) -> dict[str, str]:
        """The filled rows; a row left wholly empty is no row."""
        return {name: value for name, value in (r.pair() for r in self.rows) if name or value}

    def check(self) -> bool:
        """Say beside each row what is wrong with it; True when nothing is."""
        seen: set[str] = set()
        ok = True
        for row in self.rows:
            name, value = row.pair()
            problem = "" if not (name or value) else self._problem(name, value, seen)
            seen.add(name if self.kind == "env" else name.lower())
            row.say(problem)
            ok = ok and not problem
        return ok

    def _problem(self, name: str, value: str, seen: set[str]) -> str:
        env = self.kind == "env"
        what = "variable" if env else "header"
        if not name:
            return f"Give this value the {what}'s name."
        if env and not _ENV_NAME.fullmatch(name):
            return f"'{name}' is not a variable name: letters, digits and _, no digit first."
        if not env and not _HEADER_NAME.fullmatch(name):
            return f"'{name}' is not a header name: letters, digits and - only, no ':'."
        if (name if env else name.lower()) in seen:
            return f"'{name}' is given twice: keep one of them."
        if not value:
            return f"Give '{name}' its value (or remove the row)."
        if value == "keychain:":
            return "After keychain: comes the name of the Keychain item."
        return ""


class ServerDialog(QDialog):
    """Add a server (``server`` None) or edit one: by its command line (a program and its
    arguments) or a Streamable HTTP URL, with its environment or headers."""

    def __init__(
        self,
        parent: QWidget | None = None,
        server: McpServerSettings | None = None,
        taken: tuple[str, ...] = (),
    ) -> None:
        super().__init__(parent)
        self.original = server
        self.taken = taken
        self.setWindowTitle(f"Edit {server.name}" if server else "Add an MCP server")
        self.setMinimumWidth(580)
        self.name = QLineEdit(server.name if server else "", self)
        self.name.setPlaceholderText("files")
        self.name.setReadOnly(server is not None)  # its name is its table's and its items'
        self.command = QLineEdit(self)
        self.command.setPlaceholderText("npx -y @modelcontextprotocol/server-filesystem ~/Notes")
        self.url = QLineEdit(self)
        self.url.setPlaceholderText("or https://example.com/mcp")
        if server is not None and server.url:
            self.url.setText(server.url)
        elif server is not None:
            self.command.setText(shlex.join([server.command or "", *server.args]))
        self.env = PairRows("env", dict(server.env) if server else {}, self)
        self.headers = PairRows("headers", dict(server.headers) if server else {}, self)
        self.env_label = QLabel("Environment", self)
        self.headers_label = QLabel("Headers", self)
        self.problem = plain(QLabel("", self))
        self.problem.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("Command", self.command)
        form.addRow("URL", self.url)
        form.addRow(self.env_label, self.env)
        form.addRow(self.headers_label, self.headers)
        note = QLabel(
            "Values are kept in the Keychain; config.toml names them as keychain:ITEM.", self
        )
        note.setObjectName("hintLabel")
        note.setWordWrap(True)
        form.addRow("", note)
        form.addRow("", self.problem)
        form.addRow(buttons)
        self.url.textChanged.connect(self._kind_changed)
        self.command.textChanged.connect(self._kind_changed)
        self._kind_changed()

    def is_url(self) -> bool:
        return bool(self.url.text().strip()) and not self.command.text().strip()

    @Slot()
    def _kind_changed(self, *_) -> None:
        url = self.is_url()
        if self.headers.isHidden() == (not url) and self.env.isHidden() == url:
            return  # a keystroke that changes nothing: the dialog keeps its size
        for widget in (self.env_label, self.env):
            widget.setVisible(not url)
        for widget in (self.headers_label, self.headers):
            widget.setVisible(url)
        self.adjustSize()

    def settings(self) -> McpServerSettings:
        """What the user typed, values as typed: ``store_secrets`` moves them to the Keychain.
        An edited server keeps what the dialog does not show (its tool lists, cwd, timeout)."""
        from desktop_chat.mcp_config import McpServerSettings

        base = self.original or McpServerSettings(name=self.name.text().strip())
        if self.is_url():
            return replace(
                base,
                command=None,
                args=(),
                env={},
                url=self.url.text().strip(),
                headers=self.headers.pairs(),
            )
        words = shlex.split(self.command.text())
        return replace(
            base,
            command=words[0],
            args=tuple(words[1:]),
            env=self.env.pairs(),
            url=None,
            headers={},
        )

    def say(self, problem: str) -> None:
        self.problem.setText(problem)
        self.adjustSize()  # a wrapped sentence is taller: grow now, not at the next layout

    @Slot()
    def _check(self) -> None:
        problem = self._problem()
        rows_ok = (self.headers if self.is_url() else self.env).check()
        if not problem and rows_ok:
            self.problem.setText("")
            self.accept()
            return
        self.say(problem or "Fix the rows marked above, then OK.")

    def _problem(self) -> str:
        name = self.name.text().strip()
        if not _SERVER_NAME.fullmatch(name):
            return "Give it a name of letters, digits, '_' or '-'."
        if self.original is None and name in self.taken:
            return f"There is a server named {name} already: choose another name, or Edit… it."
        url, command = self.url.text().strip(), self.command.text().strip()
        if bool(url) == bool(command):
            return "Give either the command that starts it or its URL."
        if url and not re.match(r"^https?://[^/\s]+", url):
            return "The URL must start with http:// or https://."
        try:
            shlex.split(command)
        except ValueError as exc:
            return f"The command cannot be read: {exc}."
        return ""
