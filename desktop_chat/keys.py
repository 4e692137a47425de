"""API keys: in the system keychain (the macOS Keychain on a Mac), never in a file.

A provider's key has one name, its ``key_name`` (its ``key`` setting, else its own name): the
keychain item, and the variable ``<KEY_NAME>_API_KEY``. Lookup order, first hit wins: that
keychain item, that variable, then ``LLM_API_KEY`` (only for providers the user configured) and
``OPENAI_API_KEY`` (only for OpenAI's own host). A server merely discovered on a local port gets
no key unless the user gave it one. When no keychain is usable the app says so and points at
the variables; it never falls back to a plaintext file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from desktop_chat.errors import InsecureTransportError, KeyringUnavailable
from desktop_chat.hosts import is_loopback
from desktop_chat.platform.launch import hint
from desktop_chat.redact import remember

SERVICE = "Desktop Chat"
#: chatybot's one key for the models it configures: for providers the user configured only.
GENERIC_VARIABLE = "LLM_API_KEY"
#: The user's OpenAI key: for OpenAI's own host, or a provider whose settings name it.
OPENAI_VARIABLE = "OPENAI_API_KEY"
OPENAI_HOSTS = frozenset({"api.openai.com"})


def _unlock_hint() -> str:
    return hint(
        "Unlock the keychain and retry, or use the <PROVIDER>_API_KEY variable.",
        "Unlock the login keychain (Keychain Access) and retry.",
    )


def _refused(backend) -> bool:
    """Backends that would write a key to disk in the clear, or only pretend to store it."""
    name = f"{type(backend).__module__}.{type(backend).__name__}".lower()
    return "plaintext" in name or name.startswith(
        ("keyring.backends.fail", "keyring.backends.null")
    )


def env_var_for(key_name: str) -> str:
    """``openrouter`` -> ``OPENROUTER_API_KEY``; anything not a letter or digit becomes ``_``.
    The one place this name is built: lookups and error hints both use it. A name that already
    is a variable (``OPENAI_API_KEY``) stays itself."""
    name = re.sub(r"[^A-Z0-9]+", "_", key_name.upper()).strip("_")
    return name if name.endswith("_API_KEY") else name + "_API_KEY"


def key_variables(
    key_name: str, base_url: str, *, configured: bool, named: bool = False
) -> tuple[str, ...]:
    """The environment variables a provider's key may come from, in the order tried.

    ``configured``: the user set the provider up (not merely discovered on a local port);
    ``named``: its settings name the key (``key = ...``), so even ``OPENAI_API_KEY`` is its own.
    """
    own = env_var_for(key_name)
    openai_host = (urlsplit(base_url).hostname or "").lower() in OPENAI_HOSTS
    names = []
    if own != OPENAI_VARIABLE or named or openai_host:  # not for being *called* "openai"
        names.append(own)
    if configured:
        names.append(GENERIC_VARIABLE)
    if openai_host:
        names.append(OPENAI_VARIABLE)
    return tuple(dict.fromkeys(names))


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
                hint(
                    "Keys cannot be saved here; set the provider's <PROVIDER>_API_KEY "
                    "environment variable instead.",
                    "Check in Keychain Access that your login keychain exists and is "
                    "unlocked, then retry.",
                ),
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
                _unlock_hint(),
            ) from exc
        except Exception as exc:  # D-Bus and Security framework errors are not KeyringErrors
            raise KeyringUnavailable(
                f"The system keychain could not {what} ({type(exc).__name__}).",
                _unlock_hint(),
            ) from exc

    def get(self, provider: str) -> str | None:
        return self._call("read the key", "get_password", self.service, provider) or None

    def set(self, provider: str, key: str) -> None:
        key = key.strip()
        if not key:
            raise ValueError("An empty API key cannot be saved; delete the key instead.")
        remember(key)
        self._call("save the key", "set_password", self.service, provider, key)

    def delete(self, provider: str) -> None:
        self._call("delete the key", "delete_password", self.service, provider)


def find_key(
    key_name: str,
    store: KeyStore | None = None,
    environ: Mapping[str, str] | None = None,
    variables: tuple[str, ...] | None = None,
) -> FoundKey | None:
    """The key stored as ``key_name``, else the first of ``variables`` that is set (by default
    only ``<KEY_NAME>_API_KEY``), or ``None``.

    An unavailable keychain is skipped here; the caller reports it when no variable is set.
    """
    environ = os.environ if environ is None else environ
    if store is not None:
        try:
            value = store.get(key_name)
        except KeyringUnavailable:
            value = None
        if value:
            remember(value)  # redacted wherever a server echoes it back
            return FoundKey(value, "keychain")
    for var in (env_var_for(key_name),) if variables is None else variables:
        value = environ.get(var, "").strip()
        if value:
            remember(value)
            return FoundKey(value, var)
    return None


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
