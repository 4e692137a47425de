"""Where the app keeps its files. Nothing is created at import time; ``app_paths()`` only
computes locations, and the writers create folders when they first need them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "Desktop Chat"
HOME_VARIABLE = "DESKTOP_CHAT_HOME"


@dataclass(frozen=True, slots=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def legacy_config_file(self) -> Path:
        """The chatybot-style ``chat_config.toml``, read when present beside ``config.toml``."""
        return self.config_dir / "chat_config.toml"

    @property
    def database(self) -> Path:
        return self.data_dir / "conversations.sqlite3"

    def all_dirs(self) -> tuple[Path, ...]:
        return (self.config_dir, self.data_dir, self.cache_dir, self.log_dir)


def app_paths(environ: Mapping[str, str] | None = None) -> AppPaths:
    """The platform's folders, or one folder for everything when ``DESKTOP_CHAT_HOME`` is set."""
    environ = os.environ if environ is None else environ
    home = environ.get(HOME_VARIABLE, "").strip()
    if home:
        root = Path(home).expanduser().resolve()
        return AppPaths(root / "config", root / "data", root / "cache", root / "logs")
    import platformdirs

    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    return AppPaths(
        Path(dirs.user_config_dir),
        Path(dirs.user_data_dir),
        Path(dirs.user_cache_dir),
        Path(dirs.user_log_dir),
    )
