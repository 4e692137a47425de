"""Settings → Tools → Add… and Edit…: an MCP server's environment variables (a command server)
or headers (a URL server) typed into masked fields, kept in a real Secret Service, named in
config.toml only as keychain:ITEM, and received by a real MCP server (the tests' own, written
with the SDK) started from that config; Remove deletes the Keychain items made for it."""

from __future__ import annotations

import json
import logging
import shlex
import sys
import tomllib

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit, QTabWidget

from desktop_chat.keys import KeyStore
from desktop_chat.tools import Approval, Toolbox, ToolCall
from tests.support.gui import running_window, screenshot, wait_for
from tests.support.mcp_servers import SCRIPT, http_server
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

COMMAND = shlex.join([sys.executable, str(SCRIPT), "stdio"])
TOKEN = "ghp_typed-in-the-dialog-0123456789"


def servers_in(config) -> dict:
    return tomllib.loads(config.read_text()).get("mcp", {}).get("servers", {})


def nowhere_but_the_keychain(home, secret: str) -> None:
    """No file the app wrote (config.toml, its log, its database) holds the secret."""
    for path in home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"{secret!r} is in {path}"


def app_log(caplog) -> str:
    """The app's own records (what its log file takes), before redaction, DEBUG included."""
    records = [r for r in caplog.records if r.name.startswith("desktop_chat")]
    assert records, "the app logged nothing: the check would prove nothing"
    return "\n".join(r.getMessage() for r in records)


def fill_row(qtbot, rows, name: str, value: str):
    qtbot.mouseClick(rows.add_button, Qt.MouseButton.LeftButton)
    row = rows.rows[-1]
    qtbot.keyClicks(row.name, name)
    qtbot.keyClicks(row.value, value)
    return row


def ok(qtbot, dialog) -> None:
    button = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


async def environment_of(host, server: str) -> dict[str, str]:
    """What the running server reports as its environment (its own ``environment`` tool)."""

    async def allow(tool, arguments):
        return Approval.ONCE

    box = Toolbox([t for t in host.servers.tools() if t.server == server])
    [tool] = [t for t in box._tools.values() if (t.remote_name or t.name) == "environment"]
    result = await box.call(ToolCall("c1", tool.name, "{}"), allow, 60.0)
    return dict(line.split("=", 1) for line in result.content.splitlines())


def test_a_command_servers_environment_typed_in_add_goes_to_the_keychain_and_reaches_it(
    qapp, qtbot, fake, secret_service, _isolated_home, caplog
):
    caplog.set_level(logging.DEBUG)
    KeyStore().set("my-own-item", "already-in-the-keychain-42")
    config = _isolated_home / "config" / "config.toml"
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        window.open_settings()
        page = window.dialog.tools_page
        qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
        add = page.dialog
        qtbot.keyClicks(add.name, "gh")
        qtbot.keyClicks(add.command, COMMAND)
        assert add.env.isVisibleTo(add) and not add.headers.isVisibleTo(add)
        token = fill_row(qtbot, add.env, "GITHUB_PERSONAL_ACCESS_TOKEN", TOKEN)
        fill_row(qtbot, add.env, "OTHER_KEY", "keychain:my-own-item")
        assert token.value.echoMode() == QLineEdit.EchoMode.Password
        screenshot(add, "mcp-add-command-env-masked")
        add.env.show_values.setChecked(True)
        assert token.value.echoMode() == QLineEdit.EchoMode.Normal
        screenshot(add, "mcp-add-command-env-shown")
        ok(qtbot, add)
        loop.run_until_complete(wait_for(lambda: page.task.done(), 90, "the new server"))
        assert servers_in(config)["gh"]["env"] == {
            "GITHUB_PERSONAL_ACCESS_TOKEN": "keychain:mcp-gh/GITHUB_PERSONAL_ACCESS_TOKEN",
            "OTHER_KEY": "keychain:my-own-item",
        }
        assert KeyStore().get("mcp-gh/GITHUB_PERSONAL_ACCESS_TOKEN") == TOKEN
        assert page.server_item("gh").text(0) == "gh — ready with 7 tools"
        seen = loop.run_until_complete(environment_of(window.controller.tools, "gh"))
        assert seen["GITHUB_PERSONAL_ACCESS_TOKEN"] == TOKEN
        assert seen["OTHER_KEY"] == "already-in-the-keychain-42"
        page.tree.setCurrentItem(page.server_item("gh"))
        assert "Environment: GITHUB_PERSONAL_ACCESS_TOKEN, OTHER_KEY" in page.detail.text()
        assert TOKEN not in page.detail.text() and TOKEN not in page.message.text()
        window.dialog.reject()
    nowhere_but_the_keychain(_isolated_home, TOKEN)
    assert TOKEN not in app_log(caplog), "nor in the log"


def test_a_url_servers_bearer_header_typed_in_add_opens_a_server_that_asks_for_it(
    qapp, qtbot, fake, secret_service, _isolated_home
):
    config = _isolated_home / "config" / "config.toml"
    secret = "s3cret-header-token-77"
    with (
        http_server(free_port(), name="remote", token=secret) as url,
        running_window(qapp) as (loop, window),
    ):
        loop.run_until_complete(window.controller.refresh())
        window.open_settings()
        page = window.dialog.tools_page
        qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
        add = page.dialog
        qtbot.keyClicks(add.name, "remote")
        qtbot.keyClicks(add.url, url)
        assert add.headers.isVisibleTo(add) and not add.env.isVisibleTo(add)
        row = fill_row(qtbot, add.headers, "Authorization", f"Bearer {secret}")
        assert row.value.echoMode() == QLineEdit.EchoMode.Password
        screenshot(add, "mcp-add-url-headers")
        ok(qtbot, add)
        loop.run_until_complete(wait_for(lambda: page.task.done(), 90, "the new server"))
        assert servers_in(config)["remote"] == {
            "url": url,
            "headers": {"Authorization": "keychain:mcp-remote/Authorization"},
        }
        assert KeyStore().get("mcp-remote/Authorization") == f"Bearer {secret}"
        # The server answers 401 to a request without this exact header.
        assert page.server_item("remote").text(0) == "remote — ready with 7 tools"
        window.dialog.reject()
    nowhere_but_the_keychain(_isolated_home, secret)


def test_the_dialog_says_what_is_wrong_beside_each_row_and_writes_nothing(qapp, qtbot):
    from desktop_chat.gui.mcp_server_dialog import ServerDialog

    dialog = ServerDialog(taken=("files",))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.name, "gh")
    qtbot.keyClicks(dialog.command, COMMAND)
    digit = fill_row(qtbot, dialog.env, "1TOKEN", "x")
    space = fill_row(qtbot, dialog.env, "MY TOKEN", "x")
    first = fill_row(qtbot, dialog.env, "TOKEN", "x")
    twice = fill_row(qtbot, dialog.env, "TOKEN", "y")
    empty = fill_row(qtbot, dialog.env, "EMPTY", "")
    nameless = fill_row(qtbot, dialog.env, "", "a value")
    fill_row(qtbot, dialog.env, "", "")  # a row left empty is no row
    ok(qtbot, dialog)
    assert dialog.isVisible() and dialog.result() == 0, "refused"
    assert digit.problem.text() == (
        "'1TOKEN' is not a variable name: letters, digits and _, no digit first."
    )
    assert space.problem.text().startswith("'MY TOKEN' is not a variable name")
    assert first.problem.isHidden()
    assert twice.problem.text() == "'TOKEN' is given twice: keep one of them."
    assert empty.problem.text() == "Give 'EMPTY' its value (or remove the row)."
    assert nameless.problem.text() == "Give this value the variable's name."
    assert dialog.problem.text() == "Fix the rows marked above, then OK."
    screenshot(dialog, "mcp-add-validation")

    for row in (digit, space, twice, empty, nameless):
        qtbot.mouseClick(row.remove, Qt.MouseButton.LeftButton)
    dialog.command.clear()
    qtbot.keyClicks(dialog.url, "https://example.com/mcp")
    assert dialog.headers.isVisibleTo(dialog) and not dialog.env.isVisibleTo(dialog)
    bad = fill_row(qtbot, dialog.headers, "Authorization:", "Bearer x")
    fill_row(qtbot, dialog.headers, "X-Key", "a")
    same = fill_row(qtbot, dialog.headers, "x-key", "b")  # header names ignore case
    ok(qtbot, dialog)
    assert bad.problem.text() == (
        "'Authorization:' is not a header name: letters, digits and - only, no ':'."
    )
    assert same.problem.text() == "'x-key' is given twice: keep one of them."
    screenshot(dialog, "mcp-add-url-validation")
    qtbot.mouseClick(bad.remove, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(same.remove, Qt.MouseButton.LeftButton)
    dialog.name.setText("files")
    ok(qtbot, dialog)
    assert dialog.problem.text() == (
        "There is a server named files already: choose another name, or Edit… it."
    )
    dialog.name.setText("web")
    ok(qtbot, dialog)
    assert dialog.result() == dialog.DialogCode.Accepted
    # The env rows typed before the URL are not the URL server's: only its header is.
    settings = dialog.settings()
    assert (settings.url, settings.headers, settings.env) == (
        "https://example.com/mcp",
        {"X-Key": "a"},
        {},
    )


def with_gh(config) -> None:
    """A server with two values of its own in the Keychain and one the user named himself."""
    config.write_text(
        config.read_text()
        + f"\n[mcp.servers.gh]\ncommand = {json.dumps(sys.executable)}\n"
        + f'args = [{json.dumps(str(SCRIPT))}, "stdio"]\n'
        + 'always_allow = ["echo"]\n'
        + 'env = { GITHUB_TOKEN = "keychain:mcp-gh-GITHUB_TOKEN", '
        + 'OLD = "keychain:mcp-gh-OLD", SHARED = "keychain:shared-item" }\n'
    )
    keys = KeyStore()
    keys.set("mcp-gh-GITHUB_TOKEN", "ghp_the-first-token-000000")
    keys.set("mcp-gh-OLD", "old-value-to-forget-111")
    keys.set("shared-item", "the-users-own-item-222")


def test_edit_shows_the_references_replaces_a_value_and_forgets_a_removed_row(
    qapp, qtbot, fake, secret_service, _isolated_home, caplog
):
    caplog.set_level(logging.DEBUG)
    config = _isolated_home / "config" / "config.toml"
    with_gh(config)
    new = "ghp_the-replaced-token-999999"
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        window.open_settings()
        page = window.dialog.tools_page
        page.tree.setCurrentItem(page.server_item("gh"))
        qtbot.mouseClick(page.edit_button, Qt.MouseButton.LeftButton)
        edit = page.dialog
        assert edit.windowTitle() == "Edit gh" and edit.name.isReadOnly()
        assert edit.command.text() == COMMAND
        shown = {r.name.text(): r.value.text() for r in edit.env.rows}
        assert shown == {
            "GITHUB_TOKEN": "keychain:mcp-gh-GITHUB_TOKEN",
            "OLD": "keychain:mcp-gh-OLD",
            "SHARED": "keychain:shared-item",
        }, "references, never the secrets"
        assert all(r.value.echoMode() == QLineEdit.EchoMode.Password for r in edit.env.rows)
        edit.env.show_values.setChecked(True)  # a reference is no secret: it may be seen
        screenshot(edit, "mcp-edit-references")
        window.dialog.findChild(QTabWidget).setCurrentWidget(page)
        screenshot(window.dialog, "mcp-tools-page-edit")
        token, old, _shared = edit.env.rows
        token.value.clear()
        qtbot.keyClicks(token.value, new)
        qtbot.mouseClick(old.remove, Qt.MouseButton.LeftButton)
        fill_row(qtbot, edit.env, "ADDED", "added-value-333")
        ok(qtbot, edit)
        loop.run_until_complete(wait_for(lambda: page.task.done(), 90, "the edited server"))
        gh = servers_in(config)["gh"]
        assert gh["env"] == {
            "GITHUB_TOKEN": "keychain:mcp-gh/GITHUB_TOKEN",
            "SHARED": "keychain:shared-item",
            "ADDED": "keychain:mcp-gh/ADDED",
        }
        assert gh["always_allow"] == ["echo"], "what the dialog does not show is kept"
        keys = KeyStore()
        assert keys.get("mcp-gh/GITHUB_TOKEN") == new
        assert keys.get("mcp-gh-GITHUB_TOKEN") is None, "the replaced value's old item goes"
        assert keys.get("mcp-gh-OLD") is None, "the removed row's item is deleted"
        assert keys.get("shared-item") == "the-users-own-item-222"
        seen = loop.run_until_complete(environment_of(window.controller.tools, "gh"))
        assert (seen["GITHUB_TOKEN"], seen["ADDED"]) == (new, "added-value-333")
        assert "OLD" not in seen
        window.dialog.reject()
    nowhere_but_the_keychain(_isolated_home, new)
    assert new not in app_log(caplog), "nor in the log"


def test_remove_deletes_the_keychain_items_made_for_the_server(
    qapp, qtbot, fake, secret_service, _isolated_home
):
    config = _isolated_home / "config" / "config.toml"
    with_gh(config)
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        window.open_settings()
        page = window.dialog.tools_page
        page.tree.setCurrentItem(page.server_item("gh"))
        qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
        loop.run_until_complete(wait_for(lambda: page.task.done(), 30, "the removal"))
        assert "gh" not in servers_in(config)
        assert page.message.text() == "gh was removed."
        window.dialog.reject()
    keys = KeyStore()
    assert keys.get("mcp-gh-GITHUB_TOKEN") is None and keys.get("mcp-gh-OLD") is None
    # An item the user named himself may serve elsewhere: it stays.
    assert keys.get("shared-item") == "the-users-own-item-222"


def test_with_no_keychain_the_server_is_not_written_and_the_page_says_why(
    qapp, qtbot, fake, _isolated_home
):
    import keyring
    from keyring.backends import fail

    config = _isolated_home / "config" / "config.toml"
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with running_window(qapp) as (loop, window):
            loop.run_until_complete(window.controller.refresh())
            window.open_settings()
            page = window.dialog.tools_page
            qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
            add = page.dialog
            qtbot.keyClicks(add.name, "gh")
            qtbot.keyClicks(add.command, COMMAND)
            fill_row(qtbot, add.env, "GITHUB_TOKEN", TOKEN)
            ok(qtbot, add)
            loop.run_until_complete(wait_for(lambda: page.task.done(), 30, "the refusal"))
            assert page.message.text().startswith(
                "gh was not saved: its values could not be put in the Keychain. "
                "No system keychain is available"
            )
            assert page.message.text().endswith("Unlock the keychain, then OK again.")
            assert page.dialog is add and add.isVisible(), "the dialog is back, as it was"
            assert add.problem.text() == page.message.text()
            assert add.env.rows[0].value.text() == TOKEN
            screenshot(add, "mcp-add-no-keychain")
            add.reject()
            assert page.server_item("gh") is None
            window.dialog.reject()
    finally:
        keyring.set_keyring(before)
    assert "gh" not in servers_in(config)
    nowhere_but_the_keychain(_isolated_home, TOKEN)


def test_two_servers_whose_names_run_together_keep_two_keychain_items(secret_service):
    """Server "a" with header "b-Token" and server "a-b" with header "Token": the old naming
    gave both "mcp-a-b-Token", so saving one overwrote the other's token."""
    from desktop_chat.mcp_config import McpServerSettings
    from desktop_chat.mcp_import import store_secrets

    first = store_secrets(
        McpServerSettings("a", url="http://127.0.0.1:9/mcp", headers={"b-Token": "first-1111"})
    )
    second = store_secrets(
        McpServerSettings("a-b", url="http://127.0.0.1:9/mcp", headers={"Token": "second-2222"})
    )
    assert first.keychain_items() != second.keychain_items()
    keys = KeyStore()
    assert keys.get(first.keychain_items()[0]) == "first-1111"
    assert keys.get(second.keychain_items()[0]) == "second-2222"


class RefusesSecond:
    """The real Keychain, refusing the second write (locked half-way, the user's Deny)."""

    def __init__(self) -> None:
        self.keys, self.sets = KeyStore(), 0

    def get(self, item):
        return self.keys.get(item)

    def set(self, item, value):
        from desktop_chat.keys import KeyringUnavailable

        self.sets += 1
        if self.sets == 2:
            raise KeyringUnavailable("The keychain refused.", "Unlock it.")
        self.keys.set(item, value)

    def delete(self, item):
        self.keys.delete(item)


def test_a_keychain_that_refuses_half_way_gets_back_what_it_held(secret_service):
    from desktop_chat.keys import KeyringUnavailable
    from desktop_chat.mcp_config import McpServerSettings
    from desktop_chat.mcp_import import keychain_item, restore_secrets, store_secrets

    keys = KeyStore()
    keys.set(keychain_item("gh", "A_TOKEN"), "the-old-value-0000")
    settings = McpServerSettings(
        "gh", command="gh-mcp", env={"A_TOKEN": "new-value-1111", "B_TOKEN": "new-value-2222"}
    )
    with pytest.raises(KeyringUnavailable):
        store_secrets(settings, keys=RefusesSecond())
    assert keys.get(keychain_item("gh", "A_TOKEN")) == "the-old-value-0000", "put back"
    assert keys.get(keychain_item("gh", "B_TOKEN")) is None, "nothing left that nothing names"
    # Written whole, then config.toml refused: the caller puts everything back.
    written: list = []
    store_secrets(settings, written=written)
    assert keys.get(keychain_item("gh", "B_TOKEN")) == "new-value-2222"
    restore_secrets(written)
    assert keys.get(keychain_item("gh", "A_TOKEN")) == "the-old-value-0000"
    assert keys.get(keychain_item("gh", "B_TOKEN")) is None
