"""Tools in the main window, as the user meets them: a real MCP server (the tests' own, over
stdio) configured in config.toml, a model (the scripted server: its ``tool_calls`` deltas are
OpenAI's) that calls one of its tools. Every call waits behind an approval card; Allow once
runs it and its result card joins the reply before the answer, Deny sends the model a refusal,
Always skips the card from then on (until revoked in Settings → Tools), Esc during a card
stops the reply and runs nothing."""

from __future__ import annotations

import asyncio
import json
import tomllib

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from desktop_chat.tools import DENIED
from tests.support.fake_openai import Step, tool_call
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.support.mcp_servers import SCRIPT

pytestmark = pytest.mark.slow


def with_server(fake, home, extra: str = "", command: str | None = None) -> None:
    """The tests' MCP server, "tester", in the app's config.toml beside the fake provider."""
    import sys

    config = home / "config" / "config.toml"
    program = command or sys.executable
    config.write_text(
        config.read_text()
        + f"\n[mcp.servers.tester]\ncommand = {json.dumps(program)}\n"
        + f'args = [{json.dumps(str(SCRIPT))}, "stdio"]\n{extra}'
    )


def asks(call_id: str, name: str, arguments: str) -> Step:
    """A reply that asks for one tool, its arguments split across two chunks as OpenAI does."""
    half = len(arguments) // 2
    return Step(
        tool_calls=[
            [tool_call(0, id=call_id, name=name, arguments="")],
            [tool_call(0, arguments=arguments[:half])],
            [tool_call(0, arguments=arguments[half:])],
        ]
    )


def posts(fake) -> list[dict]:
    return [r["body"] for r in fake.requests if r["method"] == "POST"]


def tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def allowed(config) -> list[str]:
    """The tester server's ``always_allow`` as config.toml has it now."""
    return tomllib.loads(config.read_text())["mcp"]["servers"]["tester"].get("always_allow", [])


def card(window):
    reply = window.reply
    return reply.tools.approval if reply is not None and reply.tools is not None else None


@pytest.fixture(params=["light", "dark"])
def appearance(request, qapp):
    from tests.test_theme_colours import dark_palette

    light = QApplication.palette()
    if request.param == "dark":
        QApplication.setPalette(dark_palette())
    yield request.param
    QApplication.setPalette(light)
    QApplication.processEvents()


def test_allow_once_runs_the_call_shows_its_result_then_the_answer(
    qapp, qtbot, fake, _isolated_home, appearance
):
    with_server(fake, _isolated_home)
    fake.script = [asks("call_1", "add", '{"a": 2, "b": 3}'), Step(pieces=["2 + 3 is **5**."])]
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        type_and_send(qtbot, window, "What is 2 + 3?")
        approval = loop.run_until_complete(wait_for(lambda: card(window), 60, "the card"))
        # Asked before anything ran: one request so far, the tool named with its server.
        assert len(posts(fake)) == 1
        assert [t["function"]["name"] for t in posts(fake)[0]["tools"]][:2] == ["add", "echo"]
        assert "add from the MCP server “tester”" in approval.question.text()
        assert json.loads(approval.arguments.text()) == {"a": 2, "b": 3}
        assert approval.arguments.textFormat() == Qt.TextFormat.PlainText
        [waiting] = window.reply.tools.cards
        assert waiting.header.text() == "tester · add — waiting"
        screenshot(window, f"tools-approval-card-{appearance}")
        qtbot.mouseClick(approval.once, Qt.MouseButton.LeftButton)
        loop.run_until_complete(wait_for(lambda: reply_done(window), 60, "the answer"))
        reply = window.view.replies()[-1]
        [done] = reply.tools.cards
        assert reply.tools.approval is None, "the card went once answered"
        assert done.state == "done" and done.output.text() == "5"
        assert done.header.text().startswith("tester · add — ") and done.header.text()[-2:] == " s"
        assert reply.text == "2 + 3 is **5**."
        # The model read the result in the next request.
        [result] = tool_messages(posts(fake)[1])
        assert result["content"] == "5" and result["tool_call_id"] == "call_1"
        qtbot.mouseClick(done.header, Qt.MouseButton.LeftButton)
        assert done.body.isVisible(), "a click opens the card"
        screenshot(window, f"tools-result-card-{appearance}")
        # Reopened, the reply shows its call from the stored reply.
        cid = window.controller.conversation_id
        window.controller.new_chat()
        loop.run_until_complete(window.controller.open_conversation(cid))
        [again] = window.view.replies()[-1].tools.cards
        assert again.state == "done" and again.output.text() == "5"
        assert again.header.text().startswith("tester · add — ")
        assert not again.body.isVisible(), "shown again collapsed"


def test_deny_sends_the_model_a_refusal_and_runs_nothing(qapp, qtbot, fake, _isolated_home):
    with_server(fake, _isolated_home)
    fake.script = [asks("call_1", "pid", "{}"), Step(pieces=["I was not allowed to look."])]
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        type_and_send(qtbot, window, "Which process are you?")
        approval = loop.run_until_complete(wait_for(lambda: card(window), 60, "the card"))
        qtbot.mouseClick(approval.deny, Qt.MouseButton.LeftButton)
        loop.run_until_complete(wait_for(lambda: reply_done(window), 60, "the answer"))
        [result] = tool_messages(posts(fake)[1])
        assert result["content"] == DENIED
        [denied] = window.view.replies()[-1].tools.cards
        assert denied.state == "denied" and denied.header.text() == "tester · pid — denied"
        assert denied.property("failed") is True
        screenshot(window, "tools-denied-card")


def test_always_skips_the_card_next_time_until_revoked_in_settings(
    qapp, qtbot, fake, _isolated_home
):
    with_server(fake, _isolated_home)
    config = _isolated_home / "config" / "config.toml"
    fake.script = [
        asks("a", "echo", '{"text": "one"}'),
        Step(pieces=["One."]),
        asks("b", "echo", '{"text": "two"}'),
        Step(pieces=["Two."]),
        asks("c", "echo", '{"text": "three"}'),
        Step(pieces=["Three."]),
    ]
    with running_window(qapp) as (loop, window):
        c = window.controller
        loop.run_until_complete(c.refresh())
        type_and_send(qtbot, window, "Say one")
        approval = loop.run_until_complete(wait_for(lambda: card(window), 60, "the card"))
        qtbot.mouseClick(approval.always, Qt.MouseButton.LeftButton)
        loop.run_until_complete(wait_for(lambda: reply_done(window), 60, "the answer"))
        assert allowed(config) == ["echo"]
        # Next time: no card, the call runs at once.
        seen = []
        c.tools.approval_requested.connect(seen.append)
        type_and_send(qtbot, window, "Say two")
        loop.run_until_complete(wait_for(lambda: reply_done(window), 60, "the answer"))
        assert seen == [] and tool_messages(posts(fake)[3])[-1]["content"] == "two"
        # Revoked in Settings → Tools: asked again.
        window.open_settings()
        page = window.dialog.tools_page
        item = page.tool_item("tester", "echo")
        assert item.checkState(1) == Qt.CheckState.Checked
        item.setCheckState(1, Qt.CheckState.Unchecked)
        assert allowed(config) == []
        window.dialog.reject()
        type_and_send(qtbot, window, "Say three")
        again = loop.run_until_complete(wait_for(lambda: card(window), 60, "the card again"))
        qtbot.mouseClick(again.once, Qt.MouseButton.LeftButton)
        loop.run_until_complete(wait_for(lambda: reply_done(window), 60, "the answer"))
        assert tool_messages(posts(fake)[5])[-1]["content"] == "three"


def test_esc_while_a_card_waits_denies_and_stops_the_reply(qapp, qtbot, fake, _isolated_home):
    with_server(fake, _isolated_home)
    fake.script = [asks("call_1", "echo", '{"text": "never"}'), Step(pieces=["Not asked."])]
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        type_and_send(qtbot, window, "Echo never")
        loop.run_until_complete(wait_for(lambda: card(window), 60, "the card"))
        reply = window.reply

        async def press_esc():
            qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
            await wait_for(lambda: reply_done(window), 30, "the stop")

        loop.run_until_complete(press_esc())
        assert len(posts(fake)) == 1, "nothing more was asked of the model"
        assert reply.tools.approval is None, "the card went"
        [stopped] = reply.tools.cards
        assert stopped.state == "stopped" and "stopped" in stopped.header.text()
        assert "stopped" in reply.stats.text()
        kept = window.controller.conversation.messages[-1]
        assert kept.meta.get("interrupted") and kept.tool_rounds[0]["results"][0]["stopped"]


def test_a_tool_switched_off_in_settings_is_not_offered(qapp, qtbot, fake, _isolated_home):
    with_server(fake, _isolated_home)
    fake.script = [Step(pieces=["Hello."]), Step(pieces=["Hello again."])]
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        type_and_send(qtbot, window, "Hi")
        loop.run_until_complete(wait_for(lambda: reply_done(window), 60, "the answer"))
        assert "crash" in [t["function"]["name"] for t in posts(fake)[0]["tools"]]
        window.open_settings()
        page = window.dialog.tools_page
        assert page.server_item("tester").text(0) == "tester — ready with 7 tools"
        page.tool_item("tester", "crash").setCheckState(0, Qt.CheckState.Unchecked)
        window.dialog.tabs.setCurrentWidget(page)
        screenshot(window.dialog, "tools-settings-ready")
        window.dialog.reject()
        type_and_send(qtbot, window, "Hi again")
        loop.run_until_complete(wait_for(lambda: reply_done(window), 60, "the answer"))
        offered = [t["function"]["name"] for t in posts(fake)[1]["tools"]]
        assert "crash" not in offered and "echo" in offered
        config = _isolated_home / "config" / "config.toml"
        assert tomllib.loads(config.read_text())["mcp"]["servers"]["tester"]["disabled"] == [
            "crash"
        ]


def test_settings_shows_a_failed_server_with_its_last_output(
    qapp, qtbot, fake, _isolated_home, tmp_path, appearance
):
    """A server that dies as it starts: Settings → Tools says so, with what it wrote; the
    reply still comes, without its tools; Restart tries again."""
    import sys

    broken = tmp_path / "broken_server.py"
    broken.write_text(
        "import sys\n"
        "print('broken: cannot open /srv/notes: permission denied', file=sys.stderr)\n"
        "sys.exit(2)\n"
    )
    config = _isolated_home / "config" / "config.toml"
    config.write_text(
        config.read_text()
        + f"\n[mcp.servers.notes]\ncommand = {json.dumps(sys.executable)}\n"
        + f"args = [{json.dumps(str(broken))}]\n"
    )
    fake.script = [Step(pieces=["Hello without tools."])]
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        type_and_send(qtbot, window, "Hi")
        loop.run_until_complete(wait_for(lambda: reply_done(window), 60, "the answer"))
        assert "tools" not in posts(fake)[0], "no tools offered: the only server failed"
        assert window.view.replies()[-1].text == "Hello without tools."
        window.open_settings()
        dialog = window.dialog
        dialog.tabs.setCurrentWidget(dialog.tools_page)
        page = dialog.tools_page
        top = page.server_item("notes")
        assert top.text(0).startswith("notes — failed: ")
        assert page.tree.currentItem() is top, "the failed server is shown without a click"
        detail = page.detail.text()
        assert "broken: cannot open /srv/notes: permission denied" in detail, detail
        assert page.detail.textFormat() == Qt.TextFormat.PlainText
        dialog.resize(640, 520)
        QApplication.processEvents()  # the detail's lines laid out before the picture
        screenshot(dialog, f"tools-settings-failed-{appearance}")
        qtbot.mouseClick(page.restart_button, Qt.MouseButton.LeftButton)
        loop.run_until_complete(wait_for(lambda: page.task.done(), 30, "the restart"))
        assert page.server_item("notes").text(0).startswith("notes — failed: ")
        dialog.reject()


def test_the_servers_stop_when_the_window_closes(qapp, qtbot, fake, _isolated_home):
    import os

    with_server(fake, _isolated_home, 'always_allow = ["pid"]\n')
    fake.script = [asks("call_1", "pid", "{}"), Step(pieces=["That is its number."])]
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        type_and_send(qtbot, window, "Which process?")
        loop.run_until_complete(wait_for(lambda: reply_done(window), 60, "the answer"))
        [result] = tool_messages(posts(fake)[1])
        pid = int(result["content"])
        os.kill(pid, 0)  # running while the app is
    # The window's end (quitting) stopped the server's process.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_with_mcp_at_launch_the_servers_start_before_any_message(qapp, qtbot, fake, _isolated_home):
    from desktop_chat.mcp_servers import ServerStatus

    config = _isolated_home / "config" / "config.toml"
    config.write_text(
        config.read_text().replace(
            "[providers.fake]", "[app]\nmcp_at_launch = true\n\n[providers.fake]"
        )
    )
    with_server(fake, _isolated_home)
    with running_window(qapp) as (loop, window):
        host = window.controller.tools

        async def launched():
            # One run of the loop: the servers' start is a task of the app's loop, which in
            # the app runs for good (between two runs here, Qt may step it with none running).
            await window.controller.refresh()
            return await wait_for(
                lambda: (
                    host.states()[0].status in (ServerStatus.READY, ServerStatus.FAILED)
                    and host.states()
                )
            )

        [state] = loop.run_until_complete(launched())
        assert state.status is ServerStatus.READY, state
        assert posts(fake) == [], "started without any message"


def test_claude_desktops_servers_are_imported_only_when_asked(
    qapp, qtbot, fake, _isolated_home, tmp_path, monkeypatch
):
    import sys

    from desktop_chat.mcp_servers import ServerStatus

    home = tmp_path / "user-home"
    claude = home / "Library/Application Support/Claude/claude_desktop_config.json"
    claude.parent.mkdir(parents=True)
    claude.write_text(
        json.dumps(
            {"mcpServers": {"desk": {"command": sys.executable, "args": [str(SCRIPT), "stdio"]}}}
        )
    )
    monkeypatch.setenv("HOME", str(home))
    config = _isolated_home / "config" / "config.toml"
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        window.open_settings()
        page = window.dialog.tools_page
        assert "desk" not in config.read_text(), "nothing imported by itself"
        assert page.import_button.isVisibleTo(page)
        qtbot.mouseClick(page.import_button, Qt.MouseButton.LeftButton)
        [box] = page.dialog.boxes
        assert box.text().startswith("desk — ") and box.isChecked()
        page.dialog.accept()
        loop.run_until_complete(wait_for(lambda: page.task.done(), 30, "the import"))
        assert tomllib.loads(config.read_text())["mcp"]["servers"]["desk"]["args"][1] == "stdio"
        assert page.server_item("desk") is not None
        host = window.controller.tools
        loop.run_until_complete(host.start())
        assert host.states()[0].status is ServerStatus.READY
        window.dialog.reject()


def test_a_long_result_is_cut_with_show_all_and_markup_stays_text(qapp):
    from desktop_chat.gui.tool_cards import RESULT_CHARS, CallCard

    long = "<img src='file:///dev/zero'> <b>not bold</b>\n" + "x" * 5000
    card = CallCard({"id": "1", "name": "read", "arguments": '{"path": "<a href=x>y</a>"}'})
    card.set_result({"call_id": "1", "name": "read", "content": long, "seconds": 0.5})
    assert card.output.textFormat() == Qt.TextFormat.PlainText
    assert card.arguments.textFormat() == Qt.TextFormat.PlainText
    assert '"path": "<a href=x>y</a>"' in card.arguments.text()
    assert len(card.output.text()) <= RESULT_CHARS + 2 and card.output.text().endswith(" …")
    assert not card.show_all.isHidden() and "5,045 characters" in card.show_all.text()
    card.show_all.click()
    assert card.output.text() == long and card.show_all.isHidden()
    assert card.header.text() == "read — 0.50 s"
    card.deleteLater()


def test_a_server_added_in_settings_starts_and_one_removed_goes(qapp, qtbot, fake, _isolated_home):
    import shlex
    import sys

    config = _isolated_home / "config" / "config.toml"
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        window.open_settings()
        page = window.dialog.tools_page
        qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
        add = page.dialog
        add.name.setText("mine")
        add.command.setText(shlex.join([sys.executable, str(SCRIPT), "stdio"]))
        add._check()
        loop.run_until_complete(wait_for(lambda: page.task.done(), 60, "the new server"))
        server = tomllib.loads(config.read_text())["mcp"]["servers"]["mine"]
        assert server == {"command": sys.executable, "args": [str(SCRIPT), "stdio"]}
        assert page.server_item("mine").text(0) == "mine — ready with 7 tools"
        assert page.tool_item("mine", "echo").checkState(0) == Qt.CheckState.Checked
        page.tree.setCurrentItem(page.server_item("mine"))
        qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
        loop.run_until_complete(wait_for(lambda: page.task.done(), 30, "the removal"))
        assert "mine" not in tomllib.loads(config.read_text()).get("mcp", {}).get("servers", {})
        assert page.server_item("mine") is None and window.controller.tools.servers is None
        window.dialog.reject()


def test_esc_during_a_running_call_stops_it_and_the_server_goes_on(
    qapp, qtbot, fake, _isolated_home
):
    from desktop_chat.mcp_servers import ServerStatus

    with_server(fake, _isolated_home)
    fake.script = [asks("call_1", "hang", "{}"), Step(pieces=["Never read."])]
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        type_and_send(qtbot, window, "Wait forever")
        approval = loop.run_until_complete(wait_for(lambda: card(window), 60, "the card"))
        qtbot.mouseClick(approval.once, Qt.MouseButton.LeftButton)
        reply = window.reply

        async def stop_while_it_runs():
            await wait_for(lambda: card(window) is None, 10, "the card to go")
            await asyncio.sleep(0.5)  # the call is under way on the server
            # Pressed with the loop running, as in the app (a key outside it would run the
            # loop's callbacks with no loop running).
            qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
            await wait_for(lambda: reply_done(window), 10, "the stop")

        loop.run_until_complete(stop_while_it_runs())
        [stopped] = reply.tools.cards
        assert stopped.state == "stopped" and len(posts(fake)) == 1
        [state] = window.controller.tools.states()
        assert state.status is ServerStatus.READY, "a stopped call leaves its server running"
