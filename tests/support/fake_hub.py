"""A local server speaking the part of the Hugging Face hub's HTTP API that ``snapshot_download``
uses, serving model folders from disk. Point ``HF_ENDPOINT`` at it.

It can cut a file's first download after some bytes (to test resuming), stall a file until
released, and answer gated or unknown repos with the hub's own error codes.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Repo:
    folder: Path
    library_name: str | None = "mlx"
    tags: list[str] = field(default_factory=lambda: ["mlx"])
    gated: bool = False

    @property
    def sha(self) -> str:
        h = hashlib.sha1()
        for p in sorted(self.folder.iterdir()):
            if p.is_file():
                h.update(p.name.encode() + p.read_bytes())
        return h.hexdigest()

    def files(self) -> list[Path]:
        return sorted(p for p in self.folder.iterdir() if p.is_file())


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        #: file name -> bytes after which the next GET of it is cut (once).
        self.cut_after: dict[str, int] = {}
        self.ranges: list[tuple[str, str]] = []
        self.log: list[tuple[str, str, str | None]] = []
        self.stall = threading.Event()
        #: Set once the stalled file's first half has been sent.
        self.stalled = threading.Event()
        self.stall_file: str | None = None
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _json(self, data, status=200, headers=None) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _error(self, code: str, status: int, message: str) -> None:
                self._json(
                    {"error": message}, status, {"X-Error-Code": code, "X-Error-Message": message}
                )

            def _serve(self, head: bool) -> None:
                hub.log.append((self.command, self.path, self.headers.get("range")))
                path = self.path.split("?")[0]
                m = re.match(r"^/api/models/([^/]+/[^/]+)(?:/revision/[^/]+)?$", path)
                if m:
                    return self._info(m.group(1))
                m = re.match(r"^/api/models/([^/]+/[^/]+)/tree/[^/]+(/.*)?$", path)
                if m:
                    repo = hub.repos.get(m.group(1))
                    if repo is None:
                        return self._error("RepoNotFound", 404, "Repository not found")
                    return self._json([self._entry(p) for p in repo.files()])
                m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
                if m:
                    return self._file(m.group(1), m.group(3), head)
                self._error("RepoNotFound", 404, "Not found")

            def _entry(self, p: Path) -> dict:
                return {
                    "type": "file",
                    "path": p.name,
                    "size": p.stat().st_size,
                    "oid": hashlib.sha1(p.read_bytes()).hexdigest(),
                }

            def _info(self, repo_id: str) -> None:
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._error("RepoNotFound", 404, "Repository not found")
                if repo.gated and not self.headers.get("authorization"):
                    return self._error("GatedRepo", 401, "Access to this model is restricted")
                self._json(
                    {
                        "id": repo_id,
                        "modelId": repo_id,
                        "sha": repo.sha,
                        "library_name": repo.library_name,
                        "tags": repo.tags,
                        "siblings": [
                            {"rfilename": p.name, "size": p.stat().st_size} for p in repo.files()
                        ],
                        "gated": repo.gated,
                        "private": False,
                    }
                )

            def _file(self, repo_id: str, name: str, head: bool) -> None:
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._error("RepoNotFound", 404, "Repository not found")
                if repo.gated and not self.headers.get("authorization"):
                    return self._error("GatedRepo", 401, "Access to this model is restricted")
                target = repo.folder / name
                if not target.is_file():
                    return self._error("EntryNotFound", 404, "Entry not found")
                data = target.read_bytes()
                etag = f'"{hashlib.sha1(data).hexdigest()}"'
                start = 0
                rng = self.headers.get("range")
                if rng and not head:
                    hub.ranges.append((name, rng))
                    start = int(re.match(r"bytes=(\d+)-", rng).group(1))
                self.send_response(206 if start else 200)
                self.send_header("ETag", etag)
                self.send_header("X-Repo-Commit", repo.sha)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if head:
                    return
                body = data[start:]
                cut = hub.cut_after.pop(name, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if hub.stall_file == name:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    hub.stalled.set()
                    hub.stall.wait(30)
                    self.wfile.write(body[len(body) // 2 :])
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stall.set()
        self.server.shutdown()
        self.server.server_close()
