"""How a model name becomes a provider, the same for every client (the window, ``llmchat``,
the Python API): ``resolve`` turns what the user typed (or the app remembered) into a
``ModelChoice``, and ``open_provider`` makes a choice ready to answer.

What a name can be, in the order ``resolve`` tries it:

- a ``local:`` key (what settings and the window remember) or a model folder: the local engine;
- an alias (aliases may point at aliases, a folder or a Hugging Face id);
- ``provider:model``, with a configured provider or a server found running on this machine;
- a model that exactly one provider lists (configured ones first, then servers found here);
- a Hugging Face id (``org/name``): the local engine, downloaded when opened.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_chat.errors import ModelUnavailable
from desktop_chat.model_names import model_name
from desktop_chat.params import GenerationParams

if TYPE_CHECKING:  # the window's picker imports this module before settings are read
    from desktop_chat.config import ProviderSettings, Settings
    from desktop_chat.engine import MlxEngine
    from desktop_chat.keys import KeyStore
    from desktop_chat.providers.base import Provider
    from desktop_chat.providers.discovery import FoundServer

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
    #: A Hugging Face id whose folder is not known yet: downloaded when opened.
    repo: str = ""
    #: It sees images: True or False for a local model (its config.json says,
    #: ``hub.is_vision_folder``); None for a remote one, which says so only by refusing one.
    vision: bool | None = None
    #: It can call tools: True or False for a local model (its chat template and tokenizer
    #: config say, ``hub.uses_tools``); None for a remote one, offered tools and free to
    #: answer without them.
    tools: bool | None = None

    @property
    def local(self) -> bool:
        """Answered by this machine's MLX engine, not a server."""
        return self.provider is None

    @property
    def to_download(self) -> bool:
        return self.path is None and self.provider is None

    @property
    def key(self) -> str:
        """Stable across launches: what settings and the window remember."""
        if self.path is not None:
            return f"local:{self.path}"
        if self.provider is None:
            return self.repo
        return f"{self.provider.name}:{self.model}"

    @property
    def detail(self) -> str:
        if self.provider is not None:
            return self.provider.name
        return f"MLX · {self.size_bytes / 1e9:.1f} GB" if self.size_bytes else "MLX"


def remote_choice(
    provider: ProviderSettings,
    model: str,
    label: str | None = None,
    params: GenerationParams | None = None,
) -> ModelChoice:
    # A server that names its model by a folder (mlx_lm.server) shows the folder's name.
    shown = label or model_name(model)
    return ModelChoice(shown, REMOTE, model, provider=provider, params=params or provider.params)


def local_choice(
    path: Path,
    label: str | None = None,
    size_bytes: int = 0,
    params: GenerationParams | None = None,
) -> ModelChoice:
    from desktop_chat.hub import is_vision_folder, uses_tools, weights_bytes

    return ModelChoice(
        label or path.name,
        LOCAL,
        path.name,
        path=path,
        size_bytes=size_bytes or weights_bytes(path),
        params=params or GenerationParams(),
        vision=is_vision_folder(path),
        tools=not is_vision_folder(path) and uses_tools(path),
    )


# --- from a name to a choice -----------------------------------------------------------------


def resolve(
    spec: str, settings: Settings, discovered: Iterable[FoundServer] | None = None
) -> ModelChoice:
    """The model ``spec`` names (see the module's docstring for the order); a
    ``ModelUnavailable`` with a sentence that says what to write instead.

    ``discovered``: the servers a client has already found running here (the window looks at
    start); ``None`` looks now, and only when no configured provider offers the model."""
    name = spec.strip()
    label: str | None = None
    params = GenerationParams()
    seen: set[str] = set()
    while (folder := _folder(name)) is None and name in settings.aliases and name not in seen:
        seen.add(name)  # aliases may point at aliases
        label = label or name  # an alias is shown by its own name
        alias = settings.aliases[name]
        params = params.over(alias.params)
        name = alias.target.strip()
    if folder is not None:
        return local_choice(folder, label, params=params)
    offers = _offers(name, settings.providers)
    if not offers:
        found = _found_servers(settings) if discovered is None else discovered
        providers = dict(settings.providers)
        for server in found:
            providers.setdefault(server.name, server.as_provider())
        offers = _offers(name, providers)
    else:
        providers = settings.providers
    if len(offers) == 1:
        provider, model = offers[0]
        return remote_choice(provider, model, label, params.over(provider.params))
    if not offers and _hub_id(name):
        return ModelChoice(label or name, LOCAL, name, params=params, repo=name)
    known = ", ".join(sorted(providers)) or "none configured"
    why = "several providers offer it" if offers else "no provider offers it"
    raise ModelUnavailable(
        f"Cannot tell which provider should run '{name}' ({why}).",
        f"Write it as provider:model (providers: {known}), or add the provider in Settings.",
    )


def _folder(name: str) -> Path | None:
    """The model folder ``name`` is (a ``local:`` key or a path); None when it is no path."""
    path = name.removeprefix("local:")
    if path != name and not path.startswith(("/", "~")):
        return None  # "local:qwen2.5": a model of a provider called local (chatybot has one)
    folder = Path(path).expanduser()
    if folder.is_dir():
        from desktop_chat.hub import is_model_folder

        if not is_model_folder(folder):
            raise ModelUnavailable(
                f"{name} is not an MLX model (it has no config.json).",
                "Pick an MLX model, e.g. from https://huggingface.co/mlx-community.",
            )
        return folder.absolute()  # its key (local:…) names it from anywhere
    if path.startswith(("/", "~", ".")):
        raise ModelUnavailable(
            f"There is no model folder {folder}.", "Check the path, or download the model again."
        )
    return None


def _offers(
    name: str, providers: dict[str, ProviderSettings]
) -> list[tuple[ProviderSettings, str]]:
    """(provider, model) pairs that could run ``name``: ``provider:model`` with a known
    provider, else every provider that lists it."""
    provider_name, sep, model = name.partition(":")
    if sep and model and provider_name in providers:
        return [(providers[provider_name], model)]
    return [(p, name) for p in providers.values() if name in p.models]


def _hub_id(name: str) -> bool:
    owner, sep, repo = name.partition("/")
    return bool(sep and owner and repo) and "/" not in repo and ":" not in name


def _found_servers(settings: Settings) -> list[FoundServer]:
    """Servers running on this machine now (Ollama, LM Studio, mlx_lm.server, Jan): about half
    a second at most. On a thread with a loop of its own, as the caller may be inside one."""
    from desktop_chat.providers.discovery import discover, local_servers

    servers = local_servers(settings)
    if not servers:
        return []
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="discovery") as pool:
        return pool.submit(asyncio.run, discover(servers, timeout_s=0.5)).result()


# --- from a choice to a provider -------------------------------------------------------------


@dataclass
class OpenModel:
    """A choice made ready: its provider, and the engine it owns (a local model opened
    without one given), which ``close()`` frees."""

    choice: ModelChoice
    provider: Provider
    engine: MlxEngine | None = None

    @property
    def model(self) -> str:
        return self.choice.model

    @property
    def label(self) -> str:
        return self.choice.label

    @property
    def params(self) -> GenerationParams:
        """The alias's and provider's own parameters, under the caller's."""
        return self.choice.params

    def close(self) -> None:
        """Free the model: the engine unloads on its own thread and stops."""
        if self.engine is not None:
            self.engine.shutdown()
            self.engine = None


def open_provider(
    choice: ModelChoice,
    settings: Settings,
    *,
    engine: MlxEngine | None = None,
    progress: Callable | None = None,
    keys: KeyStore | None = None,
    **options: Any,
) -> OpenModel:
    """The provider that answers for ``choice``: a server's client with its key from the
    Keychain (``options`` go to ``targets.remote_provider``: ``api_key``, ``timeout_s``…), or
    the local engine's, for which a Hugging Face id is downloaded first (``progress`` receives
    a ``hub.DownloadProgress``). A local model runs on ``engine`` (the window's one thread,
    which stays its owner's), or on an engine of its own that the result owns and closes.

    Blocking: reading the Keychain may wait on the user, a download on the network."""
    if choice.provider is not None:
        from desktop_chat.keys import KeyStore
        from desktop_chat.targets import remote_provider

        provider = remote_provider(
            choice.provider, keys if keys is not None else KeyStore(), settings=settings, **options
        )
        return OpenModel(choice, provider)
    if choice.to_download:
        from desktop_chat.hub import download

        folder = download(choice.repo, progress or (lambda p: None))
        choice = dataclasses.replace(choice, path=folder, model=folder.name)
    from desktop_chat.providers.mlx_local import MlxLocalProvider

    owned = None
    if engine is None:
        from desktop_chat.engine import engine_for

        engine = owned = engine_for(settings).start()
    provider = MlxLocalProvider(engine, choice.path, settings.local_context_tokens)
    return OpenModel(choice, provider, owned)


def open_model(
    spec: str, settings: Settings, progress: Callable | None = None, **options: Any
) -> OpenModel:
    """``resolve`` then ``open_provider``, for ``llmchat`` and the Python API, which name a
    model as it was typed (a folder, a Hugging Face id) or as ``provider:model``: the name
    ``llmchat --continue`` opens again. Raises ``DesktopChatError`` with a sentence."""
    choice = resolve(spec, settings)
    choice = dataclasses.replace(choice, label=spec.strip() if choice.local else choice.key)
    return open_provider(choice, settings, progress=progress, **options)


def print_progress(p) -> None:
    """A one-line terminal progress display for downloads."""
    eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
    end = "\n" if p.done_bytes >= p.total_bytes else ""
    sys.stdout.write(
        f"\r  {p.done_bytes / 1e6:,.1f} / {p.total_bytes / 1e6:,.1f} MB "
        f"({p.fraction:.0%}) at {p.bytes_per_s / 1e6:,.1f} MB/s{eta}   {end}"
    )
    sys.stdout.flush()
