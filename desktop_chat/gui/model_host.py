"""The window's model state: the settings read, the choices on offer and the servers and cached
MLX models they came from, the engine's thread that loads a local model, and the remote
providers, each made once. The controller holds one (``controller.models``) and says which
model the conversation uses; this says what can be chosen and makes a choice ready to answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop_chat import catalog
from desktop_chat.config import LoadedSettings, Settings
from desktop_chat.errors import DesktopChatError
from desktop_chat.hub import context_length
from desktop_chat.model_names import model_name
from desktop_chat.models import ModelChoice, open_provider
from desktop_chat.paths import AppPaths
from desktop_chat.reasoning_switches import NONE, Switches, local_switches, remote_switches

log = logging.getLogger(__name__)


class ModelHost(QObject):
    settings_loaded = Signal()  # before models are looked for: the hotkey needs no model
    choices_changed = Signal(list)
    reach_changed = Signal(list, set, str)  # servers found, downloaded repos, notes
    loading = Signal(str)  # "Loading …" while a local model loads, "" when done
    model_ready = Signal(object)  # the chosen model can answer now (a local one has loaded)
    started = Signal()  # the first look for settings and models is over
    failed = Signal(str, str, bool)  # a load failed: message, hint, never worth a Retry
    notice = Signal(str, str)  # the problems the settings and the store have: message, hint

    def __init__(self, paths: AppPaths, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.loaded = LoadedSettings(Settings(), [], [])  # until read_settings() reads them
        #: What the model menu offers, and the servers and cached MLX models it came from.
        self.choices: list[ModelChoice] = []
        self.discovered: list = []
        self.cached: list = []
        #: The choice that finished loading: until it is the one chosen, a message waits.
        self.ready_choice: ModelChoice | None = None
        self.has_started = False  # the first look is over, whatever it found
        self._told: list[str] = []  # the settings and store problems last said
        self._providers: dict[str, Any] = {}  # remote ones by name, each made once
        self._engine_host = None  # the engine's thread, from the first local model on
        #: Keys of the servers' models that have sent thinking since the app started.
        self.reasoned: set[str] = set()

    settings = property(lambda self: self.loaded.settings)
    #: The local engine once a local model has been asked for (None before: none is started).
    engine = property(lambda self: None if self._engine_host is None else self._engine_host.engine)

    @property
    def kv_bits(self) -> int | None:
        """The KV cache's bits (``[app] kv_bits``): the running engine's, which keeps the
        setting it started with, else what the next engine will use."""
        engine = self.engine
        return engine.kv_bits if engine is not None else self.settings.kv_bits

    async def read_settings(self) -> Settings:
        from desktop_chat import logs
        from desktop_chat.config import load_settings

        self.loaded = loaded = await asyncio.to_thread(load_settings, self.paths)
        logs.set_debug(loaded.settings.debug_log)
        sources = [str(p) for p in loaded.sources]
        log.info(
            "settings read from %s: %d providers, %d problems",
            sources,
            len(loaded.settings.providers),
            len(loaded.errors),
        )
        for err in loaded.errors:
            log.warning("settings: %s", err)
        self.settings_loaded.emit()
        return loaded.settings

    async def look(self, notes: list[str]) -> list[str]:
        """Look for local servers and cached MLX models and offer them; the problems to say
        come back: the settings' then ``notes`` (the store's)."""
        from desktop_chat.hub import cached_models
        from desktop_chat.providers.discovery import discover, local_servers

        self.discovered, self.cached = await asyncio.gather(
            discover(local_servers(self.settings)), asyncio.to_thread(cached_models)
        )
        servers = [s.name for s in self.discovered]
        log.info(
            "local servers found: %s; MLX models in the cache: %d",
            servers or "none",
            len(self.cached),
        )
        self.choices = catalog.build(self.settings, self.discovered, self.cached)
        self.choices_changed.emit(self.choices)
        notes = [str(err) for err in self.loaded.errors] + notes
        found = [c for c in self.choices if c.provider and c.provider.name in servers]
        self.reach_changed.emit(found, {m.repo_id for m in self.cached}, "\n".join(notes))
        return notes

    def tell(self, notes: list[str]) -> None:
        """A banner for when the welcome panel (which lists them) is not on show; each set of
        problems is said once."""
        if notes and notes != self._told:
            many = (f"{len(notes)} problems were found:", "\n".join(notes))
            self.notice.emit(*(many if len(notes) > 1 else (notes[0], "")))
        self._told = notes

    def looked(self) -> None:
        if not self.has_started:
            self.has_started = True
            self.started.emit()

    def pick(self, name: str | None) -> ModelChoice | None:
        """The choice a model name (the default model, a persona's) stands for, if any."""
        return catalog.pick(self.choices, name, self.settings, self.discovered)

    def forget(self, *names: str) -> None:
        """The providers ``names`` are made afresh next time (their settings changed)."""
        for name in names:
            self._providers.pop(name, None)

    async def load(self, choice: ModelChoice) -> bool:
        """Load a local choice's weights once, for the setting's context: the engine grows it
        on its thread (memory-checked again there) for a longer conversation, the quick
        prompt's too. False when the load failed (``failed`` said why)."""
        if not choice.local:
            return True
        if self._engine_host is None:
            from desktop_chat.gui.engine_thread import EngineThread

            self._engine_host = EngineThread(self, self.settings)
            self._engine_host.start()
        if (info := self._engine_host.engine.info) is not None and info.path == str(choice.path):
            return True
        size = f" ({choice.size_bytes / 1e9:.1f} GB)" if choice.size_bytes >= 1e8 else ""
        self.loading.emit(f"Loading {choice.label}{size}…")
        started = time.perf_counter()
        try:
            await self._engine_host.load(choice.path, self.settings.local_context_tokens)
            log.info("loaded %s in %.1f s", choice.label, time.perf_counter() - started)
            return True
        except DesktopChatError as err:
            log.warning("loading %s failed: %s", choice.label, err)
            self.failed.emit(err.message, err.hint, False)
            return False
        finally:
            self.loading.emit("")

    def ready(self, choice: ModelChoice) -> None:
        self.ready_choice = choice
        self.model_ready.emit(choice)

    async def ready_provider(self, choice: ModelChoice):
        """The provider for ``choice`` with its local model loaded; None when the load failed
        (the window has been told why)."""
        if choice.local:
            if not await self.load(choice):  # on the window's one engine thread
                return None
            return open_provider(choice, self.settings, engine=self._engine_host.engine).provider
        name, url = choice.provider.name, choice.provider.base_url
        if getattr(self._providers.get(name), "base_url", None) != url:
            # Off the GUI thread: reading the Keychain can wait on a prompt ("… wants to use
            # your confidential information") for as long as the user takes to answer it.
            made = (await asyncio.to_thread(open_provider, choice, self.settings)).provider
            if getattr(self._providers.get(name), "base_url", None) != url:  # not made meanwhile
                self._providers[name] = made
        return self._providers[name]

    def reasoning_switches(self, choice: ModelChoice | None, conversation=None) -> Switches:
        """The thinking switches that do something for ``choice``: a local model's once it has
        loaded (its tokenizer and template say); a server's by its name, or by the thinking
        it has sent (since the app started, or in ``conversation``)."""
        if choice is None:
            return NONE
        if choice.local:
            info = self._engine_host.engine.info if self._engine_host is not None else None
            if info is None or info.path != str(choice.path):
                return NONE
            return local_switches(info.thinks, info.takes_effort)
        names = {choice.label, model_name(choice.model)}
        reasoned = choice.key in self.reasoned or any(
            m.meta.get("reasoning") and m.meta.get("model") in names
            for m in (conversation.messages if conversation is not None else ())
        )
        return remote_switches(choice.provider.base_url, choice.model, reasoned)

    def context_window(self, choice: ModelChoice | None) -> int | None:
        """The tokens a local choice answers within (None for a server's, or not known)."""
        if choice is None or not choice.local:
            return None
        window = context_length(choice.path)
        info = self._engine_host.engine.info if self._engine_host is not None else None
        if info is not None and info.path == str(choice.path):
            return info.context_length  # what the engine holds, not what the model could
        return min(window, self.settings.local_context_tokens) if window else window

    async def aclose(self) -> None:
        """Close the remote providers and stop the engine's thread. Safe to call twice."""
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            try:
                await provider.aclose()
            except Exception:  # quitting goes on; the log says what was left
                log.exception("closing the provider %s failed", getattr(provider, "name", "?"))
        if self._engine_host is not None:
            self._engine_host.stop()
            self._engine_host = None
