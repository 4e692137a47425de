"""The app's settings file for a test."""

from __future__ import annotations

from pathlib import Path


def write_config(home: Path, text: str) -> Path:
    """The app's config.toml in the test's DESKTOP_CHAT_HOME."""
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    return config
