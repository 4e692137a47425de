"""MCP servers with real parts: servers written with the official SDK, started over stdio and
over Streamable HTTP on loopback, called through the real client, crashing and hanging; their
settings in config.toml, their secrets in a real Secret Service, Claude Desktop's file imported."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from mcp.client.stdio import DEFAULT_INHERITED_ENV_VARS

from desktop_chat.config import load_settings
from desktop_chat.config_writer import set_mcp_tool_list
from desktop_chat.keys import KeyStore
from desktop_chat.mcp_config import McpServerSettings
from desktop_chat.mcp_import import claude_config_path, import_servers, read_claude_servers
from desktop_chat.mcp_servers import McpServers, ServerStatus
from desktop_chat.paths import app_paths
from desktop_chat.tools import Approval, Toolbox, ToolCall
from tests.support.mcp_servers import SCRIPT, http_server, stdio_settings
from tests.support.servers import free_port

#: The loaded test machine takes seconds just to import the SDK in a fresh Python.
START = 90.0


async def allow(tool, arguments):
    return Approval.ONCE


async def call(box: Toolbox, name: str, arguments: dict | None = None):
    return await box.call(ToolCall("c1", name, json.dumps(arguments or {})), allow, 60.0)


def run(coro):
    return asyncio.run(coro)


def paths_under(folder: Path):
    paths = app_paths({"DESKTOP_CHAT_HOME": str(folder)})
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    return paths


def test_a_stdio_server_starts_lists_its_tools_and_answers_a_call():
    seen = []

    async def scenario():
        async with McpServers(
            [stdio_settings(always_allow=("echo",), disabled=("crash",))],
            start_timeout=START,
            on_change=lambda state: seen.append(state.describe()),
        ) as servers:
            box = Toolbox(servers.tools())
            assert servers.state("tester").describe() == "ready with 7 tools"
            assert "crash" not in box and "hang" in box  # switched off: never offered
            add = box.get("add")
            assert (add.server, add.label, add.always_allowed) == ("tester", "tester · add", False)
            assert box.get("echo").always_allowed
            assert add.parameters["properties"].keys() == {"a", "b"}
            assert add.description == "Add two whole numbers."
            result = await call(box, "add", {"a": 2, "b": 40})
            assert (result.is_error, result.content) == (False, "42")
            refused = await call(box, "fail", {"reason": "the disk is full"})
            assert refused.is_error and "the disk is full" in refused.content
            # A refusal is the tool's, not the server's: it still works.
            assert servers.state("tester").status is ServerStatus.READY
            return await call(box, "pid")

    pid = int(run(scenario()).content)
    assert seen[:2] == ["starting", "ready with 7 tools"] and seen[-1] == "stopped"
    with pytest.raises(ProcessLookupError):  # closed: the process is gone, and reaped
        os.kill(pid, 0)


def test_a_server_gets_only_its_own_environment_never_the_apps(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-apps-own-key-0123456789")
    monkeypatch.setenv("DESKTOP_CHAT_HOME", "/somewhere/private")

    async def scenario():
        async with McpServers(
            [stdio_settings(env={"ROOT_DIR": "/tmp/files"})], start_timeout=START
        ) as servers:
            return await call(Toolbox(servers.tools()), "environment")

    result = run(scenario())
    seen = dict(line.split("=", 1) for line in result.content.splitlines())
    assert seen["ROOT_DIR"] == "/tmp/files"
    assert "OPENAI_API_KEY" not in seen and "DESKTOP_CHAT_HOME" not in seen
    # The SDK's short list (HOME, PATH, USER, …) and what Python sets for itself at start.
    assert set(seen) <= {*DEFAULT_INHERITED_ENV_VARS, "ROOT_DIR", "LC_CTYPE"}
    assert seen["PATH"] == os.environ["PATH"]


def test_keychain_values_reach_the_server_and_never_the_file(secret_service, tmp_path):
    KeyStore().set("tester-token", "ghp_from-the-keychain-123456")
    paths = paths_under(tmp_path)
    config = paths.config_file
    config.write_text(
        "[mcp.servers.tester]\n"
        f"command = {json.dumps(sys.executable)}\n"
        f"args = [{json.dumps(str(SCRIPT))}, 'stdio']\n"
        'env = { GITHUB_TOKEN = "keychain:tester-token", MISSING = "keychain:nowhere" }\n'
    )
    loaded = load_settings(paths)
    assert loaded.errors == []
    settings = loaded.settings.mcp_servers["tester"]
    assert settings.keychain_items() == ["tester-token", "nowhere"]

    async def scenario():
        servers = McpServers([settings], start_timeout=START)
        [state] = await servers.start()
        assert state.status is ServerStatus.FAILED
        assert state.error == (
            "the Keychain has no item 'nowhere' (service \"Desktop Chat\"). "
            "Add it in Settings → Tools, then restart 'tester'."
        )
        KeyStore().set("nowhere", "found-now-0987654321")
        state = await servers.restart("tester")
        assert state.status is ServerStatus.READY
        try:
            return await call(Toolbox(servers.tools()), "environment")
        finally:
            await servers.close()

    seen = dict(line.split("=", 1) for line in run(scenario()).content.splitlines())
    assert seen["GITHUB_TOKEN"] == "ghp_from-the-keychain-123456"
    assert seen["MISSING"] == "found-now-0987654321"
    assert "ghp_" not in config.read_text()


def test_a_streamable_http_server_on_loopback_with_its_token_from_the_keychain(secret_service):
    KeyStore().set("remote-auth", "Bearer s3cret-http-token-42")
    port = free_port()
    with http_server(port, name="remote", token="s3cret-http-token-42") as url:
        good = McpServerSettings(
            "remote", url=url, headers={"Authorization": "keychain:remote-auth"}
        )
        no_token = McpServerSettings("anonymous", url=url)

        async def scenario():
            async with McpServers(
                [good, no_token, stdio_settings("local")], start_timeout=START
            ) as servers:
                states = {s.name: s for s in servers.states()}
                assert states["remote"].describe() == "ready with 7 tools"
                assert states["anonymous"].status is ServerStatus.FAILED
                assert states["anonymous"].error.startswith(
                    "the server refused the connection (HTTP 401)"
                )
                box = Toolbox(servers.tools())
                # Both ready servers offer "add": each is qualified by its server's name.
                assert {"remote_add", "local_add"} <= set(box._tools)
                assert "add" not in box
                assert box.get("remote_add").remote_name == "add"
                assert box.get("remote_add").label == "remote · add"
                return await call(box, "remote_add", {"a": 1, "b": 2})

        result = run(scenario())
    assert (result.is_error, result.content) == (False, "3")


def test_a_server_that_crashes_mid_call_is_an_error_result_and_failed_until_restarted():
    async def scenario():
        async with McpServers([stdio_settings()], start_timeout=START) as servers:
            box = Toolbox(servers.tools())
            crashed = await call(box, "crash")
            assert crashed.is_error
            assert "The MCP server 'tester' stopped during the call" in crashed.content
            state = servers.state("tester")
            assert state.status is ServerStatus.FAILED
            assert state.stderr.endswith("tester: about to die on purpose")
            assert "failed: it stopped during a call to 'crash'" in state.describe()
            after = await call(box, "add", {"a": 1, "b": 1})
            assert after.is_error and "is not running" in after.content
            assert "Restart it in Settings → Tools." in after.content
            assert (await servers.restart("tester")).status is ServerStatus.READY
            again = await call(Toolbox(servers.tools()), "add", {"a": 1, "b": 1})
            assert (again.is_error, again.content) == (False, "2")

    run(scenario())


def test_a_server_that_never_answers_times_out_and_is_stopped_not_waited_for():
    async def scenario():
        async with McpServers([stdio_settings(timeout=2)], start_timeout=START) as servers:
            box = Toolbox(servers.tools())
            pid = int((await call(box, "pid")).content)
            started = time.monotonic()
            hung = await call(box, "hang")
            took = time.monotonic() - started
            assert hung.is_error and "did not answer within 2 seconds" in hung.content
            assert took < 10
            assert servers.state("tester").status is ServerStatus.FAILED
            for _ in range(100):  # the stop runs in the server's own task
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                await asyncio.sleep(0.1)
            raise AssertionError("the hung server's process was not stopped")

    run(scenario())


def test_servers_that_cannot_start_are_reported_with_their_reason_and_output(tmp_path):
    silent = tmp_path / "silent.py"
    silent.write_text(
        "import sys, time\nprint('loading plugins…', file=sys.stderr, flush=True)\ntime.sleep(60)\n"
    )
    broken = tmp_path / "broken.py"  # a server whose own code fails as it starts
    broken.write_text(
        "import sys\nprint('ModuleNotFoundError: No module named fastmcp', file=sys.stderr)\nsys.exit(1)\n"
    )
    missing = McpServerSettings("missing", command="/no/such/program-for-mcp")
    mute = McpServerSettings("mute", command=sys.executable, args=(str(silent),))
    exits = McpServerSettings("exits", command=sys.executable, args=(str(broken),))

    async def scenario():
        servers = McpServers([missing, mute, exits], start_timeout=3)
        started = time.monotonic()
        states = {s.name: s for s in await servers.start()}
        assert time.monotonic() - started < 20
        await servers.close()
        return states

    states = run(scenario())
    assert states["missing"].status is ServerStatus.FAILED
    assert "/no/such/program-for-mcp" in states["missing"].error
    assert states["mute"].error == "it did not finish starting within 3 seconds."
    assert states["mute"].stderr == "loading plugins…"
    assert states["mute"].describe() == (
        "failed: it did not finish starting within 3 seconds. Its last output: loading plugins…"
    )
    assert states["exits"].describe() == (
        "failed: it exited as it started. Its last output: ModuleNotFoundError: No module named "
        "fastmcp"
    ), "said in words, not as the SDK's MCPError: Connection closed"


def test_mcp_servers_in_config_toml_and_their_mistakes_by_line(tmp_path):
    paths = paths_under(tmp_path)
    paths.config_file.write_text(
        "[mcp.servers.files]\n"
        'command = "npx"\n'
        'args = ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]\n'
        'always_allow = ["read_file"]\n'
        "timeout = 20\n"
        "\n"
        "[mcp.servers.remote]\n"
        'url = "https://mcp.example.com/mcp"\n'
        'headers = { Authorization = "keychain:remote" }\n'
        "\n"
        "[mcp.servers.both]\n"
        'command = "x"\n'
        'url = "https://x.example.com"\n'
        "\n"
        "[mcp.servers.bad-args]\n"
        'command = "x"\n'
        'args = "--one"\n'
    )
    loaded = load_settings(paths)
    servers = loaded.settings.mcp_servers
    assert set(servers) == {"files", "remote"}
    files = servers["files"]
    assert (files.command, files.args[-1], files.always_allow, files.timeout) == (
        "npx",
        "/tmp",
        ("read_file",),
        20.0,
    )
    assert servers["remote"].transport == "http"
    assert servers["remote"].headers == {"Authorization": "keychain:remote"}
    messages = [str(e) for e in loaded.errors]
    assert any("line 11: 'mcp.servers.both' needs either command" in m for m in messages), messages
    assert any("line 17: 'mcp.servers.bad-args.args' must be a list" in m for m in messages), (
        messages
    )


def test_always_allow_remembered_in_config_toml_and_revoked(tmp_path):
    paths = paths_under(tmp_path)
    paths.config_file.write_text("# my servers\n[mcp.servers.files]\ncommand = 'npx'\n")
    set_mcp_tool_list(paths.config_file, "files", "always_allow", "read_file", True)
    assert load_settings(paths).settings.mcp_servers["files"].always_allow == ("read_file",)
    set_mcp_tool_list(paths.config_file, "files", "always_allow", "read_file", False)
    assert load_settings(paths).settings.mcp_servers["files"].always_allow == ()
    assert paths.config_file.read_text().startswith("# my servers\n")


def test_claude_desktops_servers_are_offered_and_imported_with_tokens_in_the_keychain(
    secret_service, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    claude = home / "Library/Application Support/Claude/claude_desktop_config.json"
    assert claude_config_path() == claude
    assert read_claude_servers() == []  # no Claude Desktop here: nothing to offer
    claude.parent.mkdir(parents=True)
    claude.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "github": {
                        "command": "npx",
                        "args": ["-y", "@modelcontextprotocol/server-github"],
                        "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_claude-token-abcdef123456"},
                    },
                    "files": {"command": "npx", "args": ["server-filesystem", "/Users/me"]},
                    "broken": {"args": ["no command"]},
                },
                "globalShortcut": "",
            }
        )
    )
    offered = read_claude_servers()
    assert [s.settings.name for s in offered] == ["github", "files"]
    github = offered[0]
    assert github.secrets == ("GITHUB_PERSONAL_ACCESS_TOKEN",)
    paths = paths_under(tmp_path / "app")
    paths.config_file.write_text("[mcp.servers.files]\ncommand = 'my-own-files-server'\n")
    assert not load_settings(paths).errors

    written = import_servers(paths.config_file, offered, existing=["files"])

    assert written == ["github"]  # the user's own "files" is left as it was
    text = paths.config_file.read_text()
    assert "ghp_" not in text
    loaded = load_settings(paths)
    assert loaded.errors == []
    imported = loaded.settings.mcp_servers["github"]
    assert imported.env == {
        "GITHUB_PERSONAL_ACCESS_TOKEN": "keychain:mcp-github/GITHUB_PERSONAL_ACCESS_TOKEN"
    }
    assert imported.args == ("-y", "@modelcontextprotocol/server-github")
    assert (
        KeyStore().get("mcp-github/GITHUB_PERSONAL_ACCESS_TOKEN") == "ghp_claude-token-abcdef123456"
    )
    assert loaded.settings.mcp_servers["files"].command == "my-own-files-server"


def test_a_claude_file_that_is_not_json_is_said_and_nothing_imported(tmp_path):
    bad = tmp_path / "claude_desktop_config.json"
    bad.write_text('{"mcpServers": {')
    from desktop_chat.errors import ConfigError

    with pytest.raises(ConfigError, match="is not valid JSON") as caught:
        read_claude_servers(bad)
    assert "Nothing was imported." in str(caught.value)
    assert Path(caught.value.path) == bad


def test_stop_during_a_call_cancels_it_and_the_server_goes_on_answering():
    async def scenario():
        async with McpServers([stdio_settings(timeout=60)], start_timeout=START) as servers:
            box = Toolbox(servers.tools())
            running = asyncio.create_task(call(box, "hang"))
            await asyncio.sleep(1.0)
            stopped = time.monotonic()
            running.cancel()  # what Stop does to the turn's task
            with pytest.raises(asyncio.CancelledError):
                await running
            assert time.monotonic() - stopped < 5
            assert servers.state("tester").status is ServerStatus.READY
            return await call(box, "echo", {"text": "still here"})

    after = run(scenario())
    assert (after.is_error, after.content) == (False, "still here")


def test_a_server_that_dies_while_idle_is_said_to_have_failed_without_a_call():
    changes: list = []

    async def scenario():
        servers = McpServers(
            [stdio_settings()], start_timeout=START, ping_interval=0.3, on_change=changes.append
        )
        await servers.start()
        pid = int((await call(Toolbox(servers.tools()), "pid")).content)
        os.kill(pid, signal.SIGKILL)  # killed from outside, between two calls
        for _ in range(100):
            if servers.state("tester").status is ServerStatus.FAILED:
                break
            await asyncio.sleep(0.1)
        await servers.close()
        return servers.state("tester")

    state = run(scenario())
    assert state.status is ServerStatus.FAILED
    assert state.error == "it exited while idle."
    assert [c.status for c in changes][-1] is ServerStatus.FAILED


def test_a_tool_listed_without_properties_is_offered_with_an_empty_object_schema():
    """OpenAI refuses {"type": "object"} alone; some servers list a tool without arguments so."""
    from mcp import types

    servers = McpServers([stdio_settings()])
    listed = types.Tool(name="now", description="The time.", input_schema={"type": "object"})
    tool = servers._tool(servers._servers["tester"], listed, "now")
    assert tool.parameters == {"type": "object", "properties": {}}
    assert tool.to_api()["function"]["description"] == "The time."


def test_the_default_files_mcp_example_uncommented_is_read_without_a_mistake(tmp_path):
    from desktop_chat.config import default_config_text

    text = default_config_text()
    block = text[text.index("# [mcp.servers.files]") :]
    paths = paths_under(tmp_path)
    paths.config_file.write_text("\n".join(line[2:] for line in block.splitlines()) + "\n")
    loaded = load_settings(paths)
    assert loaded.errors == []
    servers = loaded.settings.mcp_servers
    assert set(servers) == {"files", "github", "remote"}
    assert servers["github"].keychain_items() == ["github-token"]
    assert servers["remote"].transport == "http"


def test_servers_added_changed_and_removed_in_settings_while_the_app_runs():
    async def pid_of(servers):
        return int((await call(Toolbox(servers.tools()), "pid")).content)

    async def scenario():
        servers = McpServers([], start_timeout=START)
        state = await servers.add(stdio_settings())
        assert state.describe() == "ready with 7 tools"
        first = await pid_of(servers)
        # A tool switched off, another always allowed: at once, the same process.
        await servers.update(stdio_settings(disabled=("hang",), always_allow=("echo",)))
        box = Toolbox(servers.tools())
        assert "hang" not in box and box.get("echo").always_allowed
        assert await pid_of(servers) == first
        # Its environment changed: it is started again to take it.
        state = await servers.update(stdio_settings(env={"MODE": "new"}))
        assert state.status is ServerStatus.READY
        second = await pid_of(servers)
        assert second != first
        await servers.remove("tester")
        assert servers.names() == []
        return first, second

    for pid in run(scenario()):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_url_where_nothing_listens_is_said_as_such():
    url = f"http://127.0.0.1:{free_port()}/mcp"

    async def scenario():
        servers = McpServers([McpServerSettings("down", url=url)], start_timeout=START)
        [state] = await servers.start()
        await servers.close()
        return state

    state = run(scenario())
    assert state.status is ServerStatus.FAILED
    assert state.error.startswith(f"nothing answered at {url} (ConnectError: ")
    assert state.error.endswith("check the address and that the server is running.")


def test_a_server_saved_again_keeps_the_users_comments_and_keys_in_its_table(tmp_path):
    """Settings → Tools → Edit… changes what changed: the comments, the order and a key the
    app does not know stay as the user wrote them."""
    from desktop_chat.config_writer import save_mcp_server

    paths = paths_under(tmp_path)
    config = paths.config_file
    config.write_text(
        "# my servers\n"
        "[mcp.servers.notes]\n"
        "# the notes folder on the other disk\n"
        'command = "npx"\n'
        'args = ["-y", "@modelcontextprotocol/server-filesystem", "/Volumes/Notes"]\n'
        'env = { LOG_LEVEL = "debug" }  # louder while I try it\n'
        "mine = 1\n"
    )
    settings = load_settings(paths).settings.mcp_servers["notes"]
    save_mcp_server(config, replace(settings, env={"LOG_LEVEL": "info"}, always_allow=("read",)))
    text = config.read_text()
    assert "# my servers" in text and "# the notes folder on the other disk" in text
    assert "mine = 1" in text, "a key of the user's own stays"
    assert text.index("command") < text.index("args") < text.index("env"), "the order stays"
    again = load_settings(paths).settings.mcp_servers["notes"]
    assert again.env == {"LOG_LEVEL": "info"} and again.always_allow == ("read",)
    assert again.args == settings.args
