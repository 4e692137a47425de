"""Desktop Chat: a macOS desktop chat app for local (MLX) and remote language models.

The public Python API is imported lazily, so ``import desktop_chat`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "AsyncChatManager",
    "AsyncLLMChat",
    "ChatManager",
    "ChatResponse",
    "LLMChat",
    "LLMConfig",
]

if TYPE_CHECKING:
    from desktop_chat.api import (
        AsyncChatManager,
        AsyncLLMChat,
        ChatManager,
        ChatResponse,
        LLMChat,
        LLMConfig,
    )


def __getattr__(name: str) -> Any:
    if name in __all__:
        from desktop_chat import api

        return getattr(api, name)
    raise AttributeError(f"module 'desktop_chat' has no attribute {name!r}")
