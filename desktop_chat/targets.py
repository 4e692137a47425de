"""From what the user typed ("fast", "openai:gpt-4o", "llama3:8b") to a provider and model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.errors import KeyringUnavailable, ModelUnavailable
from desktop_chat.keys import KeyStore, env_var_for, find_key, is_loopback
from desktop_chat.params import GenerationParams


@dataclass(frozen=True, slots=True)
class Target:
    provider: ProviderSettings
    model: str
    #: Alias, then provider, then app defaults, already layered.
    params: GenerationParams

    @property
    def label(self) -> str:
        return f"{self.provider.name}:{self.model}"


def resolve(spec: str, settings: Settings, discovered: Iterable[ProviderSettings] = ()) -> Target:
    """Aliases first, then ``provider:model``, then a model that exactly one provider lists."""
    spec = spec.strip()
    providers = dict(settings.providers)
    for found in discovered:
        providers.setdefault(found.name, found)
    alias_params = GenerationParams()
    seen: set[str] = set()
    while spec in settings.aliases and spec not in seen:  # aliases may point at aliases
        seen.add(spec)
        alias = settings.aliases[spec]
        alias_params = alias_params.over(alias.params)
        spec = alias.target
    provider_name, sep, model = spec.partition(":")
    if sep and provider_name in providers and model:
        provider = providers[provider_name]
    else:
        owners = [p for p in providers.values() if spec in p.models]
        if len(owners) != 1:
            known = ", ".join(sorted(providers)) or "none configured"
            why = "several providers offer it" if owners else "no provider offers it"
            raise ModelUnavailable(
                f"Cannot tell which provider should run '{spec}' ({why}).",
                f"Write it as provider:model (providers: {known}), or add the provider "
                "in Settings.",
            )
        provider, model = owners[0], spec
    params = alias_params.over(provider.params).over(settings.defaults)
    return Target(provider, model, params)


def key_for(
    provider: ProviderSettings, store: KeyStore | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The provider's key, or ``None`` for servers that need none (this machine's own).

    A remote provider with no key at all and no usable keychain gets the keychain's message,
    which says how to use an environment variable instead.
    """
    found = find_key(provider.name, store, environ, key_name=provider.key_name)
    if found is not None:
        return found.value
    if store is not None and not _local(provider.base_url) and not store.available():
        raise KeyringUnavailable(
            f"No system keychain is available, and no key for '{provider.name}' is set.",
            f"Set {env_var_for(provider.name)} (or LLM_API_KEY) in the environment.",
        )
    return None


def _local(base_url: str) -> bool:
    from urllib.parse import urlsplit

    return is_loopback(urlsplit(base_url).hostname or "")
