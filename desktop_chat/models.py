"""From a model name to a ready provider: a folder or Hugging Face id runs on the local
MLX engine; ``provider:model`` or an alias goes to a remote server."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from desktop_chat.config import Settings
from desktop_chat.errors import ModelUnavailable
from desktop_chat.params import GenerationParams
from desktop_chat.providers.base import Provider


@dataclass
class OpenModel:
    provider: Provider
    model: str
    label: str
    engine: object | None = None
    #: The alias's and provider's own parameters, under the command line's.
    params: GenerationParams = field(default_factory=GenerationParams)

    def close(self) -> None:
        """Free the model: the engine unloads on its own thread and stops."""
        if self.engine is not None:
            self.engine.shutdown()
            self.engine = None


def is_local_spec(spec: str, settings: Settings) -> bool:
    if Path(spec).expanduser().is_dir():
        return True
    if spec in settings.aliases or ":" in spec:
        return False
    return spec.count("/") == 1 and not spec.startswith(("/", "."))


def print_progress(p) -> None:
    """A one-line terminal progress display for downloads."""
    eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
    end = "\n" if p.done_bytes >= p.total_bytes else ""
    sys.stdout.write(
        f"\r  {p.done_bytes / 1e6:,.1f} / {p.total_bytes / 1e6:,.1f} MB "
        f"({p.fraction:.0%}) at {p.bytes_per_s / 1e6:,.1f} MB/s{eta}   {end}"
    )
    sys.stdout.flush()


def open_model(spec: str, settings: Settings, progress: Callable | None = None) -> OpenModel:
    """Raises ``DesktopChatError`` with a sentence for the user. ``progress`` receives a
    ``hub.DownloadProgress`` while a Hugging Face model downloads."""
    if is_local_spec(spec, settings):
        from desktop_chat.engine import MlxEngine
        from desktop_chat.providers.mlx_local import MlxLocalProvider

        folder = Path(spec).expanduser()
        if not folder.is_dir():
            from desktop_chat.hub import download

            folder = download(spec, progress or (lambda p: None))
        if not (folder / "config.json").exists():
            raise ModelUnavailable(
                f"{spec} is not an MLX model (it has no config.json).",
                "Pick an MLX model, e.g. from https://huggingface.co/mlx-community.",
            )
        engine = MlxEngine().start()
        provider = MlxLocalProvider(engine, folder, settings.local_context_tokens)
        return OpenModel(provider, folder.name, spec, engine)
    from desktop_chat.keys import KeyStore
    from desktop_chat.targets import remote_provider, resolve

    try:
        target = resolve(spec, settings)
    except ModelUnavailable:
        # Not configured: maybe a server running here (Ollama, LM Studio, mlx_lm.server, Jan).
        import asyncio

        from desktop_chat.providers.discovery import discover, local_servers

        found = asyncio.run(discover(local_servers(settings), timeout_s=0.5))
        target = resolve(spec, settings, [server.as_provider() for server in found])
    provider = remote_provider(target.provider, KeyStore(), settings=settings)
    return OpenModel(provider, target.model, target.label, params=target.params)
