"""From a turn's events to what a window shows, the same for the main window and the quick
prompt: the reply's text and retry notes as they come, and whatever went wrong said in words
(a bug too, logged with its traceback). The log gets each reply's figures, never its text."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING

from desktop_chat.errors import DesktopChatError
from desktop_chat.events import (
    Finished,
    ReasoningDelta,
    Retrying,
    TextDelta,
    ToolCallRequest,
    ToolResultEvent,
)

if TYPE_CHECKING:
    from desktop_chat.providers.base import Provider
    from desktop_chat.session import Turn

log = logging.getLogger(__name__)

#: What a bug is said as: the log has its traceback.
UNEXPECTED = (
    "Something went wrong while answering.",
    "Retry; if it happens again, the log (menu-bar icon → Show Log) says what.",
)


class Outcome:
    """How a reply went, once its ``in_words`` block is over."""

    #: What went wrong and what to do (None: it finished or was stopped).
    failure: tuple[str, str] | None = None
    #: The same, short, for the reply's figures line.
    reason = ""


@contextlib.contextmanager
def in_words(label: str) -> Iterator[Outcome]:
    """Run a reply of the model ``label``; an error (``DesktopChatError`` or a bug) ends the
    block and becomes its ``Outcome``, never raised. Stop (cancelling) goes through."""
    outcome = Outcome()
    try:
        yield outcome
    except DesktopChatError as err:
        log.warning("reply from %s failed: %s", label, err)
        outcome.failure, outcome.reason = (err.message, err.hint), err.message
    except Exception:
        log.exception("reply from %s failed unexpectedly", label)
        outcome.failure, outcome.reason = UNEXPECTED, "an unexpected error"


async def relay(
    turn: Turn,
    provider: Provider,
    on_text: Callable[[str], None],
    on_retrying: Callable[[str], None],
    on_thinking: Callable[[str, bool], None] | None = None,
    on_tools: Callable[[ToolCallRequest | ToolResultEvent], None] | None = None,
) -> tuple[str, str] | None:
    """Stream ``turn`` from ``provider``: ``on_text`` gets each piece of the reply,
    ``on_retrying`` each retry's note (so a retry is never a silent wait) and "" once the reply
    comes; ``on_thinking`` each piece of thinking and whether it is the text so far given as
    the answer (``ReasoningDelta.was_answer``: take that out of the answer); ``on_tools`` each
    round of tool calls the model asks for and each call's result. Returns why the
    oldest turns were left out of the request (message, hint), if they were. Raises what the
    provider raises."""
    label, retried, note = turn.choice.label, False, None
    async with aclosing(turn.events(provider)) as events:
        async for event in events:
            if isinstance(event, TextDelta | ReasoningDelta):
                if retried:  # the reply came: the note has done its work
                    retried = False
                    on_retrying("")
                if isinstance(event, TextDelta):
                    on_text(event.text)
                elif on_thinking is not None:
                    on_thinking(event.text, event.was_answer)
            elif isinstance(event, Retrying):
                retried = True
                log.info("reply from %s: %s", label, event.note())
                on_retrying(event.note())
            elif isinstance(event, ToolCallRequest | ToolResultEvent):
                if on_tools is not None:
                    on_tools(event)
            elif isinstance(event, Finished):
                note = event.context_note()
    log.info("reply from %s: %s", label, timings(turn.meta))
    log.debug("reply text: %r", turn.text)
    return note


def timings(meta: dict) -> str:
    """A reply's figures for the log: never its text."""
    usage = meta.get("usage") or {}
    figures = {
        "ttft_s": meta.get("ttft_s"),
        "tokens_per_s": meta.get("tokens_per_s"),
        "total_s": meta.get("total_s"),
        "tokens": usage.get("completion_tokens"),
        "finish": meta.get("finish_reason"),
    }
    said = ", ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in figures.items()
        if v is not None
    )
    return said or ("stopped" if meta.get("interrupted") else "no figures")
