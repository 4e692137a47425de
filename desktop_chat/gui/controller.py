"""The one bridge between the window and the core: user actions come in as method calls, the
core's answers go out as signals the window renders. The window never writes the conversation.

Every action that waits runs as an asyncio task on the qasync loop; the controller keeps a
strong reference to each and cancels them all in ``aclose()``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Coroutine
from contextlib import aclosing
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from desktop_chat import catalog
from desktop_chat.config import LoadedSettings, Settings
from desktop_chat.context import ContextError, ContextFiles, estimate_tokens, read_file
from desktop_chat.conversation import Conversation
from desktop_chat.errors import DesktopChatError
from desktop_chat.events import Finished, Retrying, TextDelta
from desktop_chat.gui.controller_settings import SettingsActions
from desktop_chat.gui.controller_store import StoreActions
from desktop_chat.history import StoredChat
from desktop_chat.hub import context_length
from desktop_chat.models import ModelChoice, local_choice, open_provider
from desktop_chat.params import GenerationParams
from desktop_chat.paths import AppPaths, app_paths

log = logging.getLogger(__name__)

CODE_ONLY_PROMPT = (
    "Answer with code only: one or more fenced code blocks, each with its language. "
    "Put any explanation in code comments, not in prose."
)


class ChatController(StoreActions, SettingsActions, QObject):
    # The conversation, in order: a user turn, then its reply streaming and ending.
    user_added = Signal(int, object)  # index, Message
    reply_started = Signal(int)  # the index the reply takes
    delta = Signal(str)
    reply_ended = Signal(dict)  # the reply's meta: stats, or interrupted / error
    failed = Signal(str, str, bool)  # message, hint, whether Retry can help
    retrying = Signal(str)  # "retrying (2 of 3) in 1 s: why", or "" once the reply comes
    notice = Signal(str, str)  # something refused (a file, a setting): message, hint
    truncated = Signal(int)  # turns from this index on are gone (edit, regenerate, retry)
    conversation_replaced = Signal(object)
    closing = Signal()  # the store closes next: save what is still to be saved (drafts)
    busy_changed = Signal(bool)
    settings_loaded = Signal()  # before models are looked for: the hotkey needs no model
    # Models.
    choices_changed = Signal(list)
    model_changed = Signal(object)  # ModelChoice or None
    model_ready = Signal(object)  # the chosen model can answer now (a local one has loaded)
    started = Signal()  # the first look for settings and models is over
    loading = Signal(str)  # "Loading …" while a local model loads, "" when done
    reach_changed = Signal(list, set, str)  # servers found, downloaded repos, notes
    download_progress = Signal(object)  # hub.DownloadProgress
    download_ended = Signal(str, str)  # "" on success, else message and hint
    # The store.
    history_changed = Signal()  # titles, order, a conversation added or removed
    versions_changed = Signal()  # the branch on show changed its versions
    persona_changed = Signal(object)  # personas.Persona
    # Context.
    files_changed = Signal(list)
    context_changed = Signal(int, object, dict)  # used, window or None, parts

    _progress_relay = Signal(object)  # from the download's worker threads
    _store_relay = Signal(object)  # from the store's check thread: a damaged file repaired

    def __init__(self, paths: AppPaths | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths = paths or app_paths()
        self.loaded = LoadedSettings(Settings(), [], [])
        self.store = self._open_store()
        self.chat = StoredChat(self.store, on_problem=self.store_problem)
        self._store_relay.connect(self._relay_store_news)
        self.store.listen(self._store_relay.emit)
        from desktop_chat.personas import DEFAULT, Library

        self.library = Library(self.store)
        self.persona = DEFAULT
        self.files = ContextFiles()
        #: Drops whose files are still being read: a message sent meanwhile waits for them.
        self.reading_files = 0
        self.choices: list[ModelChoice] = []
        self.choice: ModelChoice | None = None
        #: The choice that finished loading: until it is ``choice``, a message waits.
        self.ready_choice: ModelChoice | None = None
        #: True once the first ``refresh()`` is over, whatever it found.
        self.has_started = False
        self._told: list[str] = []
        self.code_only = False
        #: Why the global shortcut does not work, for Settings → App ("" when it does).
        self.hotkey_note = ""
        self.discovered: list = []
        self.cached: list = []
        self._providers: dict[str, object] = {}
        self._engine_host = None
        self._turn: asyncio.Task | None = None
        #: The conversation already told that its oldest turns are left out of replies (its
        #: store id; 0 for none yet, as no stored conversation has it).
        self._trimmed_told: int | None = 0
        self._tasks: set[asyncio.Task] = set()
        self._download_cancel: threading.Event | None = None
        self._progress_relay.connect(self._relay_progress)
        from desktop_chat.platform.app_nap import Awake

        # A reply streams at full speed into a hidden window: no App Nap while one runs.
        self.awake = Awake("Answering a message")
        self.busy_changed.connect(self.awake.set)

    def _open_store(self):
        from desktop_chat.store import Store

        # A full disk, a read-only or locked file: the app still starts (read-only or in
        # memory), and the store's notes say why new chats are not saved.
        return Store.open_anyway(self.paths.database)

    @property
    def conversation(self) -> Conversation:
        return self.chat.conversation

    # --- tasks ---------------------------------------------------------------------------

    def spawn(self, coro: Coroutine) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def busy(self) -> bool:
        return self._turn is not None and not self._turn.done()

    async def aclose(self) -> None:
        """Stop everything: replies, downloads, the engine's thread. Safe to call twice."""
        if self._download_cancel is not None:
            self._download_cancel.set()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for provider in self._providers.values():
            try:
                await provider.aclose()
            except Exception:  # quitting goes on; the log says what was left
                log.exception("closing the provider %s failed", getattr(provider, "name", "?"))
        self._providers.clear()
        if self._engine_host is not None:
            self._engine_host.stop()
            self._engine_host = None
        self.closing.emit()
        if not self.chat.flush():  # a chat left while the disk was full, still refused
            why = self.chat.problem or "the store refused them"
            log.warning("%d conversations could not be saved before quitting: %s",
                        self.chat.unsaved, why)  # fmt: skip
        self.store.close()

    # --- settings and models -------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    async def refresh(self) -> None:
        """Read settings, look for local servers and cached MLX models, offer them."""
        try:
            await self._refresh()
        finally:
            if not self.has_started:
                self.has_started = True
                self.started.emit()

    async def _refresh(self) -> None:
        from desktop_chat.config import load_settings
        from desktop_chat.hub import cached_models
        from desktop_chat.providers.discovery import discover, local_servers

        self.loaded = await asyncio.to_thread(load_settings, self.paths)
        from desktop_chat import logs

        logs.set_debug(self.settings.debug_log)
        log.info("settings read from %s: %d providers, %d problems",
                 [str(p) for p in self.loaded.sources], len(self.settings.providers),
                 len(self.loaded.errors))  # fmt: skip
        for err in self.loaded.errors:
            log.warning("settings: %s", err)
        self.settings_loaded.emit()
        self.discovered, self.cached = await asyncio.gather(
            discover(local_servers(self.settings)), asyncio.to_thread(cached_models)
        )
        log.info("local servers found: %s; MLX models in the cache: %d",
                 [s.name for s in self.discovered] or "none", len(self.cached))  # fmt: skip
        self.choices = catalog.build(self.settings, self.discovered, self.cached)
        self.choices_changed.emit(self.choices)
        notes = [str(err) for err in self.loaded.errors] + self.store.notes
        found = [c for c in self.choices if c.provider is not None
                 and c.provider.name in {s.name for s in self.discovered}]  # fmt: skip
        downloaded = {m.repo_id for m in self.cached}
        self.reach_changed.emit(found, downloaded, "\n".join(notes))
        if self.choice is None:
            default = self.settings.default_model
            choice = catalog.pick(self.choices, default, self.settings, self.discovered)
            if choice:
                await self.choose(choice)
        if self.choice is not None:
            self._tell_problems(notes)
        self._update_context()

    def _tell_problems(self, notes: list[str]) -> None:
        """Settings and store problems, in a banner when the welcome panel (which lists them)
        is not on show; each set of problems once, and again only when it changes."""
        if notes and notes != self._told:
            if len(notes) == 1:
                self.notice.emit(notes[0], "")
            else:
                self.notice.emit(f"{len(notes)} problems were found:", "\n".join(notes))
        self._told = notes

    async def choose(self, choice: ModelChoice) -> None:
        """Switch models; the conversation stays. A reply still streaming is stopped first."""
        await self.stop_and_wait()
        self.choice = choice
        log.info("model chosen: %s", choice.key)
        self.model_changed.emit(choice)
        self._update_context()
        if choice.local and not await self._load_local(choice):
            return
        if self.choice is choice:  # not replaced by another choice while it loaded
            self.ready_choice = choice
            self.model_ready.emit(choice)

    async def _load_local(self, choice: ModelChoice) -> bool:
        """Load the model's weights once; a longer conversation (or one opened later) grows its
        context on the engine's thread at each reply, memory-checked again there
        (``engine.grown_context``)."""
        host = self._engine()
        info = host.engine.info
        if info is not None and info.path == str(choice.path):
            return True
        size = f" ({choice.size_bytes / 1e9:.1f} GB)" if choice.size_bytes >= 1e8 else ""
        self.loading.emit(f"Loading {choice.label}{size}…")
        started = time.perf_counter()
        try:
            await host.load(choice.path, self.settings.local_context_tokens)
            log.info("loaded %s in %.1f s", choice.label, time.perf_counter() - started)
            return True
        except DesktopChatError as err:
            log.warning("loading %s failed: %s", choice.label, err)
            self.failed.emit(err.message, err.hint, False)
            return False
        finally:
            self.loading.emit("")

    def _engine(self):
        if self._engine_host is None:
            from desktop_chat.gui.engine_thread import EngineThread

            self._engine_host = EngineThread(self)
            self._engine_host.start()
        return self._engine_host

    async def _provider(self, choice: ModelChoice):
        if choice.local:
            # On the window's one engine thread. Loaded for the setting, not the open
            # conversation's length: the engine counts what each reply really sends (the quick
            # prompt's chat too) and grows the context for it.
            return open_provider(choice, self.settings, engine=self._engine().engine).provider
        ps = choice.provider
        cached = self._providers.get(ps.name)
        if cached is not None and cached.base_url == ps.base_url:
            return cached
        # Off the GUI thread: reading the Keychain can wait on a prompt ("… wants to use your
        # confidential information") for as long as the user takes to answer it.
        provider = (await asyncio.to_thread(open_provider, choice, self.settings)).provider
        cached = self._providers.get(ps.name)  # made by another turn meanwhile
        if cached is not None and cached.base_url == ps.base_url:
            return cached
        self._providers[ps.name] = provider
        return provider

    async def ready_provider(self, choice: ModelChoice):
        """The provider for ``choice`` with its local model loaded; None when the load failed
        (the window has been told why)."""
        provider = await self._provider(choice)
        if choice.local and not await self._load_local(choice):
            return None
        return provider

    def params(self) -> GenerationParams:
        model_params = self.choice.params if self.choice else GenerationParams()
        params = self.persona.params.over(model_params).over(self.settings.defaults)
        if self.persona.system_prompt:  # the persona's prompt replaces the default one
            params = params.replace(system_prompt=self.persona.system_prompt)
        if self.code_only:
            base = params.system_prompt or ""
            params = params.replace(system_prompt=f"{base}\n\n{CODE_ONLY_PROMPT}".strip())
        return params

    # --- turns ---------------------------------------------------------------------------

    def send(self, text: str, replace_from: int | None = None) -> bool:
        """Add the user's turn and start the reply. False (and nothing changes) when it
        cannot be sent yet; the window then keeps the text in the composer."""
        if self.busy or not text.strip():
            return False
        if self.choice is None:
            self.notice.emit("Choose a model first.",
                             "Pick one from the model menu at the top of the window.")  # fmt: skip
            return False
        attached = ""
        files = [{"name": f.name, "size_bytes": f.size_bytes, "tokens": f.tokens}
                 for f in self.files.files]  # fmt: skip
        if replace_from is not None:
            old = self.conversation.messages[replace_from]
            attached = str(old.meta.get("attached", ""))
            files = list(old.meta.get("files", []))
            self.chat.truncate(replace_from)  # the old turn stays in the store, a version
            self.truncated.emit(replace_from)
        elif self.files.files:
            attached = self.files.prompt_with("")
            self.files.clear()
            self.files_changed.emit([])
        meta = {"display": text, "files": files, "attached": attached} if files else {}
        log.info("sending to %s: %d characters, %d files", self.choice.label, len(text),
                 len(files))  # fmt: skip
        log.debug("message text: %r", text)
        # Written on the store's thread (a pasted 2 MB message costs its search index and
        # journal there, not a pause here), and saved before anything is sent: the turn waits
        # for it first (``_run_turn``). Nothing here reads the store meanwhile: a read would
        # wait for that write.
        persona = self.persona.name if self.persona.name != "Default" else None
        message = self.chat.add_user(text + attached, self.choice.label, persona=persona, **meta)
        self.user_added.emit(len(self.conversation.messages) - 1, message)
        self._start_turn()
        return True

    def regenerate(self) -> None:
        """Answer the last user message again, replacing the reply after it."""
        if self.busy or self.choice is None:
            return
        messages = self.conversation.messages
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
        if last_user is None:
            return
        if last_user + 1 < len(messages):
            self.chat.truncate(last_user + 1)
            self.truncated.emit(last_user + 1)
        self._start_turn()

    retry = regenerate

    def stop(self) -> None:
        if self.busy:
            self._turn.cancel()

    async def stop_and_wait(self) -> None:
        if self.busy:
            self._turn.cancel()
            await asyncio.gather(self._turn, return_exceptions=True)

    def _start_turn(self) -> None:
        # Said at once, not when the task first runs: the Send button turns into Stop now.
        index = len(self.conversation.messages)
        provider = self.choice.provider.name if self.choice.provider else "mlx"
        self.chat.reply_started(self.choice.label, provider, self.params().to_dict())
        self.busy_changed.emit(True)
        self.reply_started.emit(index)
        self._turn = self.spawn(self._run_turn(index))
        self._turn.add_done_callback(lambda task: self._never_ran(task, index))

    def _never_ran(self, task: asyncio.Task, index: int) -> None:
        """A turn stopped before its first step skips its own ``finally``: end it here."""
        if not getattr(task, "ran", False):
            self.chat.reply_ended()  # once the question's write is done
            self.reply_ended.emit({"interrupted": True})
            self.busy_changed.emit(False)
            self.history_changed.emit()

    async def _run_turn(self, index: int) -> None:
        asyncio.current_task().ran = True
        choice = self.choice
        ended = False
        try:
            await self.chat.saved()  # the question is in the file before anything is sent
            self.history_changed.emit()  # the sidebar reads the store once it is written
            provider = await self.ready_provider(choice)
            if provider is None:  # the load failed, and the window has been told why
                ended = True
                self.reply_ended.emit(_failed(choice, "the model could not be loaded"))
                return
            # Saved at least once a second as it streams: a crash loses at most the last second.
            turn = self.chat.stream(provider, choice.model, self.params())
            retried, note = False, None
            async with aclosing(turn) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        if retried:  # the reply came: the note has done its work
                            retried = False
                            self.retrying.emit("")
                        self.delta.emit(event.text)
                    elif isinstance(event, Retrying):
                        retried = True
                        log.info("reply from %s: %s", choice.label, event.note())
                        self.retrying.emit(event.note())
                    elif isinstance(event, Finished):
                        note = event.context_note()  # the oldest turns were left out: why
            ended = True
            meta = self._reply_meta(index)
            log.info("reply from %s: %s", choice.label, _timings(meta))
            log.debug("reply text: %r", self.conversation.messages[-1].content)
            self.reply_ended.emit(meta)
            self._tell_trimmed(note)
        except DesktopChatError as err:
            ended = True
            log.warning("reply from %s failed: %s", choice.label, err)
            self.reply_ended.emit(self._reply_meta(index) or _failed(choice, err.message))
            self.failed.emit(err.message, err.hint, True)
        except Exception:  # a bug: said in the window and logged with its traceback
            ended = True
            log.exception("reply from %s failed unexpectedly", choice.label)
            self.reply_ended.emit(self._reply_meta(index) or _failed(choice, "an unexpected error"))
            self.failed.emit("Something went wrong while answering.",
                             "Retry; if it happens again, the log (menu-bar icon → Show Log) "
                             "says what.", True)  # fmt: skip
        finally:
            self.chat.reply_ended()  # when the stream never began (a model that failed to load)
            if not ended:  # stopped: keep what arrived, marked as stopped
                self.reply_ended.emit(self._reply_meta(index) or {"interrupted": True})
            self._update_context()
            self.busy_changed.emit(False)
            self.history_changed.emit()
            self.versions_changed.emit()

    def _tell_trimmed(self, note: tuple[str, str] | None) -> None:
        """Say once per conversation why its oldest turns no longer reach the model (each
        reply's line still counts them), and what to do about it."""
        if note is not None and self._trimmed_told != self.chat.conversation_id:
            self._trimmed_told = self.chat.conversation_id
            log.info("context full: %s", note[0])
            self.notice.emit(*note)

    def _reply_meta(self, index: int) -> dict:
        messages = self.conversation.messages
        if len(messages) > index and messages[index].role == "assistant":
            meta = dict(messages[index].meta)
            meta.setdefault("model", self.choice.label if self.choice else "")
            return meta
        return {}

    def new_chat(self) -> None:
        self.stop()
        self.chat.new()
        self.conversation_replaced.emit(self.conversation)
        self._update_context()

    def edit_text(self, index: int) -> str:
        message = self.conversation.messages[index]
        return str(message.meta.get("display", message.content))

    # --- files ---------------------------------------------------------------------------

    def attach_files(self, paths: list[str | Path]) -> None:
        """Read dropped or chosen files off the GUI thread. Counted as being read from now,
        before the read starts: Enter pressed at once must already wait for them."""
        self.reading_files += 1
        self.spawn(self.add_files(paths, counted=True))

    async def add_files(self, paths: list[str | Path], counted: bool = False) -> None:
        refused: list[str] = []
        if not counted:
            self.reading_files += 1
        try:
            for path in paths:
                try:
                    file = await asyncio.to_thread(read_file, path)
                    self.files.add(file)
                except ContextError as err:
                    refused.append(f"{err.message} {err.hint}".strip())
        finally:
            self.reading_files -= 1
        self.files_changed.emit(list(self.files.files))
        self._update_context()
        if refused:
            count = "1 file was" if len(refused) == 1 else f"{len(refused)} files were"
            self.notice.emit(f"{count} not added to the context.", "\n".join(refused))

    def remove_file(self, name: str) -> None:
        self.files.remove(name)
        self.files_changed.emit(list(self.files.files))
        self._update_context()

    def set_code_only(self, on: bool) -> None:
        self.code_only = on
        self._update_context()

    def _update_context(self) -> None:
        system = self.params().system_prompt or ""
        parts = {
            "system prompt": estimate_tokens(system),
            "history": sum(estimate_tokens(m.content) for m in self.conversation.messages),
            "files": self.files.tokens,
        }
        window = None
        if self.choice is not None and self.choice.local:
            window = context_length(self.choice.path)
            info = self._engine_host.engine.info if self._engine_host is not None else None
            if info is not None and info.path == str(self.choice.path):
                window = info.context_length  # what the engine holds, not what the model could
            elif window:
                window = min(window, self.settings.local_context_tokens)
        self.context_changed.emit(sum(parts.values()), window, parts)

    # --- downloads and providers ---------------------------------------------------------

    async def download(self, repo: str) -> Path | None:
        """Download (or find in the cache) an MLX model, then switch to it."""
        from desktop_chat.hub import download
        from desktop_chat.platform import app_nap

        self._download_cancel = cancel = threading.Event()
        try:
            with app_nap.activity("Downloading a model"):  # full speed with the window hidden
                folder = await asyncio.to_thread(download, repo.strip(),
                                                 self._progress_relay.emit, cancel)  # fmt: skip
        except DesktopChatError as err:
            self.download_ended.emit(err.message, err.hint)
            return None
        finally:
            self._download_cancel = None
        self.download_ended.emit("", "")
        choice = local_choice(Path(folder), repo.strip())
        await self.refresh()
        await self.choose(catalog.find(self.choices, choice.key) or choice)
        return Path(folder)

    @Slot(object)
    def _relay_store_news(self, news) -> None:
        self.store_news(news)

    @Slot(object)
    def _relay_progress(self, progress) -> None:
        self.download_progress.emit(progress)

    def cancel_download(self) -> None:
        if self._download_cancel is not None:
            self._download_cancel.set()


def _failed(choice: ModelChoice, reason: str) -> dict:
    """The meta of a reply that failed before any text: said as "failed", with why."""
    return {"model": choice.label, "failed": True, "error": reason}


def _timings(meta: dict) -> str:
    """A reply's figures for the log: never its text."""
    usage = meta.get("usage") or {}
    figures = {"ttft_s": meta.get("ttft_s"), "tokens_per_s": meta.get("tokens_per_s"),
               "total_s": meta.get("total_s"), "tokens": usage.get("completion_tokens"),
               "finish": meta.get("finish_reason")}  # fmt: skip
    figures = ", ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in figures.items()
        if v is not None
    )
    return figures or ("stopped" if meta.get("interrupted") else "no figures")
