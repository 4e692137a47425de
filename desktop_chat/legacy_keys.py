"""Plaintext API keys in a chatybot-style ``chat_config.toml``: found, and on the user's
request moved into the system keychain and taken out of the file.

The file is rewritten with only the ``api_key`` lines gone (tomlkit keeps comments and
order), through a new file moved over the old one. No backup copy is kept on purpose: it
would be the plaintext key the user asked to get rid of.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PlaintextKey:
    path: Path
    #: The model alias (a table of the file), which is also the provider's name.
    alias: str
    value: str = field(repr=False)


def plaintext_keys(path: Path) -> list[PlaintextKey]:
    """The non-empty ``api_key`` entries of a legacy settings file (none if unreadable)."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    return [
        PlaintextKey(path, alias, table["api_key"].strip())
        for alias, table in data.items()
        if isinstance(table, dict)
        and isinstance(table.get("api_key"), str)
        and table["api_key"].strip()
    ]


def move_to_keychain(found: list[PlaintextKey], store, key_name=lambda alias: alias) -> None:
    """Save each key in the keychain, then remove them from their files. A keychain error
    (``KeyringUnavailable``) stops before any file is touched."""
    for key in found:
        store.set(key_name(key.alias), key.value)
    for path in {k.path for k in found}:
        _remove_keys(path, {k.alias for k in found if k.path == path})


def _remove_keys(path: Path, aliases: set[str]) -> None:
    import tomlkit

    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    for alias in aliases:
        table = doc.get(alias)
        if table is not None and "api_key" in table:
            del table["api_key"]
    new = path.with_name(path.name + ".new")
    new.write_text(tomlkit.dumps(doc), encoding="utf-8")
    os.chmod(new, path.stat().st_mode & 0o777)
    os.replace(new, path)
