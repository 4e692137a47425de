"""Foreign servers on every well-known port (a developer's Ollama, LM Studio, llama.cpp, Jan)
are asked only when the user's settings allow it, and never by the test suite.

The servers really listen on 11434, 1234, 8080 and 1337 — inside a private network namespace,
so the test neither collides with nor talks to whatever runs on this machine's own ports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.system import missing, require_programs

ROOT = Path(__file__).resolve().parents[1]


def in_private_network(*command: str) -> subprocess.CompletedProcess:
    if not sys.platform.startswith("linux"):
        missing("needs Linux network namespaces (unshare)")
    require_programs("unshare", "ip")
    userns = [] if os.geteuid() == 0 else ["--map-root-user"]
    script = 'ip link set lo up && exec "$@"'
    result = subprocess.run(
        ["unshare", *userns, "--net", "sh", "-c", script, "sh", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0 and "unshare" in result.stderr:
        missing(f"could not make a network namespace: {result.stderr.strip()}")
    return result


@pytest.fixture(scope="module")
def cases():
    result = in_private_network(sys.executable, "-m", "tests.support.foreign_servers")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_suite_never_asks_a_server_it_did_not_start(cases):
    assert cases["test-environment"] == {"reached": [], "found": []}


def test_discovery_switched_off_in_settings_asks_no_port(cases):
    assert cases["discovery-off"] == {"reached": [], "found": []}


def test_by_default_every_well_known_server_is_found(cases):
    assert cases["default"] == {
        "reached": [1234, 1337, 8080, 11434],
        "found": ["jan", "lm-studio", "local-8080", "ollama"],
    }


def test_the_ports_in_settings_replace_the_well_known_ones(cases):
    assert cases["one-port"] == {"reached": [11434], "found": ["mine"]}
