"""The terminal chat loop: prompt, stream the reply, show its figures, repeat."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence

from desktop_chat.cli.commands import run_command
from desktop_chat.cli.options import params_from, parser, read_user_config, user_config_path
from desktop_chat.cli.state import ChatState
from desktop_chat.conversation import Conversation
from desktop_chat.errors import DesktopChatError, ProviderError
from desktop_chat.events import Finished, TextDelta
from desktop_chat.models import OpenModel, open_model, print_progress
from desktop_chat.session import run_turn

EXIT_WORDS = {"quit", "bye", "exit"}
PROMPT = "prompt -> "

# One asyncio runner for the whole session: a remote provider's HTTP client belongs to its loop,
# and Runner turns Ctrl+C into a cancellation of the running reply.
_runner: asyncio.Runner | None = None


def out(text: str = "") -> None:
    print(text, flush=True)


def wait_loaded(model: OpenModel) -> None:
    """Load a local model now, so the first prompt does not pay for it."""
    _runner.run(model.provider.ensure_loaded())


async def reply(state: ChatState, prompt: str) -> None:
    conversation = state.conversation if state.history else Conversation()
    text = state.prompt_with_context(prompt)
    state.files.clear()  # the files join this one prompt only
    state.log("user", text)
    sys.stdout.write("\n")
    parts: list[str] = []
    try:
        model = state.current
        async for event in run_turn(
            model.provider, conversation, text, model.model, state.effective_params()
        ):
            if isinstance(event, TextDelta):
                parts.append(event.text)
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, Finished):
                out(f"\n\n[{_figures(event)}]")
                if event.dropped_messages:
                    out(f"[the {event.dropped_messages} oldest messages did not fit the model's "
                        "context and were left out of this reply]")  # fmt: skip
                out()
    finally:
        state.last_reply = "".join(parts)
        state.log("assistant", state.last_reply)


def _figures(event: Finished) -> str:
    bits = [f"{event.total_s:.2f} s"]
    if event.tokens_per_s:
        bits.append(f"{event.tokens_per_s:.1f} tok/s")
    if event.usage.completion_tokens is not None:
        bits.append(f"{event.usage.completion_tokens} tokens")
    return " · ".join(bits)


def chat_loop(state: ChatState, log_dir) -> None:
    with contextlib.suppress(ImportError):  # absent on Windows
        import readline  # noqa: F401  (line editing and input history for input())
    while True:
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
            _runner.run(reply(state, line))
        except KeyboardInterrupt:
            out("\n[stopped]\n")
        except DesktopChatError as err:
            if isinstance(err, ProviderError) and err.partial_text:
                out("\n[the reply above is incomplete]")
            out(f"\nError: {err}\n")


def main(argv: Sequence[str] | None = None) -> int:
    global _runner
    args = parser().parse_args(argv)  # a missing model: usage on stderr and exit status 2
    from desktop_chat.config import load_settings
    from desktop_chat.paths import app_paths

    paths = app_paths()
    loaded = load_settings(paths)
    for err in loaded.errors:
        out(f"Warning: {err}")
    user, problem = read_user_config(user_config_path())
    if problem:
        out(f"Warning: {problem}")
    try:
        flags, base = params_from(args, user, loaded.settings.defaults)
    except ValueError as exc:
        out(f"Error: {exc}")
        return 2
    with asyncio.Runner() as runner:
        _runner = runner
        out(f"Loading model {args.model}...")
        try:
            model = open_model(args.model, loaded.settings, print_progress)
            if model.engine is not None:
                wait_loaded(model)
        except DesktopChatError as err:
            out(f"Error: {err}")
            return 1
        except KeyboardInterrupt:
            out("\nGoodbye!")
            return 0
        out("Model loaded successfully!")
        out("Type /help for commands; quit, bye or exit to leave.\n")
        state = ChatState(loaded.settings, model, flags, base, history=not args.no_history)
        try:
            chat_loop(state, paths.log_dir)
        finally:
            out("Goodbye!")
            state.current.close()
            runner.run(state.current.provider.aclose())
    return 0
