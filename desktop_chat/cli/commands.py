"""Slash commands, as the earlier chatybot tool had them."""

from __future__ import annotations

import datetime as dt
import os
import shlex
from collections.abc import Callable
from pathlib import Path

from desktop_chat.cli.state import ChatState
from desktop_chat.context import ContextError, read_file
from desktop_chat.errors import DesktopChatError

HELP = """Commands:
  /help                 this list
  /file <path>          read a text file into the context of the next prompt
  /showfile [all]       show the file in the context (first 100 characters, or all)
  /image <path>         send an image with the next prompt (PNG, JPEG, HEIC, GIF, WebP);
                        /image lists those attached, /image clear drops them
  /model <name>         switch model (alias, provider:model, folder or Hugging Face id)
  /listmodels           the configured models and aliases
  /logging start|end    append the conversation to a log file, or stop
  /save <file>          write the last reply to a file
  /codeonly, /codeoff   answer with code only, or normally again
  /think on|off         a reasoning model thinks before it answers, or answers at once
  /tools                the tools the model may call (MCP servers of config.toml)
  /quit                 leave (also quit, bye, exit)"""


def run_command(line: str, state: ChatState, out: Callable[[str], None], log_dir: Path) -> bool:
    """Carry out one slash command; returns False when the chat should end."""
    name, _, arg = line.partition(" ")
    arg = arg.strip()
    handler = _COMMANDS.get(name.lower())
    if handler is None:
        out(f"Unknown command {name}. Type /help for the list.")
        return True
    return handler(arg, state, out, log_dir) is not False


def _help(arg, state, out, log_dir):
    out(HELP)


def _file(arg, state: ChatState, out, log_dir):
    if not arg:
        out("Usage: /file <path>")
        return
    try:
        file = read_file(arg)
        state.session.files.add(file)
    except ContextError as err:
        out(str(err))
        return
    if file.truncated:
        out(f"{file.name} is long; only its first {len(file.text):,} characters were kept.")
    out(f"{file.name} ({len(file.text):,} characters) will join your next prompt.")


def _image(arg, state: ChatState, out, log_dir):
    pictures = state.session.pictures
    if not arg:
        if not pictures:
            out("No image attached. Usage: /image <path>")
        for picture in pictures:
            out(f"{describe(picture)} goes with your next prompt.")
        return
    path = _path_given(arg)
    if arg == "clear" and not path.exists():
        out(f"Dropped {len(pictures)} attached image(s)." if pictures else "No image attached.")
        pictures.clear()
        return
    from desktop_chat.images import normalise

    try:
        picture = normalise(path, max_side=state.session.image_max_side())
    except DesktopChatError as err:  # unreadable, not an image, too big: what is attached stays
        out(str(err))
        return
    pictures.append(picture)
    out(f"{describe(picture)} will go with your next prompt.")


def describe(picture) -> str:
    """'shot.png (1280×800, 412 KB, about 1,105 tokens)': what is sent, and what it costs."""
    size = len(picture.data)
    shown = f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{max(1, round(size / 1e3))} KB"
    return (
        f"{picture.name} ({picture.width}×{picture.height}, {shown}, "
        f"about {picture.tokens:,} tokens)"
    )


def _path_given(arg: str) -> Path:
    """The path as typed, or as a terminal pastes a dropped file (quoted, or spaces escaped)."""
    path = Path(arg).expanduser()
    if not path.exists():
        try:
            words = shlex.split(arg)
        except ValueError:
            words = []
        if len(words) == 1:
            return Path(words[0]).expanduser()
    return path


def _showfile(arg, state: ChatState, out, log_dir):
    files = state.session.files.files
    if not files:
        out("No file in the context. Add one with /file <path>.")
        return
    for file in files:
        shown = file.text if arg == "all" else file.text[:100]
        more = "" if arg == "all" or len(file.text) <= 100 else " …"
        out(f"--- {file.name} ---\n{shown}{more}")


def _model(arg, state: ChatState, out, log_dir):
    if not arg:
        out(f"Current model: {state.current.label}. Usage: /model <name>")
        return
    out(f"Loading model {arg}...")
    try:
        state.open(arg)
    except DesktopChatError as err:
        out(f"Error: {err}")
        return
    out(f"Model loaded successfully! Now chatting with {state.current.label}.")


def _listmodels(arg, state: ChatState, out, log_dir):
    lines = [f"* {state.current.label} (current)"]
    for alias in state.settings.aliases.values():
        lines.append(f"  {alias.name} -> {alias.target}")
    for provider in state.settings.providers.values():
        lines += [f"  {provider.name}:{m}" for m in provider.models]
    out("\n".join(lines))


def _logging(arg, state: ChatState, out, log_dir):
    if arg == "start":
        log_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y-%m-%d")
        state.log_path = log_dir / f"llmchat-{stamp}.md"
        out(f"Logging to {state.log_path}")
    elif arg == "end":
        if state.log_path is None:
            out("Logging is not on.")
        else:
            out(f"Stopped logging to {state.log_path}")
            state.log_path = None
    else:
        out("Usage: /logging start|end")


def _save(arg, state: ChatState, out, log_dir):
    if not arg:
        out("Usage: /save <file>")
        return
    if not state.last_reply:
        out("There is no reply to save yet.")
        return
    path = Path(arg).expanduser()
    if path.is_dir():
        out(f"{path} is a folder; give a file name.")
        return
    if path.exists() and not _confirm(f"{path} already exists. Replace it? [y/N] "):
        out(f"Kept {path} as it was; nothing saved.")
        return
    try:
        # Written beside it, then moved over it in one step: never half a file.
        new = path.with_name(f".{path.name}.new")
        new.write_text(state.last_reply, encoding="utf-8")
        os.replace(new, path)
    except OSError as exc:
        out(f"Could not write {path}: {exc.strerror or exc}.")
        return
    out(f"Saved the last reply to {path}")


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except (EOFError, KeyboardInterrupt):
        return False


def _codeonly(arg, state: ChatState, out, log_dir):
    state.session.code_only = True
    out("Code-only answers: on.")


def _codeoff(arg, state: ChatState, out, log_dir):
    state.session.code_only = False
    out("Code-only answers: off.")


def _think(arg, state: ChatState, out, log_dir):
    session = state.session
    if arg.lower() not in ("on", "off"):
        now = {True: "on", False: "off", None: "the model's default"}[session.params().think]
        out(f"Thinking: {now}. Usage: /think on|off")
        return
    # The session's flags: over the persona, the model's alias and the defaults, as --no-think.
    session.flags = session.flags.replace(think=arg.lower() == "on")
    out(f"Thinking: {arg.lower()} (for models whose chat template has the switch).")


def _tools(arg, state: ChatState, out, log_dir):
    if state.tools is None:
        out(
            "No tools are offered. Add MCP servers as [mcp.servers.NAME] in config.toml "
            "(command and args, or url), then start llmchat again."
        )
        return
    out("\n".join(state.tools.lines()))


def _quit(arg, state, out, log_dir):
    return False


_COMMANDS = {
    "/help": _help,
    "/file": _file,
    "/showfile": _showfile,
    "/image": _image,
    "/model": _model,
    "/listmodels": _listmodels,
    "/logging": _logging,
    "/save": _save,
    "/codeonly": _codeonly,
    "/codeoff": _codeoff,
    "/think": _think,
    "/tools": _tools,
    "/quit": _quit,
}
