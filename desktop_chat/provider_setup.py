"""What Settings changes about providers: Test connection, and a provider written to
config.toml (keeping what the user wrote) with its key in the Keychain, which moves with a
renamed provider and goes with the last provider that reads it.

Blocking (the Keychain can wait on the user answering a prompt): the window runs these on a
thread, then reads the settings again."""

from __future__ import annotations

import contextlib
from pathlib import Path

from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.errors import DesktopChatError
from desktop_chat.keys import KeyStore


async def test_connection(settings: ProviderSettings, key: str | None):
    """``settings`` as the dialog shows them (their name, key rules and transport), asked for
    their models: a ``providers.base.Health``."""
    from desktop_chat.targets import remote_provider

    provider = remote_provider(settings, None, api_key=key or None)
    try:
        return await provider.health()
    finally:
        await provider.aclose()


def save_provider(
    config_file: Path,
    current: Settings,
    provider: ProviderSettings,
    key: str | None,
    old_name: str | None = None,
) -> None:
    """``provider`` in config.toml (in the place of ``old_name``, when edited), its key (if one
    was typed) in the Keychain."""
    from desktop_chat.config_writer import save_provider

    old = current.providers.get(old_name) if old_name else None
    if key:
        KeyStore().set(provider.key_name, key)
    elif old is not None and old.key_name != provider.key_name:
        # Renamed, and its item was named after it: the key moves with the name.
        with contextlib.suppress(DesktopChatError):
            keys = KeyStore()
            if value := keys.get(old.key_name):
                keys.set(provider.key_name, value)
                if not _key_shared(current, old.key_name, but=old.name):
                    keys.delete(old.key_name)
    save_provider(config_file, provider, old_name)


def remove_provider(config_file: Path, current: Settings, name: str) -> None:
    """The provider out of config.toml; its key too, unless another provider reads it."""
    from desktop_chat.config_writer import remove_provider

    provider = current.providers.get(name)
    key_name = provider.key_name if provider else name
    remove_provider(config_file, name)
    if not _key_shared(current, key_name, but=name):
        with contextlib.suppress(DesktopChatError):
            KeyStore().delete(key_name)


def _key_shared(settings: Settings, key_name: str, but: str) -> bool:
    """Whether another configured provider reads the same keychain item."""
    return any(p.key_name == key_name for n, p in settings.providers.items() if n != but)
