"""The Python API's tools: the caller's functions and MCP servers, and who approves each call.

``LLMChat(tools=[...], mcp_servers=[...], approve=...)`` hands its arguments here. Functions
become tools at once (a function that cannot be one is said at construction); servers are
named from config.toml's ``[mcp.servers.NAME]`` or given as dicts of the same keys, and start
with the first request, on the chat's loop. Without ``approve``, the caller's own functions run
and nothing else is allowed, so MCP servers need ``approve=`` (said at construction).
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from desktop_chat.errors import ConfigError
from desktop_chat.mcp_config import McpServerSettings, parse_servers
from desktop_chat.mcp_servers import McpServerError, McpServers, ServerStatus
from desktop_chat.tools import Approval, Approve, Tool, Toolbox, ToolError, function_tool

#: What ``approve=`` may be: sync or async, answering an ``Approval`` or True (once) / False.
ApproveCallback = Callable[[Tool, dict[str, Any]], Any]


class McpServerWarning(UserWarning):
    """An MCP server the chat was given could not start: its tools are not offered."""


class ChatTools:
    """One chat's tools: built once, MCP servers started on first use, closed with the chat."""

    def __init__(
        self,
        tools: Iterable[Callable[..., Any] | Tool] | None = None,
        mcp_servers: Iterable[str | dict[str, Any] | McpServerSettings] | None = None,
        approve: ApproveCallback | None = None,
        *,
        configured: Callable[[], dict[str, McpServerSettings]] | None = None,
    ) -> None:
        own = [t if isinstance(t, Tool) else function_tool(t) for t in tools or ()]
        Toolbox(own)  # two tools of one name: said now
        self.own = own
        servers = list(mcp_servers or ())
        if servers and approve is None:
            raise ToolError(
                "MCP servers' tools need approve=: nothing from a server runs unasked.",
                "Pass approve=a function (tool, arguments) returning Approval.ONCE, "
                "Approval.ALWAYS or Approval.DENY (or True/False); it may ask the user.",
            )
        self.settings = _server_settings(servers, configured or _configured)
        self.approve: Approve = _approver(approve)
        self.servers = McpServers(self.settings) if self.settings else None
        self._toolbox: Toolbox | None = None
        self._lock: asyncio.Lock | None = None

    def __bool__(self) -> bool:
        return bool(self.own or self.settings)

    async def toolbox(self) -> Toolbox:
        """The tools to offer; the first call starts the servers (a failed one is warned of)."""
        if self._toolbox is not None:
            return self._toolbox
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._toolbox is None:
                served: list[Tool] = []
                if self.servers is not None:
                    for state in await self.servers.start():
                        if state.status is ServerStatus.FAILED:
                            warnings.warn(
                                f"The MCP server '{state.name}' {state.describe()}",
                                McpServerWarning,
                                stacklevel=2,
                            )
                    served = self.servers.tools(reserved=[t.name for t in self.own])
                self._toolbox = Toolbox([*self.own, *served])
        return self._toolbox

    async def aclose(self) -> None:
        if self.servers is not None:
            await self.servers.close()
        self._toolbox = None


def _configured() -> dict[str, McpServerSettings]:
    from desktop_chat.config import load_settings
    from desktop_chat.paths import app_paths

    return load_settings(app_paths(), write_default=False).settings.mcp_servers


def _server_settings(
    given: list[str | dict[str, Any] | McpServerSettings],
    configured: Callable[[], dict[str, McpServerSettings]],
) -> list[McpServerSettings]:
    found: list[McpServerSettings] = []
    known: dict[str, McpServerSettings] | None = None
    for item in given:
        if isinstance(item, McpServerSettings):
            found.append(item)
        elif isinstance(item, str):
            known = configured() if known is None else known
            if item not in known:
                raise McpServerError(
                    f"There is no MCP server named '{item}' in config.toml.",
                    f"Known ones: {', '.join(known) or 'none'}; add [mcp.servers.{item}], or "
                    "pass a dict with name and command (or url).",
                )
            found.append(known[item])
        elif isinstance(item, dict):
            found.append(_from_dict(item))
        else:
            raise TypeError(f"mcp_servers= takes names, dicts or McpServerSettings, not {item!r}")
    names = [s.name for s in found]
    if len(set(names)) != len(names):
        raise McpServerError("Two MCP servers have the same name.", "Give each its own name.")
    return found


def _from_dict(item: dict[str, Any]) -> McpServerSettings:
    """``{"name": ..., "command": ..., "args": [...], "env": {...}}`` (or ``url``), checked as
    config.toml's tables are."""
    rest = dict(item)
    name = rest.pop("name", None)
    if not isinstance(name, str):
        raise McpServerError(
            f"The MCP server {item!r} has no name.", 'Add "name": "files" (any short name).'
        )
    errors: list[ConfigError] = []

    def error(message: str, table: tuple[str, ...], key: str | None, hint: str = "") -> ConfigError:
        where = [*table[2:], *([key] if key else [])]  # table is ("mcp", "servers", name)
        return ConfigError(
            message,
            path="mcp_servers=",
            key=".".join(where) or None,
            hint=hint or "Fix the dict and try again.",
        )

    parsed = parse_servers({"servers": {name: rest}}, error, errors)
    if errors:
        raise errors[0]
    return parsed[name]


def _approver(approve: ApproveCallback | None) -> Approve:
    if approve is None:

        async def own_functions_only(tool: Tool, arguments: dict[str, Any]) -> Approval:
            # The caller passed these functions: running them is what they asked for.
            return Approval.ONCE if tool.server is None else Approval.DENY

        return own_functions_only

    takes_await = inspect.iscoroutinefunction(approve) or inspect.iscoroutinefunction(
        getattr(approve, "__call__", None)  # noqa: B004 - an object with an async __call__
    )

    async def asking(tool: Tool, arguments: dict[str, Any]) -> Approval:
        if takes_await:
            answer = await approve(tool, arguments)
        else:  # a blocking prompt (input()) must not hold the loop other chats share
            answer = await asyncio.to_thread(approve, tool, arguments)
            if inspect.isawaitable(answer):
                answer = await answer
        return _as_approval(answer)

    return asking


def _as_approval(answer: Any) -> Approval:
    if isinstance(answer, Approval):
        return answer
    if isinstance(answer, bool):
        return Approval.ONCE if answer else Approval.DENY
    raise ToolError(
        f"approve= answered {answer!r}.",
        "Return Approval.ONCE, Approval.ALWAYS or Approval.DENY (or True / False).",
    )
