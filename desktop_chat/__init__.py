"""Desktop Chat: a macOS desktop chat app for local (MLX) and remote language models.

The public Python API is imported lazily, so ``import desktop_chat`` stays cheap.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

# A library's records go where the program sends them (the app: its log file), never to the
# terminal by default: llmchat and the API print what the user must know themselves.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"
__all__ = [
    "AIMLClient",
    "Approval",
    "AsyncChatManager",
    "AsyncLLMChat",
    "ChatClient",
    "ChatManager",
    "ChatResponse",
    "ImageRefused",
    "ImagesNotSupported",
    "LLMChat",
    "LLMConfig",
    "OpenAIClient",
    "ReasoningDelta",
    "TextDelta",
    "Tool",
    "ToolError",
    "function_tool",
]
#: Public names that live outside ``desktop_chat.api``, by module: the Chat module's clients,
#: the pieces of a stream asked ``include_reasoning=True``, and what ``images=`` can raise.
_ELSEWHERE = {
    **dict.fromkeys(("AIMLClient", "ChatClient", "OpenAIClient"), "chat_clients"),
    **dict.fromkeys(("ReasoningDelta", "TextDelta"), "events"),
    "ImageRefused": "images",
    "ImagesNotSupported": "errors",
    # Tools for LLMChat(tools=..., approve=...).
    **dict.fromkeys(("Approval", "Tool", "ToolError", "function_tool"), "tools"),
}

if TYPE_CHECKING:
    from desktop_chat.api import (
        AsyncChatManager,
        AsyncLLMChat,
        ChatManager,
        ChatResponse,
        LLMChat,
        LLMConfig,
    )
    from desktop_chat.chat_clients import AIMLClient, ChatClient, OpenAIClient
    from desktop_chat.errors import ImagesNotSupported
    from desktop_chat.events import ReasoningDelta, TextDelta
    from desktop_chat.images import ImageRefused
    from desktop_chat.tools import Approval, Tool, ToolError, function_tool


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        module = importlib.import_module(f"desktop_chat.{_ELSEWHERE.get(name, 'api')}")
        return getattr(module, name)
    raise AttributeError(f"module 'desktop_chat' has no attribute {name!r}")
