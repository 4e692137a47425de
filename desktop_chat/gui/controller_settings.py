"""The controller's settings actions: test a connection, save or remove a provider (its key
in the Keychain), save the default parameters. Mixed into ``ChatController``."""

from __future__ import annotations

import asyncio
import contextlib

from desktop_chat.config import ProviderSettings
from desktop_chat.errors import DesktopChatError
from desktop_chat.params import GenerationParams


class SettingsActions:
    async def test_connection(self, settings: ProviderSettings, key: str | None):
        """``settings`` as the dialog shows them: their name, key rules and transport."""
        from desktop_chat.targets import remote_provider

        provider = remote_provider(settings, None, api_key=key or None)
        try:
            return await provider.health()
        finally:
            await provider.aclose()

    async def save_provider(self, provider: ProviderSettings, key: str | None,
                            old_name: str | None = None) -> None:  # fmt: skip
        """Write the provider to config.toml and its key to the Keychain, then offer it."""
        from desktop_chat.config_writer import save_provider

        old = self.settings.providers.get(old_name) if old_name else None
        if key:
            await asyncio.to_thread(self._keys().set, provider.key_name, key)
        elif old is not None and old.key_name != provider.key_name:
            # Renamed, and its item was named after it: the key moves with the name.
            await asyncio.to_thread(self._move_key, old, provider)
        await asyncio.to_thread(save_provider, self.paths.config_file, provider, old_name)
        self._providers.pop(provider.name, None)
        if old_name:
            self._providers.pop(old_name, None)
        await self.refresh()

    async def remove_provider(self, name: str) -> None:
        from desktop_chat.config_writer import remove_provider

        provider = self.settings.providers.get(name)
        key_name = provider.key_name if provider else name
        await asyncio.to_thread(remove_provider, self.paths.config_file, name)
        if not self._key_shared(key_name, but=name):
            with contextlib.suppress(DesktopChatError):
                await asyncio.to_thread(self._keys().delete, key_name)
        self._providers.pop(name, None)
        await self.refresh()

    def _keys(self):
        from desktop_chat.keys import KeyStore

        return KeyStore()

    def _key_shared(self, key_name: str, but: str) -> bool:
        """Whether another configured provider reads the same keychain item."""
        return any(p.key_name == key_name for n, p in self.settings.providers.items() if n != but)

    def _move_key(self, old: ProviderSettings, new: ProviderSettings) -> None:
        store = self._keys()
        with contextlib.suppress(DesktopChatError):
            value = store.get(old.key_name)
            if value:
                store.set(new.key_name, value)
                if not self._key_shared(old.key_name, but=old.name):
                    store.delete(old.key_name)

    async def save_defaults(self, params: GenerationParams, hotkey: str | None = None,
                            menu_bar_only: bool | None = None) -> None:  # fmt: skip
        from desktop_chat.config_writer import save_defaults

        await asyncio.to_thread(save_defaults, self.paths.config_file, params, hotkey,
                                menu_bar_only)  # fmt: skip
        await self.refresh()
