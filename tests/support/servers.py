"""Real peers for the tests: ``mlx_lm.server`` and a Secret Service (gnome-keyring)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MlxServer:
    base_url: str
    model_id: str
    port: int
    process: subprocess.Popen


@contextlib.contextmanager
def mlx_server(model_dir: Path, port: int | None = None, repo_id: str = "") -> Iterator[MlxServer]:
    """``python -m mlx_lm server`` on 127.0.0.1, with its own Hugging Face cache folder
    (its ``/v1/models`` fails when none exists). With ``repo_id``, the model is in that cache
    as a download of ``repo_id``, and the server lists and serves it by that name."""
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="hf-home-") as hf_home:
        (Path(hf_home) / "hub").mkdir()
        if repo_id:
            _as_downloaded(Path(hf_home) / "hub", repo_id, model_dir)
            model_dir = Path(repo_id)
        env = {**os.environ, "HF_HOME": hf_home, "HF_HUB_OFFLINE": "1"}
        log = open(Path(hf_home) / "server.log", "w+b")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlx_lm",
                "server",
                "--model",
                str(model_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--max-tokens",
                "256",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"mlx_lm.server exited:\n{log.read().decode()[-3000:]}")
                try:
                    r = httpx.get(f"{base}/models", timeout=1, trust_env=False)
                    if r.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("mlx_lm.server did not start in 90 s")
                time.sleep(0.2)
            yield MlxServer(base, repo_id or str(Path(model_dir).resolve()), port, proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def _as_downloaded(hub: Path, repo_id: str, folder: Path) -> None:
    """``folder`` laid out as the Hugging Face cache keeps a download of ``repo_id``, with the
    weights' index file that mlx_lm.server's model list looks for."""
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    revision = "0" * 40
    shutil.copytree(folder, repo / "snapshots" / revision)
    index = repo / "snapshots" / revision / "model.safetensors.index.json"
    index.write_text('{"metadata": {}, "weight_map": {}}')
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)


@dataclass
class SecretService:
    env: dict[str, str]
    home: Path


@contextlib.contextmanager
def secret_service() -> Iterator[SecretService]:
    """A private D-Bus session bus with gnome-keyring's Secret Service, unlocked."""
    with tempfile.TemporaryDirectory(prefix="keyring-home-") as home:
        runtime = Path(home) / "run"
        runtime.mkdir(mode=0o700)
        base_env = {**os.environ, "HOME": home, "XDG_RUNTIME_DIR": str(runtime)}
        bus = subprocess.run(
            ["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"],
            env=base_env,
            capture_output=True,
            text=True,
            check=True,
        )
        address, pid = bus.stdout.split()[:2]
        env = {**base_env, "DBUS_SESSION_BUS_ADDRESS": address}
        try:
            # A non-empty password is what unlocks (and creates) the login collection.
            subprocess.run(
                ["gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize"],
                input="test-password",
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )
            yield SecretService({"DBUS_SESSION_BUS_ADDRESS": address}, Path(home))
        finally:
            _stop_keyring_daemons(home)
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)


def _stop_keyring_daemons(home: str) -> None:
    """Only the daemons this fixture started: the ones whose HOME is its folder."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"gnome-keyring" not in (proc / "cmdline").read_bytes():
                continue
            if f"HOME={home}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), signal.SIGTERM)
        except (OSError, ValueError):
            continue
