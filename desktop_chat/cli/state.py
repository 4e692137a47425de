"""What a terminal chat session holds between prompts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from desktop_chat.config import Settings
from desktop_chat.context import ContextFiles
from desktop_chat.conversation import Conversation
from desktop_chat.history import StoredChat
from desktop_chat.models import OpenModel
from desktop_chat.params import GenerationParams

CODE_ONLY = (
    "Answer with code only: a single fenced code block with the language named, "
    "no explanations before or after it."
)


@dataclass
class ChatState:
    settings: Settings
    current: OpenModel
    #: What the command line set: it beats everything.
    flags: GenerationParams
    #: ~/.llmchat_config, config.toml's [defaults] and the built-in defaults.
    base: GenerationParams
    history: bool = True
    #: The conversation, kept in the same store as the window's.
    chat: StoredChat | None = None
    code_only: bool = False
    #: Files added with /file; they join the next prompt only.
    files: ContextFiles = field(default_factory=ContextFiles)
    log_path: Path | None = None
    last_reply: str = ""

    @property
    def conversation(self) -> Conversation:
        return self.chat.conversation

    def effective_params(self) -> GenerationParams:
        params = self.flags.over(self.current.params).over(self.base)
        if self.code_only:
            system = f"{params.system_prompt}\n\n{CODE_ONLY}" if params.system_prompt else CODE_ONLY
            params = params.replace(system_prompt=system)
        return params

    def prompt_with_context(self, prompt: str) -> str:
        return self.files.prompt_with(prompt)

    def log(self, role: str, text: str) -> None:
        if self.log_path is not None:
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write(f"## {role}\n\n{text}\n\n")
