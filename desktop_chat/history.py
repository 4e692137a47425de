"""A conversation kept in the store as it happens: the user's message is saved before it is
sent, a streaming reply at least once a second, and the finished reply at the end. Editing and
regenerating continue from an earlier message, so they make branches; nothing is overwritten.

The user's message and the reply's row are written on the store's own thread (``Store.later``),
in order: a pasted 2 MB message costs its search index and journal there, not a pause of the
window. ``await saved()`` before the request is sent (``stream`` does): the message is in the
file before anything leaves. Every other change first waits for those writes, so the store's
thread and the caller never change the chat at the same time.

When the store cannot be written (a full disk, a lock held by another program), the chat goes
on in memory: nothing typed or received is lost, ``problem`` says why it is not saved (the
``on_problem`` callback tells the client once), and what is missing is written with the next
message once the store takes it again.

Used by the window, the terminal chat and the Python API alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from desktop_chat.conversation import Conversation, Message
from desktop_chat.picture import Picture
from desktop_chat.store import Store, StoredMessage, StoreError

log = logging.getLogger(__name__)

#: Seconds between two saves of a streaming reply.
SAVE_EVERY_S = 1.0
_TITLE_CHARS = 48


def title_from(text: str) -> str:
    """The first line of the first question, cut at a word near 48 characters."""
    line = " ".join(text.lstrip()[: _TITLE_CHARS * 8].split("\n", 1)[0].split())  # not 2 MB
    if len(line) <= _TITLE_CHARS:
        return line or "New chat"
    cut = line[:_TITLE_CHARS].rsplit(" ", 1)[0]
    return (cut or line[:_TITLE_CHARS]) + "…"


def _message(stored: StoredMessage) -> Message:
    meta = dict(stored.meta)
    if stored.role == "assistant":
        meta.setdefault("model", stored.model)
        meta.setdefault("provider", stored.provider)
        if stored.reasoning:
            meta["reasoning"] = stored.reasoning
    if stored.interrupted:
        meta["interrupted"] = True
    return Message(
        stored.role,  # type: ignore[arg-type]
        stored.content,
        meta,
        stored.images,
        stored.tool_calls,
    )


def not_saved(err: StoreError) -> StoreError:
    """A store failure as the chat's user meets it: the chat goes on, unsaved for now."""
    once = "once there is room" if err.kind == "full" else "once that is done"
    return StoreError(
        f"This chat is not being saved: {err.why}.",
        f"{err.fix}. Nothing is lost meanwhile: the chat goes on, and is saved "
        f"with your next message {once}.",
        kind=err.kind,
        why=err.why,
        fix=err.fix,
    )


#: What a failed write returns (a write's own result may be None).
_FAILED = object()


class StoredChat:
    """The in-memory ``Conversation`` (what the model sees) and its rows in the store."""

    def __init__(
        self,
        store: Store,
        external_id: str | None = None,
        on_problem: Callable[[StoreError | None], None] | None = None,
    ) -> None:
        self.store = store
        #: A name of the caller's (a ChatManager id) the conversation is kept under.
        self.external_id = external_id
        self.conversation = Conversation()
        self.conversation_id: int | None = None
        #: The store id of each message in ``conversation.messages``; None for one the store
        #: could not take yet (written with the next message).
        self.ids: list[int | None] = []
        #: Why the conversation on show is not all saved (None when it is).
        self.problem: StoreError | None = None
        #: Told when saving starts failing (the problem) and when it works again (None), on
        #: the caller's thread (``_tell``), never the store's.
        self.on_problem = on_problem
        #: What ``on_problem`` was last told.
        self._said: StoreError | None = None
        #: The last write asked of the store's thread, until it is known to be done.
        self._pending: Future | None = None
        #: Rows whose text is behind the conversation's (a reply's last save failed).
        self._behind: set[int] = set()
        self._reply_id: int | None = None
        #: The conversation the reply belongs to, as it was when the reply started: ⌘N,
        #: opening or deleting a chat mid-reply shows another one, and the reply must still
        #: end in its own (not delete itself from the one now on show).
        self._reply_home: tuple[Conversation, int, list[int]] | None = None
        self._saved_at = 0.0
        #: Recently open conversations, kept while the store says they have not changed:
        #: switching back to a long one then costs nothing to load.
        self._recent: dict[int, tuple[tuple, Conversation, list[int]]] = {}
        #: Conversations left (⌘N, another one opened) with parts the store refused: kept here,
        #: not dropped, and written as soon as the store takes them (``flush``).
        self._unsaved: list[list] = []  # [conversation, conversation_id, ids]

    # --- which conversation --------------------------------------------------------------

    def _unsaved_parts(self, conversation: Conversation, ids: list[int | None]) -> bool:
        return (
            None in ids
            or any(i in self._behind for i in ids)
            or len(conversation.messages) > len(ids)
        )

    def _keep(self) -> None:
        """Remember the conversation being left, as it stands in the store now; one with
        parts the store refused is kept until they are written."""
        cid = self.conversation_id
        if self.conversation.messages and self._unsaved_parts(self.conversation, self.ids):
            if not any(left[0] is self.conversation for left in self._unsaved):
                self._unsaved.append([self.conversation, cid, self.ids])
            return
        if cid is not None and self._reply_id is None:
            try:
                stamp = self.store.stamp(cid)
            except StoreError as err:  # not kept for a quick return; nothing else depends on it
                log.warning("conversation %s not kept: %s", cid, err)
                return
            self._recent[cid] = (stamp, self.conversation, self.ids)
            while len(self._recent) > 4:
                self._recent.pop(next(iter(self._recent)))

    def new(self) -> None:
        """A new chat; its row is created with its first message."""
        self._settle(tell=False)  # its problem was the chat left's
        self._keep()
        self.conversation = Conversation()
        self.conversation_id = None
        self.ids = []
        self.problem = self._said = None  # told for the chat left; this one is tried afresh
        self.flush()

    def open(self, conversation_id: int, fresh: bool = False) -> None:
        """Show a conversation's current branch; ``fresh`` after its branch was changed in the
        store (another version shown), when nothing kept may be reused."""
        self._settle(tell=False)
        if fresh:
            self._recent.pop(conversation_id, None)
        else:
            self._keep()
        self.problem = self._said = None
        self._show(conversation_id)
        self.flush()  # now that the one left is among them, if it holds unsaved parts

    def _show(self, conversation_id: int) -> None:
        kept = self._recent.pop(conversation_id, None)
        if kept is not None and kept[0] == self.store.stamp(conversation_id):
            _, self.conversation, self.ids = kept
            self.conversation_id = conversation_id
            return
        branch = self.store.branch(conversation_id)
        self.conversation = Conversation(messages=[_message(m) for m in branch])
        self.conversation_id = conversation_id
        self.ids = [m.id for m in branch]

    # --- saving --------------------------------------------------------------------------

    def flush(self) -> bool:
        """Write what the store refused of conversations no longer on show (a full disk
        when they were left); True when nothing is left unsaved. On the caller's thread,
        after the pending writes: it swaps each one in for ``_catch_up`` and back. Called on
        every switch and before the store closes; those still refused stay for the next."""
        if not self._unsaved:
            return True
        self._settle(tell=False)
        shown = (self.conversation, self.conversation_id, self.ids, self.problem)
        still = []
        try:
            for left in self._unsaved:
                if left[0] is shown[0]:  # on show again: it catches up with its next message
                    continue
                self.conversation, self.conversation_id, self.ids = left
                self.problem = None
                if not self._catch_up():
                    still.append(left)
                left[1] = self.conversation_id  # a row made now
        finally:
            self.conversation, self.conversation_id, self.ids, self.problem = shown
        self._unsaved = still
        if not self._unsaved:
            log.info("the conversations left unsaved are saved now")
        return not self._unsaved

    @property
    def unsaved(self) -> int:
        """How many conversations no longer on show still hold something the store refused."""
        return len(self._unsaved)

    def repaired(self) -> None:
        """The store's file was damaged and replaced by a copy of what could still be read:
        the conversation on show is written again from the first message the copy lacks (a
        new branch; what the copy kept of the old one stays as another version). Nothing on
        show is lost; a conversation the copy lacks altogether gets a new row."""
        self._settle(tell=False)
        if self.conversation_id is None or not self.ids:
            return
        try:
            if self.store.conversation(self.conversation_id) is None:
                kept: set[int] = set()
                self.conversation_id = None
            else:
                kept = self.store.message_ids(self.conversation_id)
        except StoreError as err:
            log.warning("could not read the repaired copy: %s", err)
            return
        lost = next((n for n, i in enumerate(self.ids) if i is not None and i not in kept), None)
        if lost is None:
            return
        self._recent.pop(self.conversation_id, None)
        self.ids[lost:] = [None] * (len(self.ids) - lost)
        log.info("writing the conversation on show again from message %d", lost)
        self._catch_up()
        self._tell()

    def _later(self, change: Callable, *args: Any) -> None:
        """Run ``change`` on the store's thread, after the writes asked before it."""
        self._pending = self.store.later(change, *args)

    def _settle(self, tell: bool = True) -> None:
        """Wait for the writes asked of the store's thread (already done, unless a change
        comes within the few milliseconds of a big one), then tell what they met."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()
        if tell:
            self._tell()

    async def saved(self) -> None:
        """Wait, without blocking the loop, until the user's message and the reply's row are
        written (or refused: ``problem`` says why). Cancelled, the writes still go on, and
        the next change waits for them."""
        pending = self._pending
        if pending is not None:
            await asyncio.shield(asyncio.wrap_future(pending))
        self._settle()

    def _tell(self) -> None:
        """Tell ``on_problem`` when saving has started failing, failed otherwise, or works
        again, since it was last told."""
        now, said = self.problem, self._said
        if (now is None) == (said is None) and (now is None or now.message == said.message):
            return
        self._said = now
        if self.on_problem is not None:
            self.on_problem(now)

    def _write(self, change: Callable, *args: Any, **kwargs: Any) -> Any:
        """One change to the store; ``_FAILED`` (and ``problem`` set) when it is refused."""
        try:
            return change(*args, **kwargs)
        except StoreError as err:
            problem = not_saved(err)
            if self.problem is None or self.problem.message != problem.message:
                log.warning("not saved: %s", err)
                self.problem = problem
            return _FAILED

    def _row(self, model: str | None = None, persona: str | None = None) -> bool:
        """The conversation's row, made now if it has none (titled by its first question)."""
        if self.conversation_id is not None:
            return True
        first = next((m for m in self.conversation.messages if m.role == "user"), None)
        title = title_from(first.meta.get("display", first.content)) if first else ""
        if first is not None and first.images and not first.content.strip():
            title = title_from(first.images[0].name or "Image")  # a screenshot, no words
        made = self._write(
            self.store.new_conversation,
            title,
            model=model,
            persona=persona,
            external_id=self.external_id,
        )
        if made is _FAILED:
            return False
        self.conversation_id = made
        self.external_id = None  # a later new() starts an ordinary conversation
        return True

    def _catch_up(self, model: str | None = None) -> bool:
        """Write what the store lacks of the conversation on show, in order: its row, each
        message it could not take, the text of a reply whose last save failed. True when all
        is saved (and a problem met before is over)."""
        messages = self.conversation.messages
        if not self._row(model):
            return False
        for index, message in enumerate(messages[: len(self.ids)]):
            known = self.ids[index]
            if known is not None and known not in self._behind:
                continue
            if known is None:
                parent = self.ids[index - 1] if index else None
                done = self._write(
                    self.store.add_message,
                    self.conversation_id,
                    message.role,
                    message.content,
                    parent_id=parent,
                    images=message.images,
                    **_columns(message),
                )
            else:
                done = self._write(
                    self.store.update_message,
                    known,
                    message.content,
                    interrupted=message.interrupted,
                    **_columns(message, False),
                )
            if done is _FAILED:
                return False
            if known is None:
                self.ids[index] = done
            self._behind.discard(known)
        if self.problem is not None:
            log.info("saving works again")
            self.problem = None
        return True

    # --- turns ---------------------------------------------------------------------------

    def add_user(
        self,
        content: str,
        model: str | None = None,
        *,
        persona: str | None = None,
        images: list[Picture] | None = None,
        **meta,
    ) -> Message:
        """The user's message, in the conversation at once, in the store as soon as it takes
        it: written on the store's thread (``saved()`` waits for it). A new conversation's row
        is made now, small, so that its id is known at once (the window keeps the draft and
        the sidebar by it), with ``persona``. Never raises: ``problem`` says when the store
        refused."""
        self._settle()
        message = self.conversation.add_user(content, images, **meta)
        self.ids.append(None)
        had_row = self.conversation_id is not None
        if self._row(model, persona):
            self._later(self._save_user, model, had_row, meta.get("display", content))
        self._tell()
        return message

    def _save_user(self, model: str | None, had_row: bool, shown: str) -> None:
        """On the store's thread: the new message and anything still unsaved before it."""
        if self._catch_up(model) and had_row and len(self.ids) == 1:  # the first one, edited
            self._write(
                self.store.update_conversation, self.conversation_id, title=title_from(shown)
            )

    def truncate(self, index: int) -> None:
        """Continue from before message ``index`` (edit, regenerate): the store keeps the old
        branch; the next message becomes its sibling."""
        self._settle()
        self.conversation.truncate(index)
        del self.ids[index:]

    def reply_started(
        self, model: str | None, provider: str | None, params: dict | None = None
    ) -> Conversation:
        """A row for the reply (with the parameters it is asked with), empty and marked
        interrupted until it completes; made on the store's thread after the user's message
        (``saved()`` waits for both). Without a row (the store refused it), the reply is
        saved whole when it ends, or with a later message. Waits for nothing: it follows
        ``add_user``, whose write may be under way. Returns the conversation the reply
        belongs to: ⌘N or opening another chat mid-reply does not move it."""
        self._reply_id = None
        self._reply_home = (self.conversation, self.conversation_id, self.ids)
        self._saved_at = 0.0
        self._later(self._reply_row, model, provider, params)
        return self.conversation

    def _reply_row(self, model: str | None, provider: str | None, params: dict | None) -> None:
        """On the store's thread: the reply's row (and anything still unsaved before it)."""
        if self._catch_up(model):
            made = self._write(
                self.store.add_message,
                self.conversation_id,
                "assistant",
                "",
                parent_id=self.ids[-1] if self.ids else None,
                model=model,
                provider=provider,
                params=params,
                interrupted=True,
            )
            self._reply_id = None if made is _FAILED else made
        self._reply_home = (self.conversation, self.conversation_id, self.ids)

    def reply_progress(self, parts: list[str]) -> bool:
        """Save the reply so far if a second has passed since the last save. Takes the pieces
        and joins them only then: this runs for every token."""
        now = time.monotonic()
        if self._reply_id is None or now - self._saved_at < SAVE_EVERY_S:
            return False
        self._saved_at = now  # a refused save is tried again in a second, not every token
        saved = self._write(
            self.store.update_message, self._reply_id, "".join(parts), interrupted=True
        )
        self._tell()
        return saved is not _FAILED

    def reply_ended(self, reply: Message | None) -> None:
        """The turn is over: ``reply`` (finished, stopped with its partial text, or failed;
        None when nothing arrived) joins the conversation it belongs to and is stored there,
        or the empty row is dropped."""
        # Waits only for a turn stopped within the moment its question is being written.
        self._settle(tell=False)
        try:
            self._end_reply(reply)
        finally:
            self._tell()

    def _end_reply(self, reply: Message | None) -> None:
        reply_id, self._reply_id = self._reply_id, None
        home, self._reply_home = self._reply_home, None
        if home is None:
            return
        conversation, conversation_id, ids = home
        messages = conversation.messages
        if reply is not None:
            messages.append(reply)
        arrived = len(messages) > len(ids) and messages[-1].role == "assistant"
        if reply_id is None:  # the store took no row for it: saved whole, now or later
            if arrived:
                ids.append(None)
                if conversation is self.conversation:
                    self._catch_up()
                elif not any(left[0] is conversation for left in self._unsaved):
                    # Ended in a chat no longer on show: kept until the store takes it.
                    self._unsaved.append([conversation, conversation_id, ids])
            return
        if arrived:
            last = messages[-1]
            ids.append(reply_id)
            saved = self._write(
                self.store.update_message,
                reply_id,
                last.content,
                interrupted=last.interrupted,
                **_columns(last, False),
            )
            if saved is _FAILED:  # the row keeps the last text saved, marked interrupted
                self._behind.add(reply_id)
        else:
            self._write(
                self.store.drop_message, reply_id, conversation_id, ids[-1] if ids else None
            )

    # --- versions ------------------------------------------------------------------------

    def versions(self, index: int) -> tuple[int, int]:
        """(position from 1, count) of message ``index`` among its versions."""
        if index >= len(self.ids) or self.ids[index] is None:  # not saved yet: the only one
            return 1, 1
        try:
            ids = self.store.versions(self.ids[index])
        except StoreError as err:  # the other versions cannot be offered; the message stands
            log.warning("versions of message %s: %s", self.ids[index], err)
            return 1, 1
        if self.ids[index] not in ids:  # not in the store (a repaired copy lacks it)
            return 1, 1
        return ids.index(self.ids[index]) + 1, len(ids)

    def show_version(self, index: int, step: int) -> bool:
        """Show the previous (-1) or next (+1) version of message ``index``."""
        self._settle()
        if self.ids[index] is None:
            return False
        ids = self.store.versions(self.ids[index])
        here = ids.index(self.ids[index])
        if not 0 <= here + step < len(ids):
            return False
        self.store.show_version(ids[here + step])
        self.open(self.conversation_id, fresh=True)
        return True


#: What a message's meta holds that the store keeps in columns of their own.
_OWN_COLUMNS = ("model", "provider", "reasoning")


def _columns(message: Message, new: bool = True) -> dict[str, Any]:
    """A message's store columns besides its text: the model, provider and thinking apart from
    the rest of its meta (and ``interrupted`` for a new row)."""
    meta = message.meta
    columns = {"meta": {k: v for k, v in meta.items() if k not in _OWN_COLUMNS}}
    if message.role == "assistant":
        columns.update(model=meta.get("model"), provider=meta.get("provider"))
        columns["reasoning"] = str(meta.get("reasoning") or "")
        columns["tool_calls"] = message.tool_rounds
        if new:
            columns["interrupted"] = message.interrupted
    return columns
