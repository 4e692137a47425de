"""The one bridge between the window and the core: user actions come in as method calls, the
core's answers go out as signals the window renders; the window never writes the conversation.

It holds the window's ``ChatSession``, the model state (``models``, a ``ModelHost``: the
settings, the choices on offer, the engine's thread) and what the next message is sent with
(``context``, a ``MessageContext``: the files attached, the token count), and turns each turn's
events into signals (``gui.turns``, shared with the quick prompt). What the store refuses or
cannot read is said in a banner, never raised (``guard``, a ``StoreGuard``). Every action
that waits is an asyncio task on the qasync loop, kept here and cancelled in ``aclose()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

from PySide6.QtCore import QObject, Signal

from desktop_chat.gui.message_context import MessageContext
from desktop_chat.gui.model_host import ModelHost
from desktop_chat.gui.store_guard import StoreGuard
from desktop_chat.gui.turns import Outcome, in_words, relay
from desktop_chat.models import ModelChoice
from desktop_chat.paths import AppPaths, app_paths
from desktop_chat.session import CODE_ONLY_PROMPT, ChatSession, Turn
from desktop_chat.store_files import StoreError

__all__ = ["CODE_ONLY_PROMPT", "ChatController"]

log = logging.getLogger(__name__)


class ChatController(QObject):
    # The conversation, in order: a user turn, then its reply streaming and ending.
    user_added = Signal(int, object)  # index, Message
    reply_started = Signal(int)  # the index the reply takes
    delta = Signal(str)
    thinking = Signal(str, bool)  # a piece of thought; True: the answer so far was thought
    reply_ended = Signal(dict)  # the reply's meta: stats, or interrupted / error
    failed = Signal(str, str, bool)  # message, hint, whether Retry can help
    retrying = Signal(str)  # "retrying (2 of 3) in 1 s: why", or "" once the reply comes
    tool_calls = Signal(list)  # a round of calls the reply makes (Message.tool_rounds' form)
    tool_result = Signal(dict)  # one call's result, in the same form
    notice = Signal(str, str)  # something refused (a file, a setting): message, hint
    truncated = Signal(int)  # turns from this index on are gone (edit, regenerate, retry)
    conversation_replaced = Signal(object)
    closing = Signal()  # the store closes next: save what is still to be saved (drafts)
    busy_changed = Signal(bool)
    model_changed = Signal(object)  # ModelChoice or None (what can be chosen: ``models``)
    # The store.
    history_changed = Signal()  # titles, order, a conversation added or removed
    history_listed = Signal(object)  # the conversations, read on the store's own thread
    versions_changed = Signal()  # the branch on show changed its versions
    persona_changed = Signal(object)  # personas.Persona

    def __init__(self, paths: AppPaths | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from desktop_chat.gui.downloads import Downloads
        from desktop_chat.platform.app_nap import Awake
        from desktop_chat.store import Store

        self.paths = paths or app_paths()
        self.models = ModelHost(self.paths, self)
        self.models.failed.connect(self.failed)
        self.models.notice.connect(self.notice)
        # A full disk, a read-only or locked file: the app still starts (read-only or in
        # memory), and the store's notes say why new chats are not saved.
        self.store = Store.open_anyway(self.paths.database)
        self.guard = StoreGuard(self.store, self)
        self.guard.notice.connect(self.notice)
        self.guard.repaired.connect(self._repaired)
        self.session = ChatSession(self.store, on_problem=self.guard.problem)
        self.context = MessageContext(self.session, self.models, self.spawn, self)
        self.context.notice.connect(self.notice)
        from desktop_chat.gui.tool_host import ToolHost

        #: The MCP servers and each reply's tools, every call asked of the user.
        self.tools = ToolHost(self.paths.config_file, self)
        self.tools.notice.connect(self.notice)
        #: Why the global shortcut does not work, for Settings → App ("" when it does).
        self.hotkey_note = ""
        self._turn: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.downloads = Downloads(self)
        # A reply streams at full speed into a hidden window: no App Nap while one runs.
        self.awake = Awake("Answering a message")
        self.busy_changed.connect(self.awake.set)

    conversation = property(lambda self: self.session.conversation)
    conversation_id = property(lambda self: self.session.conversation_id)
    choice = property(lambda self: self.session.choice)
    persona = property(lambda self: self.session.persona)
    code_only = property(lambda self: self.session.code_only)
    settings = property(lambda self: self.models.settings)
    busy = property(lambda self: self._turn is not None and not self._turn.done())
    #: ``with_store(what, *args, default=…)``: ``what(store, *args)``, a refusal said, not raised.
    with_store = property(lambda self: self.guard.call)

    def spawn(self, coro: Coroutine) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        """Stop everything: replies, downloads, the engine's thread. Safe to call twice."""
        self.downloads.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.tools.aclose()  # the MCP servers stop with the app
        await self.models.aclose()
        self.closing.emit()
        self.guard.close(self.session.chat)

    # --- settings and models -------------------------------------------------------------

    async def refresh(self) -> None:
        """Read settings, look for local servers and cached MLX models, offer them; the default
        model is chosen when none is yet."""
        models = self.models
        try:
            self.session.settings = await models.read_settings()
            self.tools.configure(self.settings)
            if self.settings.mcp_at_launch:
                self.spawn(self.tools.start())
            notes = await models.look(self.store.notes)
            if self.choice is None and (choice := models.pick(self.settings.default_model)):
                await self.choose(choice)
            if self.choice is not None:  # else the welcome panel lists the problems
                models.tell(notes)
            self.context.update()
        finally:
            models.looked()

    async def reload(self, *changed: str) -> None:
        """Settings changed on disk (``provider_setup``): read them again; the providers named
        ``changed`` are made afresh."""
        self.models.forget(*changed)
        await self.refresh()

    async def choose(self, choice: ModelChoice) -> None:
        """Switch models; the conversation stays. A reply still streaming is stopped first."""
        await self.stop_and_wait()
        self.session.set_model(choice)
        log.info("model chosen: %s", choice.key)
        self.model_changed.emit(choice)
        self.context.update()
        if await self.models.load(choice) and self.choice is choice:  # not replaced meanwhile
            self.models.ready(choice)

    # --- turns ---------------------------------------------------------------------------

    def send(self, text: str, replace_from: int | None = None) -> bool:
        """Add the user's turn and start the reply. False (and nothing changes) when it
        cannot be sent yet; the window then keeps the text in the composer."""
        if self.busy or not (text.strip() or self.session.pictures):
            return False
        if self.choice is None:
            self.notice.emit(
                "Choose a model first.", "Pick one from the model menu at the top of the window."
            )
            return False
        files = len(self.session.files.files)
        images = len(self.session.pictures)
        log.info(
            "sending to %s: %d characters, %d files, %d images",
            self.choice.label,
            len(text),
            files,
            images,
        )
        log.debug("message text: %r", text)
        # Written on the store's thread (a pasted 2 MB message costs its search index and
        # journal there, not a pause here), in the file before anything is sent: the turn
        # waits for it. Nothing here reads the store meanwhile: a read would wait for it.
        turn = self.session.send(text, replace_from=replace_from)
        if replace_from is not None:  # the old turn stays in the store, a version
            self.truncated.emit(replace_from)
        elif files:
            self.context.files_changed.emit([])
        if images and not self.session.pictures:  # they went with it
            self.context.pictures_changed.emit([], list(self.context.preparing))
        self.user_added.emit(turn.index - 1, self.conversation.messages[turn.index - 1])
        self.context.update()  # the meter counts the question now, not once it is answered
        self._start(turn)
        return True

    def regenerate(self) -> None:
        """Answer the last user message again, replacing the reply after it."""
        shown = len(self.conversation.messages)
        if self.busy or self.choice is None or (turn := self.session.regenerate()) is None:
            return
        if turn.index < shown:
            self.truncated.emit(turn.index)
        self._start(turn)

    retry = regenerate

    def stop(self) -> None:
        if self.busy:
            self._turn.cancel()

    async def stop_and_wait(self) -> None:
        if self.busy:
            self._turn.cancel()
            await asyncio.gather(self._turn, return_exceptions=True)

    def _start(self, turn: Turn) -> None:
        # Said at once, not when the task first runs: the Send button turns into Stop now.
        self.busy_changed.emit(True)
        self.reply_started.emit(turn.index)
        self._turn = self.spawn(self._run_turn(turn))
        # A turn stopped before its first step skips its own ``finally``: ended here.
        self._turn.add_done_callback(
            lambda task: getattr(task, "ran", False) or self._ended(turn, Outcome())
        )

    async def _run_turn(self, turn: Turn) -> None:
        asyncio.current_task().ran = True
        note = None
        try:
            with in_words(turn.choice.label) as outcome:
                await turn.keeper.saved()  # the question is in the file before it is sent
                self._list_later()  # the sidebar shows the new chat once it is written
                provider = await self.models.ready_provider(turn.choice)
                if provider is None:  # the load failed, and the window has been told why
                    turn.fail("the model could not be loaded")
                else:  # saved at least once a second as it streams
                    await self._offer_tools(turn, provider)
                    note = await relay(
                        turn,
                        provider,
                        self.delta.emit,
                        self.retrying.emit,
                        self.thinking.emit,
                        lambda event: self._tool_event(turn, event),
                    )
        finally:
            self._ended(turn, outcome, note)

    async def _offer_tools(self, turn: Turn, provider) -> None:
        """The MCP servers' tools for a model that takes tools (servers started on first
        use, said on the reply's line meanwhile); each call waits for the user's approval."""
        if not getattr(provider, "takes_tools", False) or self.tools.servers is None:
            return
        self.retrying.emit("starting the tools…")
        try:
            turn.tools = await self.tools.toolbox()
        finally:
            self.retrying.emit("")
        turn.approve = self.tools.approve

    def _tool_event(self, turn: Turn, event) -> None:
        from desktop_chat.events import ToolCallRequest
        from desktop_chat.gui.tool_host import call_rows, result_row

        if isinstance(event, ToolCallRequest):
            self.tool_calls.emit(call_rows(event.calls, turn.tools))
        else:
            self.tool_result.emit(result_row(event.result))

    def _ended(self, turn: Turn, outcome: Outcome, note: tuple[str, str] | None = None) -> None:
        if outcome.failure is not None and not turn.ran:  # before the model was asked
            turn.fail(outcome.reason)
        turn.end()  # stopped: what arrived is kept, marked as stopped
        self.reply_ended.emit(turn.meta)
        if outcome.failure is not None:
            self.failed.emit(*outcome.failure, True)
        self.context.update(trimmed=note)
        self.busy_changed.emit(False)
        self.history_changed.emit()
        self.versions_changed.emit()

    def new_chat(self) -> None:
        self.stop()
        self.session.new()
        self.conversation_replaced.emit(self.conversation)
        self.context.update()

    def edit_text(self, index: int) -> str:
        return self.session.edit_text(index)

    def set_code_only(self, on: bool) -> None:
        self.session.code_only = on
        self.context.update()

    # --- the store -----------------------------------------------------------------------

    def _list_later(self, limit: int = 500) -> None:
        """The sidebar's list, read on the store's thread and shown when read: just after a
        2 MB question is written, the store's lock may still be held there (its journal, the
        draft it replaces), and a read here would wait for it with the window stopped."""
        store = self.store

        def shown(future) -> None:
            try:
                found = future.result()
            except StoreError as err:  # said in the banner; the list stays as it was
                self.guard.refused(err)
                return
            self.history_listed.emit(found)

        future = store.later(store.conversations, limit)
        asyncio.wrap_future(future).add_done_callback(shown)

    def conversations(self, limit: int = 500) -> list | None:
        """Pinned first, then the newest; None when they cannot be read (a banner says why)."""
        return self.with_store(type(self.store).conversations, limit)

    def search(self, text: str) -> list:
        return self.with_store(type(self.store).search, text, default=[])

    def versions(self, index: int) -> tuple[int, int]:
        return self.session.versions(index)

    def personas(self) -> list:
        return self.session.library.personas()

    def templates(self) -> list:
        return self.session.library.templates()

    def _repaired(self) -> None:
        """The store is a repaired copy of its damaged file: the chat on show is written again
        where the copy lacks it, and the sidebar shows the copy."""
        self.session.chat.repaired()
        self.history_changed.emit()

    async def open_conversation(self, conversation_id: int, message_id: int = 0) -> int | None:
        """Show a stored conversation, with its persona; with ``message_id`` (a search hit),
        the branch that holds it. Returns that message's index to scroll to (None also when
        the conversation cannot be read: a banner says why, and the one on show stays)."""
        await self.stop_and_wait()
        session, refused = self.session, self.guard.refused  # a hit's branch refused: it stays
        opened = self.with_store(lambda _: [session.open(conversation_id, message_id, refused)])
        if opened is None:
            return None
        self.persona_changed.emit(self.persona)
        self._replaced()
        self.history_changed.emit()
        return opened[0]

    async def show_version(self, index: int, step: int) -> None:
        """‹ and ›: the previous or next version of message ``index`` and what followed it."""
        await self.stop_and_wait()
        if self.with_store(lambda _: self.session.show_version(index, step), default=False):
            self._replaced()

    def _replaced(self) -> None:
        self.conversation_replaced.emit(self.conversation)
        self.versions_changed.emit()
        self.context.update()

    # --- personas ------------------------------------------------------------------------

    async def set_persona(self, name: str) -> None:
        """Use a persona from now on in this conversation; its model, if it names one."""
        self.with_store(lambda _: self.session.set_persona(self.session.library.persona(name)))
        self.persona_changed.emit(self.persona)
        self.context.update()
        if model := self.persona.model:
            if (choice := self.models.pick(model)) is None:
                self.notice.emit(
                    f"The persona's model {model} is not available.",
                    "Edit the persona, or choose a model from the menu.",
                )
            elif self.choice is None or choice.key != self.choice.key:
                await self.choose(choice)

    def persona_edited(self) -> None:
        """The personas changed (Manage personas…): the one in use follows its edit."""
        self.session.persona = self.session.library.persona(self.persona.name)
        self.persona_changed.emit(self.persona)
