"""Zero-config: find OpenAI-compatible servers already running on this machine.

All ports are probed at once with a short timeout, so the whole scan takes at most about one
timeout even when nothing answers; callers run it in the background and never wait at start-up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from desktop_chat.config import ProviderSettings

#: (name, port) of the servers people run locally, on their default ports.
KNOWN_LOCAL_SERVERS: tuple[tuple[str, int], ...] = (
    ("ollama", 11434),
    ("lm-studio", 1234),
    ("local-8080", 8080),  # mlx_lm.server and llama.cpp's server both default to 8080
    ("jan", 1337),
)


@dataclass(frozen=True, slots=True)
class FoundServer:
    name: str
    base_url: str
    models: tuple[str, ...]

    def as_provider(self) -> ProviderSettings:
        return ProviderSettings(self.name, self.base_url, self.models)


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
    servers: tuple[tuple[str, int], ...] = KNOWN_LOCAL_SERVERS,
    host: str = "127.0.0.1",
    timeout_s: float = 0.75,
) -> list[FoundServer]:
    """Every known local server that answers, in the order of ``servers``."""
    import httpx

    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
        found = await asyncio.gather(
            *(probe(name, f"http://{host}:{port}/v1", timeout_s, client) for name, port in servers)
        )
    return [server for server in found if server is not None]
