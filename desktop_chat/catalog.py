"""What the model picker offers: remote models (configured and discovered) and local MLX
models (in the Hugging Face cache), each a ``ModelChoice`` the window can open."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_chat.model_names import model_name
from desktop_chat.params import GenerationParams

if TYPE_CHECKING:  # the window's picker imports this module before settings are read
    from desktop_chat.config import ProviderSettings, Settings

REMOTE = "Remote"
LOCAL = "On this Mac"


@dataclass(frozen=True, slots=True)
class ModelChoice:
    label: str
    group: str
    #: The model id a remote server knows, or the local folder's name.
    model: str
    provider: ProviderSettings | None = None
    #: A local model's folder.
    path: Path | None = None
    size_bytes: int = 0
    #: Parameters of the alias or provider, under the app's defaults.
    params: GenerationParams = field(default_factory=GenerationParams)

    @property
    def local(self) -> bool:
        return self.path is not None

    @property
    def key(self) -> str:
        """Stable across launches: what settings and the window remember."""
        if self.path is not None:
            return f"local:{self.path}"
        assert self.provider is not None
        return f"{self.provider.name}:{self.model}"

    @property
    def detail(self) -> str:
        if self.path is not None:
            return f"MLX · {self.size_bytes / 1e9:.1f} GB" if self.size_bytes else "MLX"
        assert self.provider is not None
        return self.provider.name


@functools.lru_cache(maxsize=16)
def local_context_length(path: Path) -> int | None:
    """The context window a local model was trained for, from its config.json (read once:
    the context meter asks after every turn)."""
    import json

    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    text = config.get("text_config", config)
    value = text.get("max_position_embeddings")
    return int(value) if isinstance(value, int) else None


def remote_choice(provider: ProviderSettings, model: str, label: str | None = None,
                  params: GenerationParams | None = None) -> ModelChoice:  # fmt: skip
    # A server that names its model by a folder (mlx_lm.server) shows the folder's name.
    shown = label or model_name(model)
    return ModelChoice(shown, REMOTE, model, provider=provider,
                       params=params or provider.params)  # fmt: skip


def local_choice(path: Path, label: str | None = None, size_bytes: int = 0) -> ModelChoice:
    if not size_bytes:
        size_bytes = sum(p.stat().st_size for p in path.glob("*.safetensors"))
    return ModelChoice(label or path.name, LOCAL, path.name, path=path, size_bytes=size_bytes)


def build(
    settings: Settings, discovered: Iterable = (), cached: Iterable = ()
) -> list[ModelChoice]:
    """Aliases, configured providers' models, discovered servers' models, then cached MLX
    models; a model offered twice appears once (configured wins)."""
    choices: list[ModelChoice] = []
    seen: set[str] = set()

    def add(choice: ModelChoice) -> None:
        if choice.key not in seen:
            seen.add(choice.key)
            choices.append(choice)

    for provider in settings.providers.values():
        for model in provider.models:
            add(remote_choice(provider, model))
    for server in discovered:
        provider = server.as_provider()
        if provider.name in settings.providers:
            continue
        for model in provider.models:
            add(remote_choice(provider, model))
    for model in cached:
        add(local_choice(model.path, model.repo_id, model.size_bytes))
    return choices


def find(choices: Iterable[ModelChoice], spec: str | None) -> ModelChoice | None:
    """The choice a remembered key, an alias or ``provider:model`` names."""
    if not spec:
        return None
    for choice in choices:
        if spec in (choice.key, choice.label):
            return choice
    return None


def from_spec(spec: str, settings: Settings, discovered: Iterable = ()) -> ModelChoice | None:
    """An alias or ``provider:model`` from settings, or a local folder; ``None`` if unknown."""
    from desktop_chat.errors import ModelUnavailable
    from desktop_chat.targets import resolve

    if spec.startswith("local:"):
        path = Path(spec.removeprefix("local:"))
        return local_choice(path) if (path / "config.json").exists() else None
    folder = Path(spec).expanduser()
    if folder.is_dir() and (folder / "config.json").exists():
        return local_choice(folder)
    try:
        target = resolve(spec, settings, [s.as_provider() for s in discovered])
    except ModelUnavailable:
        return None
    label = spec if spec in settings.aliases else None  # else the model's name
    return remote_choice(target.provider, target.model, label, target.params)
