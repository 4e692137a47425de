"""Run inside a private network namespace (see ``test_discovery_isolation``): scripted
OpenAI-compatible servers on every well-known local port, as a developer's Ollama, LM Studio,
llama.cpp and Jan would be, then the app's discovery under several settings. Prints, as JSON,
which ports each case reached and which servers it found."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from desktop_chat.config import KNOWN_LOCAL_SERVERS, load_settings
from desktop_chat.paths import app_paths
from desktop_chat.providers.discovery import SERVERS_VARIABLE, discover, local_servers
from tests.support.fake_openai import FakeOpenAI, Step

CASES = {
    "test-environment": (None, "off"),
    "discovery-off": ("[discovery]\nenabled = false\n", None),
    "default": ("", None),
    "one-port": ("[discovery]\nports = { mine = 11434 }\n", None),
}


def run_case(servers: dict[int, FakeOpenAI], config: str | None, override: str | None) -> dict:
    for port, fake in servers.items():
        fake.requests.clear()
        fake.script = [Step(body={"data": [{"id": f"foreign-{port}"}]})]
    with tempfile.TemporaryDirectory() as home:
        environ = {"DESKTOP_CHAT_HOME": home}
        if override is not None:
            environ[SERVERS_VARIABLE] = override
        os.environ.pop(SERVERS_VARIABLE, None)
        os.environ.update(environ)
        if config is not None:
            (Path(home) / "config").mkdir()
            (Path(home) / "config" / "config.toml").write_text(config)
        settings = load_settings(app_paths()).settings
        found = asyncio.run(discover(local_servers(settings), timeout_s=2))
    return {
        "reached": sorted(port for port, fake in servers.items() if fake.requests),
        "found": sorted(server.name for server in found),
    }


def main() -> int:
    servers = {}
    for _, port in KNOWN_LOCAL_SERVERS:
        servers[port] = FakeOpenAI(port).__enter__()
    try:
        print(json.dumps({name: run_case(servers, *case) for name, case in CASES.items()}))
    finally:
        for fake in servers.values():
            fake.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
