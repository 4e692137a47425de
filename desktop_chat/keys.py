"""API keys: in the system keychain (the macOS Keychain on a Mac), never in a file.

Lookup order, first hit wins: the keychain item for the provider, then the environment
variables ``<PROVIDER>_API_KEY``, ``LLM_API_KEY`` and ``OPENAI_API_KEY``. When no keychain is
usable the app says so and points at the variables; it never falls back to a plaintext file.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from desktop_chat.errors import InsecureTransportError, KeyringUnavailable

SERVICE = "Desktop Chat"


def _refused(backend) -> bool:
    """Backends that would write a key to disk in the clear, or only pretend to store it."""
    name = f"{type(backend).__module__}.{type(backend).__name__}".lower()
    return "plaintext" in name or name.startswith(
        ("keyring.backends.fail", "keyring.backends.null")
    )


def env_var_for(provider: str) -> str:
    """``openrouter`` -> ``OPENROUTER_API_KEY``; anything not a letter or digit becomes ``_``."""
    return re.sub(r"[^A-Z0-9]+", "_", provider.upper()).strip("_") + "_API_KEY"


@dataclass(frozen=True, slots=True)
class FoundKey:
    value: str
    #: Where it came from, for the UI: "keychain" or the environment variable's name.
    source: str

    def __repr__(self) -> str:  # a key never reaches a log through repr()
        return f"FoundKey(source={self.source!r}, value=<hidden>)"


class KeyStore:
    """One keychain item per provider under the service name ``Desktop Chat``."""

    def __init__(self, service: str = SERVICE, backend=None) -> None:
        self.service = service
        self._backend = backend

    @property
    def backend(self):
        if self._backend is None:
            import keyring  # lazy: entry-point discovery costs time

            from desktop_chat.platform.keychain import pin_backend

            pin_backend()
            self._backend = keyring.get_keyring()
        return self._backend

    def available(self) -> bool:
        try:
            self._usable_backend()
        except KeyringUnavailable:
            return False
        return True

    def _usable_backend(self):
        """The best backend that really stores secrets: never a plaintext file, never "fail"."""
        backend = self.backend
        candidates = list(getattr(backend, "backends", None) or [backend])
        usable = [b for b in candidates if not _refused(b)]
        if not usable:
            raise KeyringUnavailable(
                f"No system keychain is available (keyring backend: {type(backend).__name__}).",
                "Keys cannot be saved here; set the provider's <PROVIDER>_API_KEY "
                "environment variable instead.",
            )
        return max(usable, key=lambda b: getattr(b, "priority", 0))

    def _call(self, what: str, fn, *args):
        import keyring.errors

        backend = self._usable_backend()
        try:
            return getattr(backend, fn)(*args)
        except keyring.errors.PasswordDeleteError:
            return None
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(
                f"The system keychain could not {what} ({type(exc).__name__}: {exc}).",
                "Unlock the keychain and retry, or use the <PROVIDER>_API_KEY variable.",
            ) from exc
        except Exception as exc:  # D-Bus and Security framework errors are not KeyringErrors
            raise KeyringUnavailable(
                f"The system keychain could not {what} ({type(exc).__name__}).",
                "Unlock the keychain and retry, or use the <PROVIDER>_API_KEY variable.",
            ) from exc

    def get(self, provider: str) -> str | None:
        return self._call("read the key", "get_password", self.service, provider) or None

    def set(self, provider: str, key: str) -> None:
        key = key.strip()
        if not key:
            raise ValueError("An empty API key cannot be saved; delete the key instead.")
        self._call("save the key", "set_password", self.service, provider, key)

    def delete(self, provider: str) -> None:
        self._call("delete the key", "delete_password", self.service, provider)


def find_key(
    provider: str,
    store: KeyStore | None = None,
    environ: Mapping[str, str] | None = None,
    key_name: str | None = None,
) -> FoundKey | None:
    """The key for ``provider`` by the documented order, or ``None``.

    ``key_name`` is the keychain item a provider's settings point at (defaults to its name).
    An unavailable keychain is skipped here; the caller reports it when no variable is set.
    """
    environ = os.environ if environ is None else environ
    if store is not None:
        try:
            value = store.get(key_name or provider)
        except KeyringUnavailable:
            value = None
        if value:
            return FoundKey(value, "keychain")
    for var in (env_var_for(provider), "LLM_API_KEY", "OPENAI_API_KEY"):
        value = environ.get(var, "").strip()
        if value:
            return FoundKey(value, var)
    return None


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ensure_safe_transport(base_url: str, *, has_key: bool, allowed: bool = False) -> None:
    """Refuse to send a key in the clear across a network unless the user allowed it."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        from desktop_chat.errors import ConfigError

        raise ConfigError(
            f"is not an http(s) URL: {base_url!r}",
            path="provider settings",
            key="base_url",
            hint="Use a URL like https://api.openai.com/v1 or http://127.0.0.1:8080/v1.",
        )
    if has_key and parts.scheme == "http" and not allowed and not is_loopback(parts.hostname):
        raise InsecureTransportError(
            f"Refusing to send the API key over plain http to {parts.hostname}.",
            "Use https, or, if you trust the network, allow it: allow_insecure_key = true in "
            "the provider's settings, or allow_insecure_key=True in LLMConfig/LLMChat.",
        )
