"""How to reach a server: its key (only the variables meant for it), its client, how long to
wait for a first token. Which server a model name means is ``models.resolve``'s."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.errors import KeyringUnavailable
from desktop_chat.hosts import is_loopback
from desktop_chat.keys import KeyStore, find_key, key_variables
from desktop_chat.platform.launch import hint, launched_from_finder

if TYPE_CHECKING:
    from desktop_chat.providers.openai_compat import OpenAICompatProvider


def key_for(
    provider: ProviderSettings, store: KeyStore | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The provider's key, or ``None`` for servers that need none (this machine's own).

    Only the variables meant for this provider are read (see ``keys``): a server merely
    discovered on a local port never receives the user's OpenAI key or ``LLM_API_KEY``. A
    remote provider with no key at all and no usable keychain gets the keychain's message,
    which says how to use an environment variable instead.
    """
    variables = variables_for(provider)
    found = find_key(provider.key_name, store, environ, variables)
    if found is not None:
        return found.value
    if store is not None and not _local(provider.base_url) and not store.available():
        raise KeyringUnavailable(
            f"No system keychain is available, and no key for '{provider.name}' is set.",
            hint(
                f"Set {' or '.join(variables)} in the environment.",
                "Check in Keychain Access that your login keychain exists and is unlocked, "
                "then save the key in Settings → Providers.",
            ),
        )
    return None


def variables_for(provider: ProviderSettings) -> tuple[str, ...]:
    """The environment variables this provider's key may come from, in order."""
    return key_variables(
        provider.key_name,
        provider.base_url,
        configured=not provider.discovered,
        named=bool(provider.key),
    )


def first_token_timeout(provider: ProviderSettings, settings: Settings) -> float:
    """How long to wait for a first token: longer on this machine, where a server may first
    load the model from disk."""
    if _local(provider.base_url):
        return settings.first_token_timeout_local_s
    return settings.first_token_timeout_s


def remote_provider(
    provider: ProviderSettings,
    store: KeyStore | None,
    *,
    api_key: str | None = None,
    settings: Settings | None = None,
    **options,
) -> OpenAICompatProvider:
    """The client for a configured or discovered server, with its key (or none), hints that
    name the variable really read for it (only Settings for a Mac app opened from Finder,
    which sees no shell variables), and the settings' first-token time. The one place all
    clients build it."""
    from desktop_chat.providers.openai_compat import OpenAICompatProvider

    if settings is not None:
        options.setdefault("first_token_timeout_s", first_token_timeout(provider, settings))
    variables = variables_for(provider)
    return OpenAICompatProvider(
        provider.base_url,
        api_key or key_for(provider, store),
        name=provider.name,
        allow_insecure_key=options.pop("allow_insecure_key", False) or provider.allow_insecure_key,
        key_env=variables[0] if variables and not launched_from_finder() else "",
        **options,
    )


def _local(base_url: str) -> bool:
    from urllib.parse import urlsplit

    return is_loopback(urlsplit(base_url).hostname or "")
