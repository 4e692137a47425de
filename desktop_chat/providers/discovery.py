"""Zero-config: find OpenAI-compatible servers already running on this machine.

All ports are probed at once with a short timeout, so the whole scan takes at most about one
timeout even when nothing answers; callers run it in the background and never wait at start-up.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass

from desktop_chat.config import ProviderSettings, Settings

#: Overrides the settings' ``[discovery]``: "off", or "name=port,name=port" (exactly those).
#: Tests and scripted runs use it so that no server they did not start is ever asked.
SERVERS_VARIABLE = "DESKTOP_CHAT_LOCAL_SERVERS"


def local_servers(
    settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> tuple[tuple[str, int], ...]:
    """The (name, port) pairs to probe: the environment's override, else the settings'."""
    environ = os.environ if environ is None else environ
    override = environ.get(SERVERS_VARIABLE)
    if override is not None:
        return parse_servers(override)
    settings = settings or Settings()
    return settings.local_servers if settings.discover_local_servers else ()


def parse_servers(text: str) -> tuple[tuple[str, int], ...]:
    """``off`` (or nothing): none; ``name=port,…``: those. Malformed entries are left out: this
    is a developer's switch, and probing a port nobody meant is the one thing to avoid."""
    servers = []
    for item in text.split(","):
        name, _, port = item.strip().partition("=")
        if name.strip() and port.strip().isdigit() and 0 < int(port) < 65536:
            servers.append((name.strip(), int(port)))
    return tuple(servers)


@dataclass(frozen=True, slots=True)
class FoundServer:
    name: str
    base_url: str
    models: tuple[str, ...]

    def as_provider(self) -> ProviderSettings:
        return ProviderSettings(self.name, self.base_url, self.models, discovered=True)


async def probe(
    name: str, base_url: str, timeout_s: float = 0.75, client=None
) -> FoundServer | None:
    """``GET {base_url}/models``; a server that answers with a model list counts."""
    import httpx  # lazy; lighter than the openai SDK and enough for one GET

    own = client is None
    client = client or httpx.AsyncClient(timeout=timeout_s, trust_env=False)
    try:
        response = await client.get(f"{base_url}/models", timeout=timeout_s)
        if response.status_code != 200:
            return None
        data = response.json().get("data")
        if not isinstance(data, list):
            return None
        models = tuple(sorted(str(m["id"]) for m in data if isinstance(m, dict) and "id" in m))
        return FoundServer(name, base_url, models)
    except (httpx.HTTPError, ValueError, AttributeError, KeyError, TypeError):
        return None
    finally:
        if own:
            await client.aclose()


async def discover(
    servers: tuple[tuple[str, int], ...] | None = None,
    host: str = "127.0.0.1",
    timeout_s: float = 0.75,
) -> list[FoundServer]:
    """Every server of ``servers`` (by default :func:`local_servers`) that answers, in order."""
    servers = local_servers() if servers is None else servers
    if not servers:
        return []
    import httpx

    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
        found = await asyncio.gather(
            *(probe(name, f"http://{host}:{port}/v1", timeout_s, client) for name, port in servers)
        )
    return [server for server in found if server is not None]
