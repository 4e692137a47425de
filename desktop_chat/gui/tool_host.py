"""The window's MCP servers and the tools its replies may call, each call asked of the user.

``ToolHost`` owns the ``McpServers`` made from config.toml (started with the first message, or
at launch with ``[app] mcp_at_launch``; stopped on quit), builds each turn's ``Toolbox`` and is
its ``approve``: a call waits on an ``ApprovalRequest`` the conversation shows as a card, until
the user clicks (or Stop cancels it). What the user switched off or always allows is read from
the settings on every turn, not when a server started, so Settings → Tools changes apply to the
next reply without restarting anything; "Always allow" and its revoke are written to
config.toml (``[mcp.servers.NAME] always_allow``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from desktop_chat.errors import DesktopChatError

if TYPE_CHECKING:
    from desktop_chat.config import Settings
    from desktop_chat.mcp_config import McpServerSettings
    from desktop_chat.mcp_servers import McpServers, ServerState
    from desktop_chat.tools import Approval, Tool, Toolbox

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ApprovalRequest:
    """One call waiting for the user: the tool, its parsed arguments, and the answer to come."""

    tool: Tool
    arguments: dict[str, Any]
    future: asyncio.Future = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def answer(self, approval: Approval) -> None:
        if not self.future.done():
            self.future.set_result(approval)


def _launch(settings: McpServerSettings) -> McpServerSettings:
    """What starting a server depends on: its lists are the host's to apply, not the server's."""
    return dataclasses.replace(settings, always_allow=(), disabled=())


class ToolHost(QObject):
    #: A server's state changed (Settings → Tools shows it).
    state_changed = Signal(object)  # mcp_servers.ServerState
    #: A call waits for the user's answer (the conversation shows a card).
    approval_requested = Signal(object)  # ApprovalRequest
    notice = Signal(str, str)  # message, hint

    def __init__(self, config_file: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config_file = config_file
        self.servers: McpServers | None = None
        #: The servers as config.toml has them now (lists included).
        self.configured: dict[str, McpServerSettings] = {}
        self.pending: ApprovalRequest | None = None
        self._closing: list[asyncio.Task] = []
        #: Whether the servers were started (first use, or launch) since they were made.
        self._started = False

    # --- servers -------------------------------------------------------------------------

    def configure(self, settings: Settings) -> None:
        """Settings read (at start, after a change): a server whose command, URL or
        environment changed is made afresh (the old ones stopped); its lists just apply."""
        wanted = dict(settings.mcp_servers)
        old = {name: _launch(s) for name, s in self.configured.items()}
        self.configured = wanted
        if self.servers is not None and old == {n: _launch(s) for n, s in wanted.items()}:
            return
        if self.servers is not None:
            stale, self.servers = self.servers, None
            self._closing.append(asyncio.ensure_future(stale.close()))
        if wanted:
            from desktop_chat.mcp_servers import McpServers

            self.servers = McpServers(
                [_launch(s) for s in wanted.values()], on_change=self.state_changed.emit
            )
            self._started = False

    async def start(self) -> None:
        """Start the servers (the first time), or wait for those still starting. A server that
        failed stays so until the user restarts it: a broken one must not delay every reply."""
        servers = self.servers
        if servers is None:
            return
        if not self._started:
            self._started = True
            await servers.start()
            return
        from desktop_chat.mcp_servers import ServerStatus

        starting = [s.name for s in servers.states() if s.status is ServerStatus.STARTING]
        if starting:
            await servers.start(starting)

    async def restart(self, name: str) -> None:
        if self.servers is not None:
            await self.servers.restart(name)

    def states(self) -> list[ServerState]:
        return self.servers.states() if self.servers is not None else []

    async def aclose(self) -> None:
        """Stop every server (quitting): a call waiting for the user is denied first."""
        if self.pending is not None:
            self.pending.future.cancel()
        servers, self.servers = self.servers, None
        closing, self._closing = self._closing, []
        if servers is not None:
            closing.append(asyncio.ensure_future(servers.close()))
        await asyncio.gather(*closing, return_exceptions=True)

    # --- a turn's tools ------------------------------------------------------------------

    def tools(self) -> list[Tool]:
        """The ready servers' tools, less those switched off, marked as always allowed or not
        by config.toml as it is now."""
        if self.servers is None:
            return []
        chosen = []
        for tool in self.servers.tools():
            settings = self.configured.get(tool.server or "")
            own = tool.remote_name or tool.name
            if settings is None or own in settings.disabled:
                continue
            chosen.append(dataclasses.replace(tool, always_allowed=own in settings.always_allow))
        return chosen

    async def toolbox(self) -> Toolbox | None:
        """A turn's tools: the servers started on first use. None when there are none."""
        if self.servers is None:
            return None
        await self.start()
        tools = self.tools()
        if not tools:
            return None
        from desktop_chat.tools import Toolbox

        return Toolbox(tools, on_always=self.remember)

    async def approve(self, tool: Tool, arguments: dict[str, Any]) -> Approval:
        """Ask the user (a card in the conversation) and wait; Stop cancels the wait."""
        request = ApprovalRequest(tool, arguments)
        self.pending = request
        try:
            self.approval_requested.emit(request)
            return await request.future
        finally:
            if not request.future.done():
                request.future.cancel()  # the card sees it and goes
            if self.pending is request:
                self.pending = None

    # --- always allow --------------------------------------------------------------------

    def remember(self, tool: Tool) -> None:
        """The user chose "Always allow this tool": kept in config.toml for that server."""
        if tool.server is not None:
            self.set_always(tool.server, tool.remote_name or tool.name, True)

    def set_always(self, server: str, tool: str, allowed: bool) -> bool:
        return self._set_list(server, "always_allow", tool, allowed)

    def set_enabled(self, server: str, tool: str, enabled: bool) -> bool:
        return self._set_list(server, "disabled", tool, not enabled)

    def _set_list(self, server: str, key: str, tool: str, present: bool) -> bool:
        """Write one tool's place in a server's list; said in a notice when it cannot be."""
        from desktop_chat.config_writer import set_mcp_tool_list

        try:
            set_mcp_tool_list(self.config_file, server, key, tool, present)
        except (DesktopChatError, OSError) as exc:
            log.warning("could not write %s of %s: %s", key, server, exc)
            message = getattr(exc, "message", None) or str(exc)
            self.notice.emit(
                f"The setting for '{tool}' could not be saved: {message}",
                getattr(exc, "hint", "") or "Check that config.toml can be written.",
            )
            return False
        settings = self.configured.get(server)
        if settings is not None:
            names = [n for n in getattr(settings, key) if n != tool] + ([tool] if present else [])
            self.configured[server] = dataclasses.replace(settings, **{key: tuple(names)})
        return True


def call_rows(calls: tuple, toolbox: Toolbox | None) -> list[dict[str, Any]]:
    """A round's calls (``tools.ToolCall``) as a reply keeps them, with their server."""
    rows = []
    for call in calls:
        tool = toolbox.get(call.name) if toolbox is not None else None
        row = {"id": call.id, "name": call.name, "arguments": call.arguments}
        if tool is not None:
            row["name"] = tool.remote_name or tool.name
            if tool.server is not None:
                row["server"] = tool.server
        rows.append(row)
    return rows


def result_row(result: Any) -> dict[str, Any]:
    """A call's result (``tools.ToolResult``) as a reply keeps it."""
    return {
        "call_id": result.call_id,
        "name": result.name,
        "content": result.content,
        "is_error": result.is_error,
        "seconds": result.seconds,
    }
