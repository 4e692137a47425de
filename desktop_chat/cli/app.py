"""The terminal chat loop: prompt, stream the reply, show its figures, repeat."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from desktop_chat.cli.commands import run_command
from desktop_chat.cli.options import params_from, parser, read_user_config, user_config_path
from desktop_chat.cli.reply_view import ReplyView, figures
from desktop_chat.cli.state import ChatState
from desktop_chat.errors import DesktopChatError, ImagesNotSupported, ProviderError
from desktop_chat.events import (
    Finished,
    ReasoningDelta,
    Retrying,
    TextDelta,
    ToolCallRequest,
    ToolResultEvent,
)
from desktop_chat.session import ChatSession
from desktop_chat.store_files import StoreError

EXIT_WORDS = {"quit", "bye", "exit"}
PROMPT = "prompt -> "

#: What the store said during a turn (a problem, or None: saved again), told after the reply
#: so that it never cuts into the streamed text.
_store_news: list = []


def out(text: str = "") -> None:
    print(text, flush=True)


async def reply(state: ChatState, prompt: str) -> None:
    session = state.session
    if not state.history:
        session.new()  # each prompt on its own: its own conversation in the store too
    # With the /file files and /image images, which join this one prompt only; saved before
    # it is sent, the reply at least once a second, then whole.
    turn = session.send(prompt)
    asked = session.conversation.messages[-1]
    state.log("user", "\n\n".join([asked.content, *(f"[image: {p.name}]" for p in asked.images)]))
    sys.stdout.write("\n")
    view = ReplyView(sys.stdout)  # the thinking dimmed (or marked), then the answer
    events = turn.events(state.current.provider)
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                view.text(event.text)
            elif isinstance(event, ReasoningDelta):
                view.thought(event)
            elif isinstance(event, Retrying):
                out(f"[{event.note()}]")
            elif isinstance(event, ToolCallRequest):
                view.end()  # each call's prompt, then its result, on lines of their own
                view = ReplyView(sys.stdout)
            elif isinstance(event, ToolResultEvent):
                from desktop_chat.cli.tools import result_line

                if line := result_line(event.result):
                    out(line + "\n")
            elif isinstance(event, Finished):
                view.end()
                out(f"\n\n[{figures(event)}]")
                if note := event.context_note():  # the oldest turns were left out: why
                    out(f"[{' '.join(note)}]")
                out()
    finally:
        view.end()  # a thought cut short leaves the terminal dimmed no longer
        await events.aclose()  # the reply stored now, however the turn ended
        state.log("assistant", turn.text)
        tell_store_news()


def tell_store_news() -> bool:
    """Say what the store met; True when that was a damaged file replaced by a repaired copy."""
    repaired = False
    while _store_news:  # the store's check thread may add to it meanwhile
        problem = _store_news.pop(0)
        repaired = repaired or getattr(problem, "kind", "") == "repaired"
        out(
            f"\n[{problem.message}]\n{problem.hint}\n"
            if problem
            else "\n[The chat is saved again.]\n"
        )
    return repaired


def chat_loop(state: ChatState, log_dir) -> None:
    with contextlib.suppress(ImportError):  # absent on Windows
        import readline  # noqa: F401  (line editing and input history for input())
    while True:
        if tell_store_news():  # a damaged file the store found and repaired since
            repaired = getattr(state.session.chat, "repaired", None)
            if repaired is not None:  # the chat on show, written again where the copy lacks it
                repaired()
        try:
            line = input(PROMPT).strip()
        except (EOFError, KeyboardInterrupt):
            out()
            return
        if not line:
            continue
        if line.lower() in EXIT_WORDS:
            return
        if line.startswith("/"):
            if not run_command(line, state, out, log_dir):
                return
            continue
        try:
            state.runner.run(reply(state, line))
        except KeyboardInterrupt:
            out("\n[stopped]\n")
        except DesktopChatError as err:
            if isinstance(err, ProviderError) and err.partial_text:
                out("\n[the reply above is incomplete]")
                out(f"\nError: {err}\n")
            else:  # nothing arrived: the reply failed, it was not stopped
                out(f"\n[the reply failed: {err.message}]\n{err.hint}\n")
            if isinstance(err, ImagesNotSupported):
                attach_again(state, out)


def attach_again(state: ChatState, say) -> None:
    """A model that takes no images refused the prompt: its images go with the next one
    (after /model, to a model that sees them), and the refused prompt leaves the conversation,
    so that they are not sent twice. The store keeps it, an earlier version."""
    session = state.session
    turn = session.turn
    if turn is None or turn.reply is not None or turn.home is not session.conversation:
        return
    index = turn.index - 1
    messages = session.conversation.messages
    if index < 0 or index >= len(messages) or not messages[index].images:
        return
    pictures = list(messages[index].images)
    session.chat.truncate(index)
    session.pictures[:0] = pictures
    names = ", ".join(p.name for p in pictures)
    verb = "stays" if len(pictures) == 1 else "stay"
    say(
        f"[{names} {verb} attached to your next prompt: /model <name> to choose a model that "
        "sees images, or /image clear to send it without them.]\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # a missing model: usage on stderr and exit status 2
    from desktop_chat.config import load_settings
    from desktop_chat.paths import app_paths

    paths = app_paths()
    store = open_store(paths.database)
    if args.list:
        status = 0
        try:
            list_conversations(store)
        except StoreError as err:
            out(f"Error: {err.message}\n{err.hint}")
            status = 1
        store.checked()  # a damaged file the check after opening finds is said before leaving
        tell_store_news()
        store.close()
        return status
    session = ChatSession(store, on_problem=_store_news.append)
    if args.resume:
        try:
            last = read_or_repair(store, store.latest)
            if last is not None:
                read_or_repair(store, session.open, last.id)
        except StoreError as err:
            out(f"Could not continue the last conversation. {err.message} {err.hint}")
            last = None
            session.new()
        if last is None:
            out("There is no saved conversation to continue; starting a new one.")
        else:
            args.model = args.model or last.model
            out(f"Continuing “{last.title}” ({len(session.conversation.messages)} messages).")
    loaded = offer_to_move_keys(load_settings(paths, cwd=Path.cwd()), paths)
    for err in loaded.errors:
        out(f"Warning: {err}")
    # As chatybot: no argument starts the default model (default_model, else the first
    # model of chat_config.toml).
    args.model = args.model or loaded.settings.default_model
    if not args.model:
        parser().error(
            "a model is needed: name one, or set default_model in config.toml "
            "(or use --continue, or --list)"
        )
    user, problem = read_user_config(user_config_path())
    if problem:
        out(f"Warning: {problem}")
    session.settings = loaded.settings
    try:
        session.flags, session.base = params_from(args, user, loaded.settings.defaults)
    except ValueError as exc:
        out(f"Error: {exc}")
        return 2
    with asyncio.Runner() as runner:
        state = ChatState(session, runner, history=not args.no_history)
        out(f"Loading model {args.model}...")
        try:
            state.open(args.model)
        except DesktopChatError as err:
            out(f"Error: {err}")
            return 1
        except KeyboardInterrupt:
            out("\nGoodbye!")
            return 0
        out("Model loaded successfully!")
        start_tools(state, paths.config_file)
        out("Type /help for commands; quit, bye or exit to leave.\n")
        try:
            chat_loop(state, paths.log_dir)
        finally:
            out("Goodbye!")
            state.current.close()
            runner.run(state.current.provider.aclose())
            if state.tools is not None:
                runner.run(state.tools.close())  # the MCP servers stop with the chat
            store.close()
    return 0


def start_tools(state: ChatState, config_path) -> None:
    """The MCP servers of config.toml, started now (each that fails said), their tools
    offered to every reply with a prompt before each call."""
    if not getattr(state.settings, "mcp_servers", None):
        return
    from desktop_chat.cli.tools import TerminalTools

    tools = TerminalTools(state.settings, config_path, out)
    out("Starting the MCP servers...")
    try:
        state.runner.run(tools.start())
    except KeyboardInterrupt:
        out("[the MCP servers were not started; /tools to see them]")
    state.use_tools(tools)
    count = len(tools.toolbox)
    out(f"{count} tool{'s' if count != 1 else ''} offered; /tools lists them.")


def offer_to_move_keys(loaded, paths):
    """A plaintext ``api_key`` in chat_config.toml is never used from the file: offer to move
    it into the keychain (then it is used); declined or not asked, the warning says why."""
    from desktop_chat.legacy_keys import move_to_keychain, plaintext_keys

    found = [k for source in loaded.sources for k in plaintext_keys(source)]
    if not found or not sys.stdin.isatty():
        return loaded
    names = ", ".join(sorted({f"'{k.alias}'" for k in found}))
    files = ", ".join(sorted({str(k.path) for k in found}))
    out(f"{files} holds a plaintext API key for {names}.")
    try:
        answer = input("Move it to the system keychain and out of the file? [y/N] ")
    except (EOFError, KeyboardInterrupt):
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        return loaded
    from desktop_chat.config import load_settings
    from desktop_chat.keys import KeyStore

    providers = loaded.settings.providers
    try:
        move_to_keychain(
            found,
            KeyStore(),
            lambda alias: providers[alias].key_name if alias in providers else alias,
        )
    except DesktopChatError as err:
        out(f"The key stays where it is: {err}")
        return loaded
    out(f"Moved to the keychain; removed from {files}.")
    return load_settings(paths, cwd=Path.cwd())


def open_store(path):
    """The conversation store; when its file cannot be used (a full disk, a read-only or
    locked file), one for this session only, with a warning that says why."""
    from desktop_chat.store import Store

    store = Store.open_anyway(path)
    for note in store.notes:
        out(f"{'Note' if store.saved else 'Warning'}: {note}")
    # What the store's check finds later (a damaged file it repaired): said before a prompt.
    store.listen(_store_news.append)
    return store


def read_or_repair(store, read, *args):
    """``read(*args)``; when the file turns out damaged, wait while the store copies what can
    still be read into a new file (on its own thread), say so, and read once more. What still
    fails raises ``StoreError``."""
    try:
        return read(*args)
    except StoreError as err:
        if err.kind != "damaged":
            raise
        out(f"[{err.message}] Copying what can still be read into a new file…")
        store.checked()
        tell_store_news()
        return read(*args)


def list_conversations(store) -> None:
    import datetime as dt

    rows = read_or_repair(store, store.conversations)
    if not rows:
        out("No saved conversations yet.")
        return
    for info in rows:
        when = dt.datetime.fromtimestamp(info.updated).strftime("%Y-%m-%d %H:%M")
        count = len(read_or_repair(store, store.branch_ids, info.id))
        pin = "★ " if info.pinned else ""
        out(
            f"{info.id:>5}  {when}  {count:>4} msgs  {pin}{info.title or 'New chat'}"
            + (f"  [{info.model}]" if info.model else "")
        )
