"""Claude Desktop's MCP servers, offered for import (never applied by themselves).

Claude Desktop keeps them in ``claude_desktop_config.json`` under ``mcpServers``, with any
tokens as plain text in ``env``. Reading only lists them; importing the ones the user chose
moves each secret-looking value (a variable or header named like a key, token or password) to
the Keychain and writes ``keychain:ITEM`` in its place, so config.toml holds no token.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from desktop_chat.config_writer import save_mcp_server
from desktop_chat.errors import ConfigError
from desktop_chat.mcp_config import KEYCHAIN_PREFIX, McpServerSettings

log = logging.getLogger(__name__)

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|AUTH|CREDENTIAL|COOKIE|SESSION|\bPAT\b", re.I)
_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class ClaudeServer:
    """One of Claude Desktop's servers, as it has it (values in memory, not yet anywhere)."""

    settings: McpServerSettings
    #: The env variables and headers whose values go to the Keychain on import.
    secrets: tuple[str, ...] = ()


def claude_config_path(home: Path | None = None) -> Path:
    """Where Claude Desktop (a macOS app, here) keeps its settings."""
    return (home or Path.home()) / "Library/Application Support/Claude/claude_desktop_config.json"


def read_claude_servers(path: Path | None = None) -> list[ClaudeServer]:
    """The servers in Claude Desktop's file; none when there is no file. A file that cannot
    be read raises ``ConfigError``; a server this app cannot run is left out."""
    path = path or claude_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"could not be read ({getattr(exc, 'strerror', None) or exc}).",
            path=str(path),
            hint="Nothing was imported.",
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"is not valid JSON ({exc.msg}).",
            path=str(path),
            line=exc.lineno,
            hint="Nothing was imported.",
        ) from exc
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        return []
    found = []
    for name, entry in servers.items():
        server = _server(str(name), entry)
        if server is not None:
            found.append(server)
    return found


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}


def _server(name: str, entry: Any) -> ClaudeServer | None:
    if not isinstance(entry, dict) or entry.get("disabled") is True:
        return None
    name = _NAME.sub("-", name)[:40] or "server"
    command, url = entry.get("command"), entry.get("url")
    if isinstance(command, str) and command:
        args = entry.get("args", [])
        env = _strings(entry.get("env"))
        settings = McpServerSettings(
            name=name,
            command=command,
            args=tuple(str(a) for a in args) if isinstance(args, list) else (),
            env=env,
            cwd=entry.get("cwd") if isinstance(entry.get("cwd"), str) else None,
        )
        secrets = tuple(k for k in env if _SECRET_NAME.search(k))
    elif isinstance(url, str) and re.match(r"^https?://", url):
        headers = _strings(entry.get("headers"))
        settings = McpServerSettings(name=name, url=url, headers=headers)
        secrets = tuple(headers)  # headers to a remote server are credentials, as a rule
    else:
        return None
    return ClaudeServer(settings, secrets)


def keychain_item(server: str, variable: str) -> str:
    # "/" is in neither a server's name nor a variable's or header's: server "a" header
    # "b-Token" and server "a-b" header "Token" get two items. (Items made before were named
    # "mcp-SERVER-NAME"; configs naming them go on working.)
    return f"mcp-{server}/{variable}"


def store_secrets(
    settings: McpServerSettings,
    names: Iterable[str] | None = None,
    *,
    keys: Any = None,
    written: list[tuple[str, str | None]] | None = None,
) -> McpServerSettings:
    """The settings with each value of ``names`` (every env variable and header when None) put
    in the Keychain as ``keychain_item(server, name)`` and ``keychain:ITEM`` in its place; a
    value that already is ``keychain:ITEM`` is kept. ``written`` gets each item set, with its
    value before, for ``restore_secrets`` should what follows (config.toml) fail. A Keychain
    that refuses part-way gets back what was set before it raises ``KeyringUnavailable``:
    no item is left that nothing names."""
    done: list[tuple[str, str | None]] = [] if written is None else written
    start = len(done)
    env, headers = dict(settings.env), dict(settings.headers)
    try:
        for part in (env, headers):
            for key in list(part) if names is None else names:
                value = part.get(key)
                if value and not value.startswith(KEYCHAIN_PREFIX):
                    if keys is None:
                        from desktop_chat.keys import KeyStore

                        keys = KeyStore()
                    item = keychain_item(settings.name, key)
                    done.append((item, keys.get(item)))
                    keys.set(item, value)
                    part[key] = KEYCHAIN_PREFIX + item
    except Exception:
        restore_secrets(done[start:], keys)
        del done[start:]
        raise
    return replace(settings, env=env, headers=headers)


def restore_secrets(written: list[tuple[str, str | None]], keys: Any = None) -> None:
    """Each item ``store_secrets`` set, as it was before (deleted where there was none); best
    effort: a Keychain that refuses this too keeps what it has."""
    if not written:
        return
    if keys is None:
        from desktop_chat.keys import KeyStore

        keys = KeyStore()
    for item, before in reversed(written):
        try:
            if before is None:
                keys.delete(item)
            else:
                keys.set(item, before)
        except Exception:
            log.warning("Keychain item %s could not be put back", item, exc_info=True)


def own_keychain_items(settings: McpServerSettings) -> list[str]:
    """The Keychain items this app made for the server (by ``keychain_item``'s naming, or the
    one before it): those that go with it when it is removed. An item the user named himself
    may serve elsewhere."""
    own = (keychain_item(settings.name, ""), f"mcp-{settings.name}-")
    return [i for i in settings.keychain_items() if i.startswith(own)]


def import_servers(
    config_file: Path,
    chosen: Iterable[ClaudeServer],
    *,
    keys: Any = None,
    existing: Iterable[str] = (),
) -> list[str]:
    """Write the chosen servers into config.toml, their secrets into the Keychain first; names
    already in ``existing`` (the user's own servers) are left alone. Returns those written."""
    taken = set(existing)
    written = []
    for server in chosen:
        settings = server.settings
        if settings.name in taken:
            continue
        if server.secrets:
            settings = store_secrets(settings, server.secrets, keys=keys)
        save_mcp_server(config_file, settings)
        taken.add(settings.name)
        written.append(settings.name)
    return written
