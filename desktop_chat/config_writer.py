"""Changes the Settings window makes to ``config.toml``, keeping everything else the user wrote.

``tomlkit`` edits the file in place: comments, order and unknown keys survive. The new text is
written beside the file and moved over it in one step, so a crash never leaves half a file, and
the previous version is kept as ``config.toml.bak``. Keys never go here (they live in the
Keychain).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from desktop_chat.config import ProviderSettings
from desktop_chat.errors import ConfigError
from desktop_chat.mcp_config import CALL_TIMEOUT_S, McpServerSettings
from desktop_chat.params import GenerationParams


def _load(path: Path):
    import tomlkit
    from tomlkit.exceptions import ParseError

    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (ParseError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"could not be updated: it is not valid TOML ({exc}).",
            path=str(path),
            hint="Fix the file by hand (or move it away) and save again.",
        ) from exc


def _save(path: Path, doc) -> None:
    import tomlkit

    path.parent.mkdir(parents=True, exist_ok=True)
    new = path.with_name(path.name + ".new")
    new.write_text(tomlkit.dumps(doc), encoding="utf-8")
    if path.exists():
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    os.replace(new, path)


def save_provider(path: Path, provider: ProviderSettings, old_name: str | None = None) -> None:
    """Add or update ``[providers.<name>]``; renaming drops the old table."""
    import tomlkit

    doc = _load(path)
    providers = doc.get("providers")
    if providers is None:
        providers = tomlkit.table(is_super_table=True)
        doc["providers"] = providers
    if old_name and old_name != provider.name and old_name in providers:
        del providers[old_name]
    table = providers.get(provider.name)
    if table is None:
        table = tomlkit.table()
        providers[provider.name] = table
    table["base_url"] = provider.base_url
    if provider.models:
        table["models"] = list(provider.models)
    elif "models" in table:
        del table["models"]
    if provider.key and provider.key != provider.name:
        table["key"] = provider.key
    _save(path, doc)


def remove_provider(path: Path, name: str) -> None:
    doc = _load(path)
    providers = doc.get("providers")
    if providers is not None and name in providers:
        del providers[name]
        _save(path, doc)


def save_defaults(
    path: Path,
    params: GenerationParams,
    hotkey: str | None = None,
    menu_bar_only: bool | None = None,
) -> None:
    """Replace ``[defaults]`` with what the window shows (unset values are removed), and
    ``[app]``'s shortcut and mode when given: one write, one backup."""
    import tomlkit

    doc = _load(path)
    table = doc.get("defaults")
    if table is None:
        table = tomlkit.table()
        doc["defaults"] = table
    wanted = params.to_dict()
    for name in ("temperature", "top_p", "max_tokens", "system_prompt"):
        if name in wanted:
            table[name] = wanted[name]
        elif name in table:
            del table[name]
    if hotkey is not None or menu_bar_only is not None:
        app = doc.get("app")
        if app is None:
            app = tomlkit.table()
            doc["app"] = app
        if hotkey is not None:
            app["hotkey"] = hotkey
        if menu_bar_only is not None:
            app["menu_bar_only"] = menu_bar_only
    _save(path, doc)


def _mcp_servers(doc, create: bool):
    """``[mcp.servers]`` of the document (made when ``create``), or None."""
    import tomlkit

    mcp = doc.get("mcp")
    if mcp is None:
        if not create:
            return None
        mcp = tomlkit.table(is_super_table=True)
        doc["mcp"] = mcp
    servers = mcp.get("servers")
    if servers is None:
        if not create:
            return None
        servers = tomlkit.table(is_super_table=True)
        mcp["servers"] = servers
    return servers


def save_mcp_server(path: Path, server: McpServerSettings) -> None:
    """Add ``[mcp.servers.<name>]``, or change it in place: only the keys whose value differs
    are written, so the user's comments, key order and keys of their own stay. Its env and
    headers are written as given: the caller has already put secrets in the Keychain and left
    ``keychain:ITEM`` in their place."""
    import tomlkit

    url = bool(server.url)
    wanted = {
        "url": server.url or None,
        "headers": _inline(server.headers) if url and server.headers else None,
        "command": None if url else server.command or "",
        "args": list(server.args) if not url and server.args else None,
        "env": _inline(server.env) if not url and server.env else None,
        "cwd": server.cwd if not url and server.cwd else None,
        "always_allow": list(server.always_allow) or None,
        "disabled": list(server.disabled) or None,
        "timeout": server.timeout if server.timeout != CALL_TIMEOUT_S else None,
    }
    doc = _load(path)
    servers = _mcp_servers(doc, create=True)
    table = servers.get(server.name)
    if table is None:
        table = servers[server.name] = tomlkit.table()
    for key, value in wanted.items():
        if value is None:
            if key in table:
                del table[key]
        elif key not in table or _plain(table[key]) != _plain(value):
            table[key] = value
    _save(path, doc)


def _plain(value):
    return value.unwrap() if hasattr(value, "unwrap") else value


def _inline(values: dict[str, str]):
    import tomlkit

    table = tomlkit.inline_table()
    table.update(values)
    return table


def remove_mcp_server(path: Path, name: str) -> None:
    doc = _load(path)
    servers = _mcp_servers(doc, create=False)
    if servers is not None and name in servers:
        del servers[name]
        _save(path, doc)


def set_mcp_tool_list(path: Path, server: str, key: str, tool: str, present: bool) -> None:
    """Add ``tool`` to (or take it off) a server's ``always_allow`` or ``disabled`` list: the
    user's "Always allow" on an approval card, a revoke, a tool switched off in Settings."""
    if key not in ("always_allow", "disabled"):
        raise ValueError(f"not a tool list: {key}")
    doc = _load(path)
    servers = _mcp_servers(doc, create=False)
    if servers is None or server not in servers:
        raise ConfigError(
            f"has no [mcp.servers.{server}]: the tool '{tool}' could not be remembered.",
            path=str(path),
            hint="Add the server again in Settings → Tools.",
        )
    table = servers[server]
    names = [str(n) for n in table.get(key, [])]
    if present and tool not in names:
        names.append(tool)
    elif not present and tool in names:
        names.remove(tool)
    else:
        return
    table[key] = names
    _save(path, doc)
