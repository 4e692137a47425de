"""What a terminal chat holds between prompts: its session, the model open, and how it opens
another (at the start and with ``/model``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_chat.config import Settings
from desktop_chat.models import OpenModel, open_model, print_progress
from desktop_chat.session import ChatSession


@dataclass
class ChatState:
    #: The conversation (kept in the same store as the window's) and what its next reply is
    #: asked with: the command line's flags, the model, code only, the /file files.
    session: ChatSession
    #: One asyncio runner for the whole chat: a remote provider's HTTP client belongs to its
    #: loop, and Runner turns Ctrl+C into a cancellation of the running reply.
    runner: asyncio.Runner
    current: OpenModel | None = None
    history: bool = True
    log_path: Path | None = None
    #: The tools offered (``cli.tools.TerminalTools``), None when config.toml names none.
    tools: Any = None

    @property
    def settings(self) -> Settings:
        return self.session.settings

    @property
    def last_reply(self) -> str:
        turn = self.session.turn
        return turn.text if turn is not None else ""

    def open(self, spec: str) -> None:
        """Chat with ``spec`` from now on: downloaded with progress if need be, a local model
        loaded now, so the first prompt does not pay for it; then the model before is closed.
        Raises ``DesktopChatError`` with a sentence for the user (the model before stays)."""
        model = open_model(spec, self.settings, print_progress)
        if model.engine is not None:
            self.runner.run(model.provider.ensure_loaded())
        if self.current is not None:
            self.current.close()
        self.current = model
        self.session.set_model(model.choice)

    def use_tools(self, tools: Any) -> None:
        """Offer ``tools`` to every reply from now on, each call asked at the prompt."""
        self.tools = tools
        self.session.tools = tools.toolbox
        self.session.approve = tools.approve

    def log(self, role: str, text: str) -> None:
        if self.log_path is not None:
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write(f"## {role}\n\n{text}\n\n")
