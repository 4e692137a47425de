"""Where a turn happens: ``ChatSession`` holds one conversation and what its next reply is asked
with (model, persona, code only, files, the caller's own parameters), and makes each ``Turn``.

The window's controller, the quick prompt, ``llmchat`` and the Python API all drive a session;
none of them joins the reply's pieces or writes the store. A turn's events stream to whoever
drives it, and the reply it ended with is the turn's own (``Turn.reply``), never read back from
a shared conversation: ⌘N or opening another chat mid-reply cannot take it elsewhere.

The user's message joins the conversation (and, with a store, the file) before anything is sent,
so a failure never loses it; a reply that stops mid-way (an error, Stop, Ctrl+C) is kept with
``interrupted`` set and the text that had arrived.

With a toolbox (``ChatSession.tools``) and a provider that takes tools, a turn that the model
ends asking for tools runs each call (``approve`` asked first, Stop cancels it), sends the
results back and asks again, for at most ``[app] tool_rounds`` rounds; the reply keeps its
calls and results (``Message.tool_rounds``), sent back in later turns.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from desktop_chat.conversation import Conversation, Message, tool_messages
from desktop_chat.errors import ProviderError
from desktop_chat.events import (
    Event,
    Finished,
    ReasoningDelta,
    TextDelta,
    ToolCallRequest,
    ToolResultEvent,
    Usage,
)
from desktop_chat.model_names import model_name
from desktop_chat.params import REASONING, GenerationParams
from desktop_chat.providers.base import CONVERSATION

if TYPE_CHECKING:
    from desktop_chat.config import Settings
    from desktop_chat.models import ModelChoice
    from desktop_chat.personas import Library, Persona
    from desktop_chat.picture import Picture
    from desktop_chat.providers.base import Provider
    from desktop_chat.store import Store, StoreError
    from desktop_chat.tools import Approve, Toolbox, ToolCall, ToolResult

log = logging.getLogger(__name__)

#: Added to the system prompt while code only is on, in every client alike.
CODE_ONLY_PROMPT = (
    "Answer with code only: one or more fenced code blocks, each with its language. "
    "Put any explanation in code comments, not in prose."
)


class Unsaved:
    """A conversation kept in memory only: what a session without a store keeps its turns in
    (``LLMChat`` without ``store=``, one-off questions). The same calls as ``StoredChat``."""

    problem = None
    conversation_id = None

    def __init__(self, system_prompt: str = "") -> None:
        self.conversation = Conversation(system_prompt)
        self._home: Conversation | None = None

    def add_user(
        self,
        content: str,
        model: str | None = None,
        *,
        persona: str | None = None,
        images: list[Picture] | None = None,
        **meta: Any,
    ) -> Message:
        return self.conversation.add_user(content, images, **meta)

    def truncate(self, index: int) -> None:
        self.conversation.truncate(index)

    def new(self) -> None:
        self.conversation = Conversation(self.conversation.system_prompt)

    def reply_started(self, *_: Any) -> Conversation:
        self._home = self.conversation
        return self._home

    async def saved(self) -> None:
        return None

    def reply_progress(self, parts: list[str]) -> bool:
        return False

    def reply_ended(self, reply: Message | None) -> None:
        home, self._home = self._home, None
        if reply is not None and home is not None:
            home.messages.append(reply)

    def flush(self) -> bool:
        return True


#: The request after the last round allowed: the model answers from what it has.
ROUNDS_USED = (
    "You have used the {n} rounds of tool calls allowed for one reply. Answer now from what "
    "the tools returned, without calling any tool."
)
#: What a call cut short by Stop answers, so the history stays one the model can be sent.
STOPPED_CALL = "The user stopped this call before it finished."


def _result(result: ToolResult) -> dict[str, Any]:
    return {
        "call_id": result.call_id,
        "name": result.name,
        "content": result.content,
        "is_error": result.is_error,
        "seconds": round(result.seconds, 3),
    }


async def _deny_all(tool: Any, arguments: dict[str, Any]) -> Any:
    """No client said how to ask: nothing runs unasked."""
    from desktop_chat.tools import Approval

    return Approval.DENY


class Turn:
    """One reply of a session's model: ``events(provider)`` streams it (and raises the
    provider's error, as the provider does), then ``reply`` is the message it ended with —
    finished, stopped with its partial text, or failed (None when nothing arrived). Ended
    exactly once, however it goes (``end``), also when it never ran.

    With ``tools`` (and a provider that takes them): each request that ends asking for tools
    is one round; its calls run one by one through ``tools.call`` (``approve`` asked first),
    then the model is asked again with the results; after ``max_rounds`` rounds it is asked
    once more without tools. Its clients see ``ToolCallRequest`` and a ``ToolResultEvent``
    per call between the text, and one ``Finished``, the last (usage summed over rounds)."""

    def __init__(
        self,
        keeper: Any,
        choice: ModelChoice,
        params: GenerationParams,
        *,
        tools: Toolbox | None = None,
        approve: Approve | None = None,
        max_rounds: int = 8,
        tool_timeout_s: float | None = 60.0,
        max_side: int | None = None,
    ) -> None:
        self.keeper = keeper
        self.choice = choice
        self.params = params
        self.tools = tools
        self.approve = approve or _deny_all
        self.max_rounds = max_rounds
        self.tool_timeout_s = tool_timeout_s
        #: The longest side of an image the model is sent (``image_sizes.side_for``): one
        #: attached for another model, or earlier in the conversation, is scaled down to it.
        self.max_side = max_side
        #: The rounds of tool calls so far (``Message.tool_rounds``' form).
        self.rounds: list[dict[str, Any]] = []
        #: Seconds the calls waited for the user's approval: left out of the reply's time.
        self.waited_s = 0.0
        #: Where the reply goes in its conversation.
        self.index = len(keeper.conversation.messages)
        #: The reply's answer so far, in pieces: the one place they are collected.
        self.parts: list[str] = []
        #: Its thinking (a reasoning model's), apart: never in the answer, never sent back.
        self.thought: list[str] = []
        self.finished: Finished | None = None
        self.reply: Message | None = None
        self.error: BaseException | None = None
        #: Why the turn failed before asking the model ("" when it did not).
        self.failure = ""
        self.ran = False
        self.ended = False
        provider = choice.provider.name if choice.provider else "mlx"
        # The conversation the reply belongs to, as it is now (⌘N mid-reply shows another).
        self.home = keeper.reply_started(choice.label, provider, params.to_dict())

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.thought)

    def _kept(self, **meta: Any) -> Message:
        """The reply as its conversation keeps it: the answer, with the thinking in its meta."""
        if self.thought:
            meta["reasoning"] = self.reasoning
        rounds = [dict(step, results=list(step["results"])) for step in self.rounds]
        return Message("assistant", meta.pop("text", self.text), meta, tool_rounds=rounds)

    @property
    def meta(self) -> dict[str, Any]:
        """What the reply's figures line shows: its stats, or that it stopped or failed."""
        if self.reply is not None:
            meta = dict(self.reply.meta)
            meta.setdefault("model", self.choice.label)
            return meta
        if self.failure or self.error is not None:
            reason = self.failure or getattr(self.error, "message", "an unexpected error")
            return {"model": self.choice.label, "failed": True, "error": reason}
        return {"interrupted": True}

    async def events(self, provider: Provider) -> AsyncIterator[Event]:
        """The provider's events for the conversation up to the user's message, which is in
        the file first; the reply saved at least once a second as it streams."""
        self.ran = True
        choice, params = self.choice, self.params
        try:
            await self.keeper.saved()  # the question is in the file before it is sent
            home = self.home if self.home is not None else self.keeper.conversation
            home = await _fitted(home, self.max_side)
            messages = home.to_api(system_prompt=params.system_prompt)
            # Which conversation this is, for the local engine's prompt caches.
            cid = self.keeper.conversation_id
            CONVERSATION.set(None if cid is None else str(cid))
            tools = self.tools if self.tools and getattr(provider, "takes_tools", False) else None
            started, figures = time.perf_counter(), []
            while True:
                offered = tools is not None and len(self.rounds) < self.max_rounds
                sent = messages + tool_messages(self.rounds)
                if tools is not None and not offered:
                    # As the user's words: many templates refuse a system message that is
                    # not the first one.
                    sent.append({"role": "user", "content": ROUNDS_USED.format(n=len(self.rounds))})
                kwargs = {"tools": tools.to_api()} if offered else {}
                calls: tuple = ()
                stream = provider.stream(sent, choice.model, params, **kwargs)
                async with aclosing(stream) as events:
                    async for event in events:
                        if isinstance(event, TextDelta):
                            self.parts.append(event.text)
                            self.keeper.reply_progress(self.parts)
                        elif isinstance(event, ReasoningDelta):
                            if event.was_answer:  # what streamed as the answer was thinking
                                self.parts.clear()
                            self.thought.append(event.text)
                        elif isinstance(event, ToolCallRequest):
                            # Said below, with its round, if it is run; calls no tool was
                            # offered for (a server inventing them) end nothing.
                            calls = event.calls if tools is not None else ()
                            continue
                        elif isinstance(event, Finished):
                            figures.append(event)
                            if calls:
                                continue  # not the reply's end: the calls are run first
                            event = _whole(figures, started + self.waited_s)
                            self.finished = event
                            # Kept (and shown) by the model's name, not the server's path.
                            meta = {**event.as_metadata(), "model": model_name(event.model)}
                            self.reply = self._kept(**meta)
                        yield event
                if not calls:
                    return
                if not offered:  # asked to answer, it asked for tools again: the turn ends
                    note = (
                        f"[The model asked for more tools after {len(self.rounds)} rounds of "
                        "tool calls; they were not run. Ask again, or allow more rounds with "
                        "[app] tool_rounds in the settings.]"
                    )
                    text = f"\n\n{note}" if self.text else note
                    self.parts.append(text)
                    yield TextDelta(text)
                    event = _whole(figures, started + self.waited_s)
                    self.finished = event
                    meta = {**event.as_metadata(), "model": model_name(event.model)}
                    self.reply = self._kept(**meta, tool_limit=True)
                    yield event
                    return
                async with aclosing(self._run(calls)) as run:  # Stop closes it at once
                    async for event in run:
                        yield event
        except ProviderError as err:
            self.error = err
            partial = err.partial_text or self.text
            if partial or self.rounds:
                self.reply = self._kept(
                    text=partial,
                    model=model_name(choice.model),
                    provider=provider.name,
                    interrupted=True,
                    error=str(err),
                )
            raise
        except BaseException as err:
            if not isinstance(err, GeneratorExit):
                self.error = err if isinstance(err, Exception) else None
            raise
        finally:
            if self.reply is None and (self.parts or self.thought or self.rounds):  # stopped
                self.reply = self._kept(
                    model=model_name(choice.model), provider=provider.name, interrupted=True
                )
            self.end()

    async def _run(self, calls: tuple[ToolCall, ...]) -> AsyncIterator[Event]:
        """One round: the calls, each approved then run in turn, their results said; the text
        the model said before them is the round's. Stop mid-round answers every call not yet
        answered as stopped (a request may never carry a call without its result)."""
        number = len(self.rounds) + 1
        yield ToolCallRequest(calls, number)
        tools = self.tools
        step: dict[str, Any] = {
            "text": self.text,
            "calls": [_call(c, tools.get(c.name)) for c in calls],
            "results": [],
        }
        self.rounds.append(step)
        self.parts.clear()
        try:
            for call in calls:
                result = await tools.call(call, self.approve, self.tool_timeout_s)
                self.waited_s += result.waited_s
                step["results"].append(_result(result))
                yield ToolResultEvent(result, number)
        except BaseException:  # Stop (a cancel, or the client closing the stream)
            for unanswered in calls[len(step["results"]) :]:
                step["results"].append(
                    {
                        "call_id": unanswered.id,
                        "name": unanswered.name,
                        "content": STOPPED_CALL,
                        "is_error": True,
                        "seconds": 0.0,
                        "stopped": True,
                    }
                )
            raise

    def fail(self, reason: str) -> None:
        """The turn could not ask the model (a local model that failed to load)."""
        self.failure = reason
        self.end()

    def end(self) -> None:
        """Keep the reply in its conversation and the store (or drop its empty row)."""
        if not self.ended:
            self.ended = True
            self.keeper.reply_ended(self.reply)


def _call(call: ToolCall, tool: Any) -> dict[str, Any]:
    """A call as the reply keeps it: what the model sent, and where the tool came from."""
    kept = {"id": call.id, "name": call.name, "arguments": call.arguments}
    if tool is not None and tool.server is not None:
        kept["server"] = tool.server
    return kept


def _whole(figures: list[Finished], started: float) -> Finished:
    """The reply's figures over all its requests: the last one's, with every request's tokens
    counted, the first token's time from the first request, the time from ``started`` (its
    start, moved on by the time its calls waited for the user)."""
    last = figures[-1]
    if len(figures) == 1:
        return last

    def total(name: str) -> int | None:
        values = [getattr(f.usage, name) for f in figures]
        return None if all(v is None for v in values) else sum(v or 0 for v in values)

    usage = Usage(
        total("prompt_tokens"),
        total("completion_tokens"),
        any(f.usage.estimated for f in figures),
        total("reasoning_tokens"),
    )
    extra = {**last.extra, "tool_rounds": len(figures) - 1}
    return replace(
        last,
        usage=usage,
        ttft_s=figures[0].ttft_s,
        total_s=time.perf_counter() - started,
        extra=extra,
    )


class ChatSession:
    """One conversation and what its next reply is asked with. With a ``store``, every turn is
    kept there as it happens (``history.StoredChat``); without, in memory."""

    def __init__(
        self,
        store: Store | None = None,
        settings: Settings | None = None,
        *,
        on_problem: Any = None,
        external_id: str | None = None,
        system_prompt: str = "",
    ) -> None:
        from desktop_chat.config import Settings
        from desktop_chat.personas import DEFAULT

        self.store = store
        if store is not None:
            from desktop_chat.history import StoredChat

            self.chat: Any = StoredChat(store, external_id, on_problem)
            self.chat.conversation.system_prompt = system_prompt
        else:
            self.chat = Unsaved(system_prompt)
        self.settings = settings or Settings()
        self.choice: ModelChoice | None = None
        self.persona: Persona = DEFAULT
        self.code_only = False
        #: The conversation's own options, kept with it in the store (``set_options``): its
        #: Think choice (``think``, ``reasoning_effort``), over the persona's.
        self.options: dict[str, Any] = {}
        self._options_unsaved = False  # chosen before the conversation had a row
        #: The caller's own parameters (the command line, an ``LLMConfig``): over everything
        #: but one call's options.
        self.flags = GenerationParams()
        #: Under everything; ``settings.defaults`` unless a client has its own (``llmchat``'s
        #: ~/.llmchat_config over them).
        self.base: GenerationParams | None = None
        from desktop_chat.context import ContextFiles

        #: Files that join the next message only.
        self.files = ContextFiles()
        #: The caller's own image cap (the Python API's, from the user's settings), over
        #: ``image_sizes.side_for``; None: that.
        self.image_side: int | None = None
        #: Images attached to the next message (normalised: ``images.normalise``); they
        #: leave once that message is in the conversation, not before.
        self.pictures: list[Picture] = []
        #: The turn under way, or the last one.
        self.turn: Turn | None = None
        #: The tools offered to the model (None or empty: none), and how each call is
        #: approved (None: every call denied, so nothing runs unasked).
        self.tools: Toolbox | None = None
        self.approve: Approve | None = None
        #: How long one call may run before it is stopped (None: no limit).
        self.tool_timeout_s: float | None = 60.0

    @property
    def conversation(self) -> Conversation:
        return self.chat.conversation

    @property
    def conversation_id(self) -> int | None:
        return self.chat.conversation_id

    # --- what a reply is asked with ------------------------------------------------------

    def params(self, call: GenerationParams | None = None) -> GenerationParams:
        """One call's options, the caller's flags, the persona, the model's alias and
        provider, then the defaults; the persona's prompt replaces the default one (not the
        caller's), and code only adds its instruction."""
        model = self.choice.params if self.choice is not None else GenerationParams()
        base = self.base if self.base is not None else self.settings.defaults
        chosen = GenerationParams.from_mapping({k: self.options.get(k) for k in REASONING})
        params = self.flags.over(chosen).over(self.persona.params).over(model).over(base)
        # The persona's prompt replaces the defaults' one, not one the caller gave (llmchat's
        # --system, an LLMConfig's system_prompt).
        if self.persona.system_prompt and not self.flags.system_prompt:
            params = params.replace(system_prompt=self.persona.system_prompt)
        if call is not None:
            params = call.over(params)
        if self.code_only:
            system = params.system_prompt or ""
            params = params.replace(system_prompt=f"{system}\n\n{CODE_ONLY_PROMPT}".strip())
        return params

    # --- turns ---------------------------------------------------------------------------

    def send(
        self,
        text: str,
        *,
        replace_from: int | None = None,
        display: str | None = None,
        call: GenerationParams | None = None,
        images: list[Picture] | None = None,
    ) -> Turn:
        """Add the user's message (with the attached files and ``pictures``, which then leave)
        and make the turn that answers it. ``replace_from``: an edit of message
        ``replace_from``, which keeps that message's files and images; the old turn stays in
        the store, a version. ``display``: what the window shows of the message when it is
        not ``text`` (the quick prompt's clipboard). ``images``: more images for this message
        alone, after the attached ones."""
        choice = self._choice()  # before anything attached leaves: no model, nothing lost
        pictures = list(self.pictures)
        attached = ""
        files = [
            {"name": f.name, "size_bytes": f.size_bytes, "tokens": f.tokens}
            for f in self.files.files
        ]
        if replace_from is not None:
            old = self.conversation.messages[replace_from]
            attached = str(old.meta.get("attached", ""))
            files = list(old.meta.get("files", []))
            pictures = list(old.images)
            self.chat.truncate(replace_from)
        elif self.files.files:
            attached = self.files.prompt_with("")
            self.files.clear()
        shown = display if display is not None else text
        meta: dict[str, Any] = {"display": shown} if shown != text else {}
        if files:
            meta = {"display": shown, "files": files, "attached": attached}
        persona = self.persona.name if self.persona.name != "Default" else None
        pictures += images or ()
        self.chat.add_user(text + attached, choice.label, persona=persona, images=pictures, **meta)
        if replace_from is None:
            self.pictures.clear()  # in the conversation (and on its way to the store) now
        return self._start(call)

    def regenerate(self, call: GenerationParams | None = None) -> Turn | None:
        """Answer the last user message again; the reply after it stays, a version."""
        messages = self.conversation.messages
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
        if last_user is None:
            return None
        if last_user + 1 < len(messages):
            self.chat.truncate(last_user + 1)
        return self._start(call)

    def _start(self, call: GenerationParams | None) -> Turn:
        if self._options_unsaved and self.conversation_id is not None:
            # Chosen in a new chat: kept once its row is made, after the user's message (on
            # the store's thread, as that message is); a refusal leaves them in memory only.
            self._options_unsaved = False
            keep = self.store.update_conversation_settings
            self.store.later(keep, self.conversation_id, **self.options)
        self.turn = Turn(
            self.chat,
            self._choice(),
            self.params(call),
            tools=self.tools,
            approve=self.approve,
            max_rounds=self.settings.tool_rounds,
            tool_timeout_s=self.tool_timeout_s,
            max_side=self.image_max_side(),
        )
        return self.turn

    def image_max_side(self) -> int:
        """The longest side of an image for the model chosen now (``image_sizes.side_for``)."""
        from desktop_chat.image_sizes import side_for

        return self.image_side or side_for(self.choice, self.settings)

    def _choice(self) -> ModelChoice:
        if self.choice is None:
            raise ValueError("Choose a model first.")
        return self.choice

    def edit_text(self, index: int) -> str:
        """What the user typed in message ``index``, without the files attached to it."""
        message = self.conversation.messages[index]
        return str(message.meta.get("display", message.content))

    # --- which conversation --------------------------------------------------------------

    def new(self) -> None:
        self.chat.new()
        self.options, self._options_unsaved = {}, False

    def open(
        self,
        conversation_id: int,
        message_id: int = 0,
        refused: Callable[[StoreError], None] | None = None,
    ) -> int | None:
        """Show a stored conversation (with its persona); with ``message_id`` (a search
        hit), the branch that holds it. Returns that message's index, if on show. When the
        store refuses to show the hit's branch, ``refused`` is told and the branch on show
        stays."""
        from desktop_chat.store import StoreError

        store = self.store
        fresh = bool(message_id) and message_id not in store.branch_ids(conversation_id)
        if fresh:
            try:
                store.show_version(message_id)
            except StoreError as err:
                fresh = False
                if refused is not None:
                    refused(err)
        self.chat.open(conversation_id, fresh=fresh)
        info = store.conversation(conversation_id)
        self.persona = self.library.persona(info.persona if info else None)
        self.options = _options(store.conversation_settings(conversation_id))
        self._options_unsaved = False
        ids = self.chat.ids
        return ids.index(message_id) if message_id in ids else None

    def versions(self, index: int) -> tuple[int, int]:
        return self.chat.versions(index)

    def show_version(self, index: int, step: int) -> bool:
        return self.chat.show_version(index, step)

    @functools.cached_property
    def library(self) -> Library:
        """Personas and templates: the built-in ones and the user's, kept in the store."""
        from desktop_chat.personas import Library

        return Library(self.store)

    def set_persona(self, persona: Persona) -> None:
        """Use ``persona`` from now on in this conversation (kept with it in the store; a
        ``StoreError`` says when the store refused, and the persona is used anyway)."""
        self.persona = persona
        if self.store is not None and self.conversation_id is not None:
            self.store.update_conversation(self.conversation_id, persona=persona.name)

    def set_options(self, **changes: Any) -> None:
        """Change the conversation's own options (``think=False``; None: back to the
        persona's, the model's), from the next turn on; kept with it in the store (a
        ``StoreError`` says when the store refused, and they are used anyway)."""
        GenerationParams.from_mapping({k: v for k, v in changes.items() if k in REASONING})
        self.options = {k: v for k, v in {**self.options, **changes}.items() if v is not None}
        if self.store is None:
            return
        if self.conversation_id is None:
            self._options_unsaved = True
        else:
            self.store.update_conversation_settings(self.conversation_id, **changes)

    def set_model(self, choice: ModelChoice | None) -> None:
        self.choice = choice


async def _fitted(conversation: Conversation, max_side: int | None) -> Conversation:
    """``conversation`` as it is sent: with its images larger than ``max_side`` scaled down
    (off the loop's thread, once each: ``images.fit``), in a copy; the kept one is unchanged."""
    if max_side is None or not any(
        max(p.width, p.height) > max_side for m in conversation.messages for p in m.images
    ):
        return conversation
    import asyncio

    from desktop_chat.images import fit

    def scaled() -> Conversation:
        messages = [
            replace(m, images=[fit(p, max_side) for p in m.images]) if m.images else m
            for m in conversation.messages
        ]
        return Conversation(conversation.system_prompt, messages)

    return await asyncio.to_thread(scaled)


def _options(stored: dict[str, Any]) -> dict[str, Any]:
    """A conversation's stored options that can be used: one the app cannot read (a file
    written by a later version, or by hand) is left aside, not allowed to fail every turn."""
    kept = {}
    for key, value in stored.items():
        try:
            if key in REASONING:
                GenerationParams.from_mapping({key: value})
            kept[key] = value
        except (ValueError, TypeError):
            log.warning("conversation option %s=%r is not one this app knows: ignored", key, value)
    return kept


# --- a provider the caller opened itself --------------------------------------------------


def opened_choice(
    provider: Provider, model: str, label: str | None = None, params: GenerationParams | None = None
) -> ModelChoice:
    """The ``ModelChoice`` a session asks with, for a provider a client opened itself (the
    Python API's ``provider=`` or ``base_url=``, the Chat module's clients): a local model by
    its folder, a server by its name; ``params`` are the alias's and provider's own."""
    from desktop_chat.config import ProviderSettings
    from desktop_chat.models import local_choice, remote_choice

    folder = getattr(provider, "model_dir", None)
    if folder is not None:
        return local_choice(folder, label)
    server = ProviderSettings(provider.name, getattr(provider, "base_url", ""))
    return remote_choice(server, model, label, params or GenerationParams())
