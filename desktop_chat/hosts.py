"""Which hosts are this machine: what a server on them may be told, and how big an image it
is sent. Standard library only, on the lowest floor, so that keys and image sizes share it."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
