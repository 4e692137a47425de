"""Tools in the terminal chat: the MCP servers of config.toml, started with the chat and
stopped when it ends, and a prompt before each call (y: allow once, a: always allow this tool,
n or Enter: deny; Ctrl+C stops the reply). "Always" is remembered in config.toml, per server and
tool, as the window does.

The answer is read without blocking the loop (the servers' own tasks run on it), and so that
Ctrl+C while the prompt waits stops the reply instead of leaving a reader behind that would
swallow the next line typed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktop_chat.tools import DENIED, Approval, Tool, Toolbox

#: What each answer at the prompt means; anything else (Enter too) denies.
ANSWERS = {
    "y": Approval.ONCE,
    "yes": Approval.ONCE,
    "a": Approval.ALWAYS,
    "always": Approval.ALWAYS,
}
#: The most of a result's text printed under its call (the model reads all of it).
SHOWN_CHARS = 300


class TerminalTools:
    """The chat's tools: the MCP servers (``servers``, None when config.toml has none) and
    any tools a caller adds (``extra``), offered together through ``toolbox``."""

    def __init__(
        self,
        settings: Any,
        config_path: Path | None,
        out: Callable[[str], None],
        *,
        extra: list[Tool] | None = None,
    ) -> None:
        self.out = out
        self.config_path = config_path
        self.extra = list(extra or ())
        configured = list(getattr(settings, "mcp_servers", {}).values())
        self.servers: Any = None
        if configured:
            from desktop_chat.mcp_servers import McpServers

            self.servers = McpServers(configured)
        self.toolbox = Toolbox(self.extra, on_always=self._remember)

    async def start(self) -> None:
        """Start the servers, say each one that failed, and offer what is ready."""
        if self.servers is None:
            return
        for state in await self.servers.start():
            if state.status.value == "failed":
                self.out(f"Warning: the MCP server '{state.name}' {state.describe()}")
        self.refresh()

    def refresh(self) -> None:
        """Offer the ready servers' tools (after a start or a restart), beside ``extra``."""
        tools = self.extra + (
            self.servers.tools(reserved=[t.name for t in self.extra]) if self.servers else []
        )
        self.toolbox = Toolbox(tools, on_always=self._remember)

    async def close(self) -> None:
        if self.servers is not None:
            await self.servers.close()

    def lines(self) -> list[str]:
        """What ``/tools`` shows: each server's state, then each tool offered."""
        lines = []
        if self.servers is not None:
            lines += [f"MCP server {s.name}: {s.describe()}" for s in self.servers.states()]
        for tool in self.toolbox:
            ask = " (always allowed)" if tool.always_allowed else ""
            summary = tool.description.strip().splitlines()[0] if tool.description else ""
            lines.append(f"  {tool.label}{ask}: {summary}")
        if not len(self.toolbox):
            lines.append(
                "No tools are offered. Add MCP servers as [mcp.servers.NAME] in config.toml "
                "(command and args, or url)."
            )
        return lines

    # --- approval -------------------------------------------------------------------------

    async def approve(self, tool: Tool, arguments: dict[str, Any]) -> Approval:
        shown = json.dumps(arguments, indent=2, ensure_ascii=False) if arguments else "{}"
        self.out(f"\n[tool call] {tool.label}\n{shown}")
        answer = await read_line("Allow? y = once, a = always for this tool, n = deny [y/a/N] ")
        choice = ANSWERS.get(answer.strip().lower(), Approval.DENY)
        if choice is Approval.DENY:
            self.out(f"[denied: {tool.label} was not called; the model is told so]")
        return choice

    def _remember(self, tool: Tool) -> None:
        """An "always" answer: kept in config.toml for an MCP server's tool."""
        if tool.server is None or self.config_path is None:
            self.out(f"[{tool.label} is allowed without asking until the chat ends]")
            return
        from desktop_chat.config_writer import set_mcp_tool_list
        from desktop_chat.errors import DesktopChatError

        own = tool.remote_name or tool.name
        try:
            set_mcp_tool_list(self.config_path, tool.server, "always_allow", own, True)
        except (DesktopChatError, OSError) as err:
            self.out(f"[{tool.label} is allowed until the chat ends; not remembered: {err}]")
            return
        self.out(
            f"[{tool.label} is always allowed from now on: remembered in {self.config_path} "
            f"(take '{own}' out of [mcp.servers.{tool.server}] always_allow to be asked again)]"
        )


def result_line(result: Any) -> str:
    """One call's result, short, under its card: what the tool answered, or why it failed
    ("" for a call the user denied: the question's answer already said so)."""
    if result.is_error and result.content == DENIED:
        return ""
    text = " ".join(result.content.split())
    if len(text) > SHOWN_CHARS:
        text = text[: SHOWN_CHARS - 1] + "…"
    verb = "failed" if result.is_error else "answered"
    return f"[{result.name} {verb} in {result.seconds:.2f} s: {text}]"


async def read_line(prompt: str) -> str:
    """A line from the terminal, awaited: the loop keeps running (the MCP servers' tasks),
    and a cancel (Ctrl+C) leaves nothing reading stdin. Not a terminal (a pipe): read at once;
    its end is an empty answer."""
    sys.stdout.write(prompt)
    sys.stdout.flush()
    stdin = sys.stdin
    if not stdin.isatty() or sys.platform == "win32":
        return stdin.readline()
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = stdin.fileno()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    return stdin.readline()
