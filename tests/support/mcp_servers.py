"""Real MCP servers for the tests, written with the official SDK (``MCPServer``).

Run as a program: ``python tests/support/mcp_servers.py stdio`` serves over stdin/stdout (what
Claude Desktop and Desktop Chat start), ``... http PORT`` serves Streamable HTTP on
127.0.0.1:PORT at /mcp. ``http_server(...)`` starts the latter as a child process and waits
until it answers. Its tools: ``add``, ``echo``, ``environment`` (the variables it was given), ``pid``,
``fail`` (a tool error), ``crash`` (the process dies mid-call), ``hang`` (never answers).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

SCRIPT = Path(__file__).resolve()


def stdio_settings(name: str = "tester", **extra):
    """``McpServerSettings`` that start this script over stdio with the tests' Python."""
    from desktop_chat.mcp_config import McpServerSettings

    return McpServerSettings(
        name=name, command=sys.executable, args=(str(SCRIPT), "stdio"), **extra
    )


def build(name: str = "tester"):
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name)

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        return a + b

    @server.tool()
    def echo(text: str) -> str:
        """Say the text back."""
        return text

    @server.tool()
    def environment() -> str:
        """The names and values of the environment variables this server was started with."""
        return "\n".join(f"{k}={v}" for k, v in sorted(os.environ.items()))

    @server.tool()
    def pid() -> int:
        """This server's process id."""
        return os.getpid()

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails, with the reason given."""
        from mcp.server.mcpserver.exceptions import ToolError

        raise ToolError(reason)

    @server.tool()
    def crash() -> str:
        """Dies in the middle of the call, saying why on stderr."""
        print("tester: about to die on purpose", file=sys.stderr, flush=True)
        os._exit(3)

    @server.tool()
    def hang() -> str:
        """Never answers."""
        time.sleep(3600)
        return "never"

    return server


@contextlib.contextmanager
def http_server(port: int, name: str = "tester", token: str = "") -> Iterator[str]:
    """This script serving Streamable HTTP on loopback (asking for ``token`` if given); yields
    its URL."""
    env = {**os.environ, "TESTER_TOKEN": token}
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "http", str(port), name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.poll() is not None else ""
                raise RuntimeError(f"the MCP test server did not start on port {port}: {err}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _http(port: int, name: str) -> None:
    """Streamable HTTP; with TESTER_TOKEN set, a request without that bearer token gets 401."""
    import uvicorn

    app = build(name).streamable_http_app(host="127.0.0.1")
    token = os.environ.get("TESTER_TOKEN")

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and token:
            headers = dict(scope["headers"])
            if headers.get(b"authorization", b"").decode() != f"Bearer {token}":
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"no token"})
                return
        await app(scope, receive, send)

    uvicorn.run(guarded, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        build().run("stdio")
    else:
        _http(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "tester")
