"""What the model picker offers: remote models (configured and discovered) and local MLX
models (in the Hugging Face cache), each a ``ModelChoice`` the window can open."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from desktop_chat.errors import ModelUnavailable
from desktop_chat.models import LOCAL, REMOTE, ModelChoice, local_choice, remote_choice, resolve

if TYPE_CHECKING:  # the window's picker imports this module before settings are read
    from desktop_chat.config import Settings

__all__ = ["LOCAL", "REMOTE", "ModelChoice", "build", "find", "pick"]


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


def pick(
    choices: Iterable[ModelChoice], spec: str | None, settings: Settings, discovered: Iterable = ()
) -> ModelChoice | None:
    """What the window opens for ``spec`` (the default model, a persona's model): one of the
    offered ``choices``, else what ``models.resolve`` makes of it; None when it names nothing
    on offer here (a Hugging Face id not downloaded yet: the window downloads with progress)."""
    found = find(choices, spec)
    if found is not None or not spec:
        return found
    try:
        choice = resolve(spec, settings, list(discovered))
    except ModelUnavailable:
        return None
    return None if choice.to_download else choice
