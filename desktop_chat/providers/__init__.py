"""Providers: one async streaming contract for remote servers and the local MLX engine."""

from desktop_chat.providers.base import Health, Provider

__all__ = ["Health", "Provider"]
