"""MCP servers on the app's asyncio loop: started, listed as ``Tool``s, called, restarted, stopped.

Each server lives in one task of its own, which enters the SDK's transport and ``ClientSession``
and leaves them again (anyio's cancel scopes must be left by the task that entered them); calls
from any task go through that session. A server gets only the environment configured for it,
over the SDK's own short list (``mcp.client.stdio.get_default_environment``: HOME, PATH, USER,
…), never the app's; its ``keychain:`` values are read when it starts and kept in memory only.

A server that cannot start, crashes, or does not answer a call within its ``timeout`` is stopped
and said to have failed, with the last lines of its stderr; a call then returns an error result,
never a hang. ``restart`` tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from desktop_chat.errors import DesktopChatError, KeyringUnavailable
from desktop_chat.mcp_config import KEYCHAIN_PREFIX, McpServerSettings
from desktop_chat.redact import redact, remember
from desktop_chat.tools import Tool, ToolError

log = logging.getLogger(__name__)

#: Seconds a server may take to start and list its tools.
START_TIMEOUT_S = 30.0
#: Seconds a server is given to stop before its task is cancelled.
STOP_TIMEOUT_S = 5.0
STDERR_LINES = 8
#: Seconds between pings to a ready server (one that died while idle is noticed this soon).
PING_INTERVAL_S = 15.0
_API_NAME = re.compile(r"[^A-Za-z0-9_-]")
SERVER_FIELDS = tuple(f.name for f in fields(McpServerSettings))


class ServerStatus(enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ServerState:
    name: str
    status: ServerStatus
    tools: int = 0
    #: Why it failed: one sentence.
    error: str = ""
    #: The last lines the server wrote to stderr (stdio servers), for a failed one.
    stderr: str = ""

    def describe(self) -> str:
        """One line for Settings → Tools and ``/tools``."""
        match self.status:
            case ServerStatus.READY:
                return f"ready with {self.tools} tool{'s' if self.tools != 1 else ''}"
            case ServerStatus.FAILED:
                tail = f" Its last output: {self.stderr}" if self.stderr else ""
                return f"failed: {self.error}{tail}"
            case status:
                return status.value


class McpServerError(DesktopChatError):
    """A server that cannot be used now; the message names it and says what to do."""


class _Server:
    """One server's task, session, tools and state."""

    def __init__(self, settings: McpServerSettings, manager: McpServers) -> None:
        self.settings = settings
        self.manager = manager
        self.state = ServerState(settings.name, ServerStatus.STOPPED)
        self.session: Any = None
        self.listed: list[Any] = []  # the SDK's Tool objects
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.stop_now = asyncio.Event()
        self.stderr: Any = None
        self.http_status: int | None = None

    @property
    def name(self) -> str:
        return self.settings.name

    def set_state(self, status: ServerStatus, error: str = "") -> None:
        self.state = ServerState(
            self.name,
            status,
            tools=len(self.listed) if status is ServerStatus.READY else 0,
            error=redact(error),
            stderr=redact(self.stderr_tail()) if status is ServerStatus.FAILED else "",
        )
        if self.manager.on_change is not None:
            self.manager.on_change(self.state)

    def stderr_tail(self) -> str:
        if self.stderr is None:
            return ""
        try:
            fd = self.stderr.fileno()
            size = os.fstat(fd).st_size
            data = os.pread(fd, 8192, max(0, size - 8192))
        except (OSError, ValueError):
            return ""
        lines = data.decode("utf-8", "replace").splitlines()
        return "\n".join(line for line in lines[-STDERR_LINES:] if line.strip())

    def start(self) -> None:
        self.http_status = None
        self.ready = asyncio.Event()
        self.stop_now = asyncio.Event()
        self.listed = []
        self.set_state(ServerStatus.STARTING)
        self.task = asyncio.create_task(self._run(), name=f"mcp server {self.name}")

    async def _run(self) -> None:
        if not self.settings.url:
            # A real file, handed to the child as its stderr (read back with pread, which
            # leaves the offset the child writes at alone); kept until the failure is told.
            self.stderr = tempfile.TemporaryFile("w+b")  # noqa: SIM115
        try:
            values = await self.manager.resolve_secrets(self.settings)
            async with contextlib.AsyncExitStack() as stack:
                session = await self._open(values, stack)
                async with asyncio.timeout(self.manager.start_timeout):
                    await session.initialize()
                    self.listed = await _list_tools(session)
                self.session = session
                self.set_state(ServerStatus.READY)
                self.ready.set()
                await self._watch(session)
                self.session = None
            if self.state.status is not ServerStatus.FAILED:
                self.set_state(ServerStatus.STOPPED)
        except asyncio.CancelledError:
            self.session = None
            if self.state.status is not ServerStatus.FAILED:
                self.set_state(ServerStatus.STOPPED)
            raise
        except BaseException as exc:  # the SDK raises exception groups from its task groups
            self._failed(self._start_failure(exc))
        finally:
            self.session = None
            if self.stderr is not None:
                self.stderr.close()
                self.stderr = None
            self.ready.set()

    async def _watch(self, session: Any) -> None:
        """Until asked to stop: a ping now and then, so a server that died while idle is said
        to have failed in Settings, not only at the next call."""
        from mcp.shared.exceptions import MCPError

        while not self.stop_now.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.manager.ping_interval):
                    await self.stop_now.wait()
            if self.stop_now.is_set():
                return
            try:
                async with asyncio.timeout(self.settings.timeout):
                    await session.send_ping()
            except TimeoutError:
                self._failed(
                    f"it stopped answering (no answer within {self.settings.timeout:g} seconds)."
                )
                return
            except MCPError as exc:
                if self.state.status is ServerStatus.READY and _closed(exc):
                    self._failed("it exited while idle.")
                    return

    def _start_failure(self, exc: BaseException) -> str:
        leaf = _leaf(exc)
        if isinstance(leaf, TimeoutError):
            return f"it did not finish starting within {self.manager.start_timeout:g} seconds."
        if self.settings.url and _unreachable(leaf):
            return (
                f"nothing answered at {self.settings.url} ({_reason(leaf)}): check the address "
                "and that the server is running."
            )
        if self.http_status in (401, 403):
            return (
                f"the server refused the connection (HTTP {self.http_status}): check its "
                "headers (Settings → Tools → Edit…) and the token in the Keychain."
            )
        if self.http_status is not None:
            return f"the server answered HTTP {self.http_status} ({_reason(leaf)})."
        from mcp.shared.exceptions import MCPError

        if isinstance(leaf, MCPError) and _closed(leaf):  # its output says why, if anything
            if self.settings.url:
                return "the server closed the connection as it started."
            return "it exited as it started."
        return _reason(leaf)

    def _failed(self, why: str) -> None:
        self.session = None
        if self.state.status is not ServerStatus.FAILED:
            self.set_state(ServerStatus.FAILED, why)

    async def _open(self, values: dict[str, dict[str, str]], stack: contextlib.AsyncExitStack):
        """The SDK's ClientSession over this server's transport, entered on ``stack``."""
        from mcp import ClientSession

        settings = self.settings
        if settings.url:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            client = await stack.enter_async_context(
                create_mcp_http_client(headers=values["headers"] or None)
            )

            async def note_refusal(response) -> None:
                # The SDK's error keeps no HTTP status; a 401 is worth saying as one.
                if response.status_code >= 400:
                    self.http_status = response.status_code

            client.event_hooks["response"].append(note_refusal)
            transport = streamable_http_client(settings.url, http_client=client)
        else:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(
                command=settings.command or "",
                args=list(settings.args),
                env=values["env"],
                cwd=settings.cwd,
            )
            transport = stdio_client(params, errlog=self.stderr)
        read, write = await stack.enter_async_context(transport)
        return await stack.enter_async_context(ClientSession(read, write))

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        session = self.session
        if session is None or self.state.status is not ServerStatus.READY:
            raise McpServerError(
                f"The MCP server '{self.name}' is not running ({self.state.describe()}).",
                "Restart it in Settings → Tools.",
            )
        timeout = self.settings.timeout
        try:
            async with asyncio.timeout(timeout):
                result = await session.call_tool(tool, arguments)
        except TimeoutError:
            self._failed(f"a call to '{tool}' got no answer within {timeout:g} seconds.")
            self.stop_now.set()
            raise McpServerError(
                f"The MCP server '{self.name}' did not answer within {timeout:g} seconds; "
                "it was stopped.",
                "Restart it in Settings → Tools, or raise its timeout in config.toml.",
            ) from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            from mcp.shared.exceptions import MCPError

            if isinstance(exc, MCPError) and not _closed(exc):
                # The server answered with an error: it still works.
                raise McpServerError(f"The MCP server '{self.name}' said: {exc}.") from None
            self._failed(f"it stopped during a call to '{tool}' ({_reason(exc)})")
            self.stop_now.set()
            raise McpServerError(
                f"The MCP server '{self.name}' stopped during the call ({_reason(exc)}).",
                "Restart it in Settings → Tools.",
            ) from None
        return _result_text(result, self.name)

    async def stop(self) -> None:
        task = self.task
        if task is None:
            return
        self.stop_now.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except asyncio.CancelledError:
            task.cancel()
            raise
        self.task = None


class McpServers:
    """The configured servers: start them, list their tools, call them, stop them on close.

    ``on_change`` is told each server's new state (the Settings window's list, ``/tools``).
    ``keys`` reads ``keychain:`` values (a ``KeyStore``; the default is the system keychain).
    """

    def __init__(
        self,
        servers: Iterable[McpServerSettings],
        *,
        keys: Any = None,
        start_timeout: float = START_TIMEOUT_S,
        ping_interval: float = PING_INTERVAL_S,
        on_change: Callable[[ServerState], None] | None = None,
    ) -> None:
        self._keys = keys
        self.start_timeout = start_timeout
        self.ping_interval = ping_interval
        self.on_change = on_change
        self._servers: dict[str, _Server] = {}
        for settings in servers:
            self._servers[settings.name] = _Server(settings, self)

    def names(self) -> list[str]:
        return list(self._servers)

    def settings(self, name: str) -> McpServerSettings:
        return self._server(name).settings

    def state(self, name: str) -> ServerState:
        return self._server(name).state

    def states(self) -> list[ServerState]:
        return [server.state for server in self._servers.values()]

    def _server(self, name: str) -> _Server:
        try:
            return self._servers[name]
        except KeyError:
            raise McpServerError(
                f"There is no MCP server named '{name}'.",
                f"Known ones: {', '.join(self._servers) or 'none'} ([mcp.servers.NAME] in "
                "config.toml).",
            ) from None

    async def start(self, names: Iterable[str] | None = None) -> list[ServerState]:
        """Start the servers not running yet (all, or those named) and wait until each is
        ready or has failed; never raises for a server that fails."""
        chosen = [self._server(n) for n in (self._servers if names is None else names)]
        for server in chosen:
            if server.task is None or server.task.done():
                server.start()
        await asyncio.gather(*(server.ready.wait() for server in chosen))
        return [server.state for server in chosen]

    async def restart(self, name: str) -> ServerState:
        server = self._server(name)
        await server.stop()
        server.start()
        await server.ready.wait()
        return server.state

    async def stop(self, name: str) -> None:
        await self._server(name).stop()

    async def add(self, settings: McpServerSettings, *, start: bool = True) -> ServerState:
        """A server added in Settings (a new name), started unless ``start`` is False."""
        if settings.name in self._servers:
            raise McpServerError(
                f"There is already an MCP server named '{settings.name}'.",
                "Choose another name, or change that server instead.",
            )
        server = self._servers[settings.name] = _Server(settings, self)
        if start:
            server.start()
            await server.ready.wait()
        return server.state

    async def remove(self, name: str) -> None:
        """A server removed in Settings: stopped and forgotten."""
        server = self._server(name)
        await server.stop()
        del self._servers[name]

    async def update(self, settings: McpServerSettings) -> ServerState:
        """New settings for a server: its ``always_allow``, ``disabled`` and ``timeout`` hold
        from now on (ask ``tools()`` again); anything else changed restarts it."""
        server = self._server(settings.name)
        old, server.settings = server.settings, settings
        kept = ("always_allow", "disabled", "timeout")
        same = all(getattr(old, f) == getattr(settings, f) for f in SERVER_FIELDS if f not in kept)
        if not same and server.task is not None:
            return await self.restart(settings.name)
        return server.state

    async def close(self) -> None:
        """Stop every server (on quit): each is asked to stop, then cancelled if it will not."""
        await asyncio.gather(*(server.stop() for server in self._servers.values()))

    async def __aenter__(self) -> McpServers:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, server: str, tool: str, arguments: dict[str, Any]) -> str:
        """Call one tool; raises ``McpServerError`` (the server's error, a crash, a timeout)."""
        return await self._server(server).call(tool, arguments)

    def tools(self, reserved: Iterable[str] = ()) -> list[Tool]:
        """The ready servers' tools as ``Tool``s; ``disabled`` ones left out.

        A name two servers share (or one of ``reserved``, the caller's own tools) is qualified
        as ``server_tool`` for all that share it, so the model can tell them apart.
        """
        pairs = [
            (server, listed)
            for server in self._servers.values()
            if server.state.status is ServerStatus.READY
            for listed in server.listed
            if listed.name not in server.settings.disabled
        ]
        counts: dict[str, int] = {}
        for name in [*reserved, *(_api_name(listed.name) for _, listed in pairs)]:
            counts[name] = counts.get(name, 0) + 1
        tools = []
        for server, listed in pairs:
            name = _api_name(listed.name)
            if counts[name] > 1:
                name = _api_name(f"{server.name}_{listed.name}")
            tools.append(self._tool(server, listed, name))
        return tools

    def _tool(self, server: _Server, listed: Any, name: str) -> Tool:
        remote = listed.name

        async def run(arguments: dict[str, Any]) -> str:
            return await server.call(remote, arguments)

        # OpenAI refuses an object schema without "properties"; some servers leave it out.
        schema = {"type": "object", **(listed.input_schema or {})}
        schema.setdefault("properties", {})
        return Tool(
            name=name,
            description=listed.description or listed.title or remote,
            parameters=schema,
            server=server.name,
            run=run,
            always_allowed=remote in server.settings.always_allow,
            remote_name=remote if remote != name else None,
        )

    async def resolve_secrets(self, settings: McpServerSettings) -> dict[str, dict[str, str]]:
        """The server's env and headers with each ``keychain:ITEM`` read from the Keychain."""
        resolved: dict[str, dict[str, str]] = {"env": {}, "headers": {}}
        for part in ("env", "headers"):
            for key, value in getattr(settings, part).items():
                if value.startswith(KEYCHAIN_PREFIX):
                    value = await self._secret(settings.name, value[len(KEYCHAIN_PREFIX) :])
                resolved[part][key] = value
        return resolved

    async def _secret(self, server: str, item: str) -> str:
        keys = self._keys
        if keys is None:
            from desktop_chat.keys import KeyStore

            keys = self._keys = KeyStore()
        try:
            value = await asyncio.to_thread(keys.get, item)
        except KeyringUnavailable as exc:
            raise McpServerError(
                f"the Keychain item '{item}' could not be read: {exc.message}", exc.hint
            ) from None
        if not value:
            raise McpServerError(
                f"the Keychain has no item '{item}' (service \"Desktop Chat\").",
                f"Add it in Settings → Tools, then restart '{server}'.",
            )
        remember(value)
        return value


async def _list_tools(session: Any) -> list[Any]:
    listed: list[Any] = []
    cursor = None
    while True:
        if cursor is None:
            page = await session.list_tools()
        else:
            from mcp import types

            page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
        listed.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return listed


def _api_name(name: str) -> str:
    """A name the OpenAI API accepts (letters, digits, '_' and '-', 64 at most)."""
    return _API_NAME.sub("_", name)[:64] or "tool"


def _closed(exc: Any) -> bool:
    """An SDK error that says the connection is gone (not the server's own error answer)."""
    from mcp.types import CONNECTION_CLOSED

    return exc.error.code == CONNECTION_CLOSED


def _unreachable(exc: BaseException) -> bool:
    """A connection that could not be made at all (the SDK's HTTP client is httpx2)."""
    import httpx2

    return isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout)


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _reason(exc: BaseException) -> str:
    """The innermost real cause of an SDK failure, as a short phrase."""
    exc = _leaf(exc)
    if isinstance(exc, McpServerError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"its program was not found ({exc.filename or exc})"
    if isinstance(exc, OSError):
        return f"it could not be started ({exc.strerror or exc})"
    text = str(exc).strip() or type(exc).__name__
    return f"{text}" if isinstance(exc, DesktopChatError) else f"{type(exc).__name__}: {text}"


def _result_text(result: Any, server: str) -> str:
    """A tool's result as the text the model reads; a result marked as an error raises."""
    import json

    parts: list[str] = []
    for item in result.content or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} ({getattr(item, 'mime_type', '')}) not shown to the model]")
        elif kind == "resource_link":
            parts.append(f"[resource {getattr(item, 'uri', '')}]")
        elif kind == "resource":
            resource = item.resource
            parts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = "\n".join(parts)
    if result.is_error:
        raise ToolError(text or f"The MCP server '{server}' reported an error without words.")
    return text
