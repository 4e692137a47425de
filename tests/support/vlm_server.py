"""A real OpenAI-compatible vision server for the tests: ``python -m mlx_vlm.server`` on
127.0.0.1, serving a model folder (the tiny vision model), with a Hugging Face cache of its
own and no hub reachable. Its log (prompt tokens of each request) can be read back."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.servers import free_port


@dataclass
class VlmServer:
    base_url: str
    model_id: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def mlx_vlm_server(model_dir: Path) -> Iterator[VlmServer]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="vlm-server-") as home:
        (Path(home) / "hub").mkdir()
        env = {**os.environ, "HF_HOME": home, "HF_HUB_OFFLINE": "1"}
        log_path = Path(home) / "server.log"
        log = open(log_path, "w+b")  # noqa: SIM115
        command = [sys.executable, "-m", "mlx_vlm.server", "--model", str(model_dir)]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 120  # it imports mlx-vlm and loads the model first
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"mlx_vlm.server exited:\n{log_path.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{base}/models", timeout=1, trust_env=False).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("mlx_vlm.server did not start in 120 s")
                time.sleep(0.3)
            yield VlmServer(base, str(model_dir), log_path)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
