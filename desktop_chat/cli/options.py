"""Command-line options, layered over ``~/.llmchat_config`` and the app's ``config.toml``."""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path

from desktop_chat.params import GenerationParams

BUILT_IN = {"temperature": 0.7, "max_tokens": 512, "top_p": 0.9}
USAGE_EPILOG = """examples:
  llmchat mlx-community/Llama-3.2-3B-Instruct-4bit   a Hugging Face model, run locally on MLX
  llmchat ~/models/my-mlx-model                      a local MLX model folder
  llmchat openai:gpt-4o-mini                         provider:model from config.toml
  llmchat fast                                       an alias from config.toml
  llmchat --continue                                 the last conversation, where it stopped
  llmchat --list                                     the saved conversations

Type /help at the prompt for commands; quit, bye or exit leaves."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmchat",
        description="Chat with a language model in the terminal.",
        epilog=USAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model", nargs="?", help="Hugging Face id, model folder, provider:model or alias"
    )
    p.add_argument("--temperature", type=float, help="sampling temperature (default 0.7)")
    p.add_argument("--max-tokens", type=int, help="longest reply in tokens (default 512)")
    p.add_argument("--top-p", type=float, help="nucleus sampling (default 0.9)")
    p.add_argument("--system", help="system prompt")
    p.add_argument("--no-history", action="store_true", help="answer each prompt on its own")
    p.add_argument(
        "--think",
        action=argparse.BooleanOptionalAction,
        help="a reasoning model thinks before it answers, or (--no-think) answers at once; "
        "for models whose chat template has the switch (default: the model's own)",
    )
    p.add_argument(
        "--continue",
        dest="resume",
        action="store_true",
        help="go on with the last conversation (with its model unless one is given)",
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="list the saved conversations (the window's too) and leave",
    )
    return p


def user_config_path() -> Path:
    return Path(os.environ.get("LLMCHAT_CONFIG", "~/.llmchat_config")).expanduser()


def read_user_config(path: Path) -> tuple[dict, str | None]:
    """``~/.llmchat_config``: temperature, max_tokens, top_p, system. Returns (values, problem)."""
    if not path.exists():
        return {}, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path}: {exc}; using the defaults."
    known = {k: data[k] for k in ("temperature", "max_tokens", "top_p", "system") if k in data}
    return known, None


def params_from(
    args: argparse.Namespace, user: dict, app_defaults: GenerationParams
) -> tuple[GenerationParams, GenerationParams]:
    """(what the flags set, the defaults under everything else).

    Precedence: flags, then the model's alias and provider settings, then ~/.llmchat_config,
    then config.toml's [defaults], then the built-in defaults.
    """
    flags = GenerationParams(
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        top_p=args.top_p,
        system_prompt=args.system,
        think=args.think,
    )
    user_params = GenerationParams.from_mapping(
        {("system_prompt" if k == "system" else k): v for k, v in user.items()}
    )
    base = user_params.over(app_defaults).over(GenerationParams(**BUILT_IN))
    return flags, base
