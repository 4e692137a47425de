"""``llmchat``: the terminal chat on the same core as the window."""

from desktop_chat.cli.app import main

__all__ = ["main"]
