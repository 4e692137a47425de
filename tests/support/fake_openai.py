"""A scripted stand-in for the few cases no real server produces on demand: 401, 404, 429 with
retry-after, 5xx, a stream cut mid-way, garbage SSE, a stream that ends without finishing,
thinking in ``reasoning_content`` deltas (DeepSeek, vLLM, LM Studio, llama.cpp), tool calls
streamed as ``tool_calls`` deltas exactly as OpenAI sends them.

Each request takes the next step of the script; requests are recorded for assertions.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: For 200 streams: text pieces sent as chat.completion.chunk events.
    pieces: list[str] = field(default_factory=list)
    #: Thinking sent before the pieces, each in a delta's ``reasoning_field``.
    reasoning: list[str] = field(default_factory=list)
    reasoning_field: str = "reasoning_content"
    #: "stop" sends finish_reason and [DONE]; "cut" drops the connection after the pieces
    #: mid-chunk; "end" closes cleanly without finishing; "garbage" sends invalid SSE data;
    #: "error" sends an error event (``error`` as its message) after the pieces.
    ending: str = "stop"
    usage: dict[str, int] | None = None
    error: str = "error"
    delay_s: float = 0.0
    #: A JSON body for non-stream answers (e.g. /models).
    body: Any = None
    #: After the pieces: one chunk per item, its delta's ``tool_calls`` list (``tool_call``
    #: makes the entries); then finish_reason ``finish`` ("tool_calls" when there are any).
    tool_calls: list[list[dict[str, Any]]] = field(default_factory=list)
    finish: str | None = None


def tool_call(
    index: int, id: str | None = None, name: str | None = None, arguments: str | None = None
) -> dict[str, Any]:
    """One entry of a delta's ``tool_calls``: OpenAI sends the id, type and name in a call's
    first chunk (with empty arguments), then pieces of the arguments with the index alone."""
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    entry: dict[str, Any] = {"index": index, "function": function}
    if id is not None:
        entry |= {"id": id, "type": "function"}
    return entry


def chunk(
    text: str | None = None, finish: str | None = None, usage=None, delta: dict | None = None
) -> bytes:
    delta = {"content": text} if text else (delta or {})
    data = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": []
        if usage and text is None and finish is None
        else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        data["usage"] = usage
    return f"data: {json.dumps(data)}\n\n".encode()


class FakeOpenAI:
    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.script: list[Step] = []
        self.requests: list[dict[str, Any]] = []
        self.disconnected = threading.Event()
        #: ``time.time()`` at which each streamed piece was sent, in order.
        self.sent_at: list[float] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(
                    {"path": self.path, "method": "GET", "headers": dict(self.headers)}
                )
                self._answer(fake.script.pop(0) if fake.script else Step(body={"data": []}))

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(
                    {
                        "path": self.path,
                        "method": "POST",
                        "body": body,
                        "headers": dict(self.headers),
                    }
                )
                self._answer(fake.script.pop(0) if fake.script else Step(pieces=["ok"]))

            def _answer(self, step: Step) -> None:
                if step.status != 200 or step.body is not None:
                    payload = json.dumps(
                        step.body
                        if step.body is not None
                        else {"error": {"message": step.error, "type": "test", "code": step.status}}
                    ).encode()
                    self.send_response(step.status)
                    for k, v in step.headers.items():
                        self.send_header(k, v)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                if step.ending == "end":
                    self.send_header("connection", "close")
                else:
                    self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                try:
                    for thought in step.reasoning:  # as DeepSeek sends it: no content key
                        thinking = chunk(delta={step.reasoning_field: thought})
                        self._send(thinking, step.ending == "end")
                    for piece in step.pieces:
                        self._send(chunk(piece), step.ending == "end")
                        fake.sent_at.append(time.time())
                        if step.delay_s:
                            time.sleep(step.delay_s)
                    for calls in step.tool_calls:
                        self._send(chunk(delta={"tool_calls": calls}), step.ending == "end")
                    if step.ending == "stop":
                        finish = step.finish or ("tool_calls" if step.tool_calls else "stop")
                        self._send(chunk(finish=finish), False)
                        if step.usage:
                            self._send(chunk(usage=step.usage), False)
                        self._send(b"data: [DONE]\n\n", False)
                        self.wfile.write(b"0\r\n\r\n")
                    elif step.ending == "error":
                        event = {"error": {"message": step.error, "type": "server_error"}}
                        self._send(f"data: {json.dumps(event)}\n\n".encode(), False)
                        self.wfile.write(b"0\r\n\r\n")
                    elif step.ending == "garbage":
                        self._send(b"data: {this is not json\n\n", False)
                        self.wfile.write(b"0\r\n\r\n")
                    elif step.ending == "cut":
                        # A chunk header promising more than is sent, then the socket closes.
                        self.wfile.write(b'400\r\ndata: {"choi')
                        self.wfile.flush()
                        self.close_connection = True
                    elif step.ending == "end":
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    fake.disconnected.set()

            def _send(self, data: bytes, raw: bool) -> None:
                if raw:
                    self.wfile.write(data)
                else:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        self.host = host
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def as_provider(home, models: tuple[str, ...] = ("m",)):
    """A running FakeOpenAI configured as provider "fake" (the default model "fake:m") in the
    app's config.toml under ``home``."""
    from tests.support.settings import write_config

    with FakeOpenAI() as server:
        listed = ", ".join(f'"{m}"' for m in models)
        write_config(
            home,
            f'default_model = "fake:m"\n[providers.fake]\n'
            f'base_url = "{server.base_url}"\nmodels = [{listed}]\n',
        )
        yield server
