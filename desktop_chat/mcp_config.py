"""``[mcp.servers.NAME]`` in config.toml: the MCP servers the user set up, as plain settings.

A stdio server has ``command`` (+ ``args``, ``env``, ``cwd``); a Streamable HTTP server has
``url`` (+ ``headers``). A value of ``env`` or ``headers`` may be ``"keychain:ITEM"``: it is read
from the Keychain when the server starts, so no token sits in the file. ``always_allow`` lists the
server's tools that run without asking; ``disabled`` the ones never offered; ``timeout`` bounds a
call (seconds). The checks here report through ``error`` (config.py's, which finds the line).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from desktop_chat.errors import ConfigError

KEYCHAIN_PREFIX = "keychain:"
#: Seconds a call may take before the server is said not to answer (and stopped).
CALL_TIMEOUT_S = 60.0
SERVER_KEYS = ("command", "args", "env", "cwd", "url", "headers", "always_allow", "disabled")
_KEYS = (*SERVER_KEYS, "timeout")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")

Error = Callable[[str, tuple[str, ...], str | None, str], ConfigError]


@dataclass(frozen=True, slots=True)
class McpServerSettings:
    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    #: As written: values may be "keychain:ITEM", resolved only when the server starts. Not in
    #: repr: before they reach the Keychain they are secrets (and asyncio's executors log repr).
    env: dict[str, str] = field(default_factory=dict, repr=False)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    always_allow: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    timeout: float = CALL_TIMEOUT_S

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"

    def keychain_items(self) -> list[str]:
        """The Keychain items its env and headers name."""
        values = [*self.env.values(), *self.headers.values()]
        return [v[len(KEYCHAIN_PREFIX) :] for v in values if v.startswith(KEYCHAIN_PREFIX)]


def parse_servers(
    data: Any, error: Error, errors: list[ConfigError]
) -> dict[str, McpServerSettings]:
    """``[mcp]``'s ``servers`` table; a bad server is skipped with an error, the rest kept."""
    found: dict[str, McpServerSettings] = {}
    if not isinstance(data, dict):
        errors.append(error("must be a table: [mcp.servers.NAME].", (), "mcp", ""))
        return found
    for key in data:
        if key != "servers":
            errors.append(
                error(
                    "is not an [mcp] setting; it was ignored.",
                    ("mcp",),
                    key,
                    "Servers go in [mcp.servers.NAME] tables.",
                )
            )
    servers = data.get("servers", {})
    if not isinstance(servers, dict):
        errors.append(
            error("must be a table of [mcp.servers.NAME] tables.", ("mcp",), "servers", "")
        )
        return found
    for name, table in servers.items():
        server = _server(name, table, error, errors)
        if server is not None:
            found[name] = server
    return found


def _server(name: str, table: Any, error: Error, errors: list) -> McpServerSettings | None:
    at = ("mcp", "servers", name)
    if not _NAME.fullmatch(name):
        errors.append(
            error(
                "is not a usable server name; the server was skipped.",
                ("mcp", "servers"),
                name,
                "Use letters, digits, '_' or '-' (40 at most).",
            )
        )
        return None
    if not isinstance(table, dict):
        errors.append(error("must be a table with command (or url).", at, None, ""))
        return None
    bad = False

    def fail(message: str, key: str | None, hint: str = "") -> None:
        nonlocal bad
        bad = True
        errors.append(error(message, at, key, hint))

    for key in table:
        if key not in _KEYS:
            errors.append(
                error(
                    "is not an MCP server setting; it was ignored.",
                    at,
                    key,
                    f"Known ones: {', '.join(_KEYS)}.",
                )
            )
    command, url = table.get("command"), table.get("url")
    if (command is None) == (url is None):
        fail(
            "needs either command (a program to run) or url (a Streamable HTTP server); "
            "the server was skipped.",
            None,
        )
        return None
    if command is not None and not (isinstance(command, str) and command.strip()):
        fail("must be the program to run, as text.", "command")
    if url is not None and not (isinstance(url, str) and re.match(r"^https?://[^/\s]+", url)):
        fail(f"must be an http(s) URL, not {url!r}.", "url")
    args = table.get("args", [])
    if not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        fail('must be a list of text, like ["--root", "/tmp"].', "args")
    cwd = table.get("cwd")
    if cwd is not None and not (isinstance(cwd, str) and cwd):
        fail("must be a folder, as text.", "cwd")
    tables: dict[str, dict[str, str]] = {}
    for key in ("env", "headers"):
        value = table.get(key, {})
        if isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            tables[key] = dict(value)
        else:
            fail(
                'must be a table of NAME = "text" (or "keychain:ITEM" for a secret).',
                key,
            )
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("always_allow", "disabled"):
        value = table.get(key, [])
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            lists[key] = tuple(value)
        else:
            fail('must be a list of tool names, like ["read_file"].', key)
    timeout = table.get("timeout", CALL_TIMEOUT_S)
    if not (isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0):
        fail("must be a number of seconds, like 60.", "timeout")
    if bad:
        errors.append(error("was skipped until the settings above are fixed.", at, None, ""))
        return None
    if command is not None and tables["headers"]:
        errors.append(error("is only for url servers; it was ignored.", at, "headers", ""))
    if url is not None and (args or tables["env"]):
        errors.append(
            error("is only for command servers; it was ignored.", at, "args" if args else "env", "")
        )
    return McpServerSettings(
        name=name,
        command=command.strip() if command else None,
        args=tuple(args) if command else (),
        env=tables["env"] if command else {},
        cwd=cwd,
        url=url,
        headers=tables["headers"] if url else {},
        always_allow=lists["always_allow"],
        disabled=lists["disabled"],
        timeout=float(timeout),
    )
