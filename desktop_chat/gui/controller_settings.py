"""The controller's settings actions: test a connection, save or remove a provider (its key
in the Keychain), save the default parameters. Mixed into ``ChatController``."""

from __future__ import annotations

import asyncio
import contextlib

from desktop_chat.config import ProviderSettings
from desktop_chat.errors import DesktopChatError
from desktop_chat.params import GenerationParams


class SettingsActions:
    async def test_connection(self, base_url: str, key: str | None):
        from desktop_chat.providers.openai_compat import OpenAICompatProvider

        provider = OpenAICompatProvider(base_url, key or None, name="test")
        try:
            return await provider.health()
        finally:
            await provider.aclose()

    async def save_provider(self, provider: ProviderSettings, key: str | None,
                            old_name: str | None = None) -> None:  # fmt: skip
        """Write the provider to config.toml and its key to the Keychain, then offer it."""
        from desktop_chat.config_writer import save_provider
        from desktop_chat.keys import KeyStore

        if key:
            await asyncio.to_thread(KeyStore().set, provider.key_name, key)
        await asyncio.to_thread(save_provider, self.paths.config_file, provider, old_name)
        self._providers.pop(provider.name, None)
        await self.refresh()

    async def remove_provider(self, name: str) -> None:
        from desktop_chat.config_writer import remove_provider
        from desktop_chat.keys import KeyStore

        await asyncio.to_thread(remove_provider, self.paths.config_file, name)
        with contextlib.suppress(DesktopChatError):
            await asyncio.to_thread(KeyStore().delete, name)
        self._providers.pop(name, None)
        await self.refresh()

    async def save_defaults(self, params: GenerationParams, hotkey: str | None = None,
                            menu_bar_only: bool | None = None) -> None:  # fmt: skip
        from desktop_chat.config_writer import save_defaults

        await asyncio.to_thread(save_defaults, self.paths.config_file, params, hotkey,
                                menu_bar_only)  # fmt: skip
        await self.refresh()
