"""Each conversation's prompt cache (a local model's keys and values for what it has read),
kept in memory for the few used last and on disk for the rest, so that reopening a long local
chat, after switching or after a restart, reads only what is new.

Used on the engine's one MLX thread only: the pool takes no lock. ``take`` hands a cache out
(removed from the pool, so nothing copies it) and ``keep`` puts it back after the reply; the
engine trims it to the common prefix. A cache is matched by the model's fingerprint (its path,
config and weight files: another model, or the same one downloaded again, never reuses one)
and, on disk, by the tokens it holds, which its file records with their hash.

Disk files are mlx-lm's own format (``save_prompt_cache``: safetensors with metadata), written
to a temporary name then renamed: quitting mid-save leaves no half file. A file that does not
load, or whose metadata does not match what it holds, is removed, never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = "1"
SUFFIX = ".safetensors"
TEMPORARY = ".partial" + SUFFIX  # mx.save_safetensors adds ".safetensors" to other names


def model_fingerprint(folder: Path, kv_bits: int | None = None) -> str:
    """What a cache was computed with: the folder, its config and its weight files (names,
    sizes, times), and the cache's precision. Changes when the model does."""
    folder = Path(folder).resolve()
    digest = hashlib.sha256(str(folder).encode())
    try:
        digest.update((folder / "config.json").read_bytes())
        for weights in sorted(folder.glob("*.safetensors")):
            info = weights.stat()
            digest.update(f"{weights.name}:{info.st_size}:{info.st_mtime_ns}".encode())
    except OSError:
        digest.update(str(time.time()).encode())  # unreadable: never matches a saved one
    digest.update(f"kv_bits={kv_bits}".encode())
    return digest.hexdigest()[:32]


def tokens_hash(tokens: list[int]) -> str:
    return hashlib.sha256(json.dumps(tokens).encode()).hexdigest()


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(slots=True)
class Held:
    """A cache and the tokens it holds, in order."""

    cache: Any
    tokens: list[int]
    model: str
    key: str | None
    #: The pool's epoch when it was last kept: a clear or forget after that means its queued
    #: save is out of date and must not bring the file back.
    epoch: int = 0

    @property
    def nbytes(self) -> int:
        return sum(int(getattr(layer, "nbytes", 0)) for layer in self.cache)


def _key_name(key: str) -> str:
    # Conversation ids are numbers; anything else (an API caller's name) is hashed to a name.
    return key if key.isdigit() else hashlib.sha256(key.encode()).hexdigest()[:24]


class PromptCaches:
    """The pool. ``folder`` None: memory only (nothing saved)."""

    def __init__(
        self,
        folder: Path | None,
        memory_bytes: int = 2 << 30,
        disk_bytes: int = 4 << 30,
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.memory_bytes = memory_bytes
        self.disk_bytes = disk_bytes
        self._held: OrderedDict[tuple[str, str | None], Held] = OrderedDict()  # LRU first
        # Bumped by each clear() and forget(): a reply that ended just before Clear (or a
        # delete) had its save queued behind it, and that save must find it out of date.
        self._epoch = 0
        self._cleared = 0
        self._forgotten: dict[str, int] = {}
        if self.folder is not None:
            self._remove_partials()

    # --- memory --------------------------------------------------------------------------

    def take(self, model: str, key: str | None, tokens: list[int]) -> Held | None:
        """The best cache for ``tokens``: this conversation's in memory, else its file on disk,
        else another conversation's in memory that shares a prefix (a common system prompt).
        Removed from the pool; ``keep`` gives it back."""
        own = self._held.pop((model, key), None)
        if own is None and key is not None:
            own = self._load(model, key)
        if own is not None and common_prefix(own.tokens, tokens) > 0:
            return own
        if own is not None:  # nothing in common any more (an edit of the first message)
            self._held[(model, key)] = own
        best, length = None, 0
        for slot, held in self._held.items():
            if slot[0] == model and (n := common_prefix(held.tokens, tokens)) > length:
                best, length = slot, n
        if best is None:
            return None
        # Another conversation's: a copy stays with it (keys and values are arrays; mlx
        # copies lazily only what the trim keeps).
        held = self._held[best]
        return Held([_copy(layer) for layer in held.cache], list(held.tokens), model, key)

    def keep(self, held: Held) -> None:
        """Back in memory, most recently used; the least recently used go past the budget."""
        slot = (held.model, held.key)
        held.epoch = self._epoch
        self._held.pop(slot, None)
        self._held[slot] = held
        while len(self._held) > 1 and self.memory_used() > self.memory_bytes:
            (_model, key), _gone = self._held.popitem(last=False)
            log.info("prompt cache of conversation %s dropped from memory", key)

    def drop(self, key: str | None = None) -> None:
        """Forget caches in memory (all, or one conversation's): a model unloaded, a chat
        deleted."""
        for slot in [s for s in self._held if key is None or s[1] == key]:
            del self._held[slot]

    def memory_used(self) -> int:
        return sum(h.nbytes for h in self._held.values())

    # --- disk ----------------------------------------------------------------------------

    def path(self, model: str, key: str) -> Path:
        assert self.folder is not None
        return self.folder / model / f"{_key_name(key)}{SUFFIX}"

    def save(self, held: Held, message: str | None = None) -> Path | None:
        """Write ``held`` to its conversation's file (a temporary file, then renamed), then
        keep the folder within its budget. None when there is no folder or no key."""
        from mlx_lm.models.cache import save_prompt_cache

        if self.folder is None or held.key is None or not held.tokens:
            return None
        if held.epoch < max(self._cleared, self._forgotten.get(held.key, 0)):
            log.info("prompt cache of conversation %s not saved: cleared since", held.key)
            return None
        final = self.path(held.model, held.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(final.name[: -len(SUFFIX)] + TEMPORARY)
        metadata = {
            "format": FORMAT,
            "model": held.model,
            "conversation": held.key,
            "message": message or "",
            "count": str(len(held.tokens)),
            "tokens_hash": tokens_hash(held.tokens),
            "tokens": json.dumps(held.tokens),
        }
        try:
            save_prompt_cache(str(partial), held.cache, metadata)
            os.replace(partial, final)
        except (OSError, ValueError, RuntimeError) as exc:  # a full disk: no file, no harm
            log.warning("prompt cache not saved: %s", exc)
            partial.unlink(missing_ok=True)
            return None
        self._within_budget(keep=final)
        return final

    def _load(self, model: str, key: str) -> Held | None:
        from mlx_lm.models.cache import load_prompt_cache

        if self.folder is None:
            return None
        path = self.path(model, key)
        if not path.is_file():
            return None
        try:
            cache, meta = load_prompt_cache(str(path), return_metadata=True)
            tokens = json.loads(meta["tokens"])
            offset = int(cache[0].offset) if cache and hasattr(cache[0], "offset") else -1
            ok = (
                meta.get("format") == FORMAT
                and meta.get("model") == model
                and meta.get("conversation") == key
                and int(meta["count"]) == len(tokens) == offset
                and meta["tokens_hash"] == tokens_hash(tokens)
            )
        except Exception as exc:  # any damage: the file goes, nothing loads
            log.warning("prompt cache %s is damaged and was removed: %s", path.name, exc)
            path.unlink(missing_ok=True)
            return None
        if not ok:
            log.warning("prompt cache %s does not match what it holds; removed", path.name)
            path.unlink(missing_ok=True)
            return None
        os.utime(path)  # used: the last to go when the folder is over its budget
        log.info("prompt cache of conversation %s loaded: %d tokens", key, len(tokens))
        return Held(cache, tokens, model, key)

    def files(self) -> list[Path]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return [p for p in self.folder.glob(f"*/*{SUFFIX}") if not p.name.endswith(TEMPORARY)]

    def disk_used(self) -> int:
        total = 0
        for path in self.files():
            with contextlib.suppress(OSError):  # removed meanwhile
                total += path.stat().st_size
        return total

    def forget(self, key: str) -> None:
        """A conversation deleted: its caches go, in memory and on disk."""
        self._epoch += 1
        self._forgotten[key] = self._epoch
        self.drop(key)
        name = f"{_key_name(key)}{SUFFIX}"
        for path in self.files():
            if path.name == name:
                path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Every cache on disk and in memory (Settings' Clear)."""
        self._epoch += 1
        self._cleared = self._epoch
        self.drop()
        for path in self.files():
            path.unlink(missing_ok=True)

    def _within_budget(self, keep: Path) -> None:
        entries = []
        for path in self.files():
            try:
                info = path.stat()
            except OSError:
                continue
            entries.append((info.st_mtime, info.st_size, path))
        entries.sort()  # least recently used first
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if total <= self.disk_bytes:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size
            log.info("prompt cache %s removed: over the disk budget", path.name)

    def _remove_partials(self) -> None:
        """What a quit mid-save left behind."""
        assert self.folder is not None
        if self.folder.is_dir():
            for partial in self.folder.glob(f"*/*{TEMPORARY}"):
                partial.unlink(missing_ok=True)


def _copy(layer: Any) -> Any:
    """A layer's cache that shares nothing with ``layer`` (mlx arrays are values: a state
    round trip gives a new object over the same, immutable, buffers)."""
    return type(layer).from_state(layer.state) if hasattr(type(layer), "from_state") else layer


# --- the folder without an engine (Settings, a chat deleted while no local model runs) -------

#: The caches' folder in the app's cache folder (one folder per model fingerprint in it).
FOLDER = "prompt-caches"


def _saved_files(folder: Path) -> list[Path]:
    """The finished cache files (a ``.partial`` one is another engine's save under way)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.glob(f"*/*{SUFFIX}") if not p.name.endswith(TEMPORARY)]


def disk_usage(folder: Path) -> int:
    """The bytes the caches in ``folder`` take, read from the files alone: no engine."""
    total = 0
    for path in _saved_files(Path(folder)):
        with contextlib.suppress(OSError):  # removed meanwhile
            total += path.stat().st_size
    return total


def remove_files(folder: Path, key: str | None = None) -> int:
    """Remove the cache files of conversation ``key`` (None: all) for every model, when no
    engine holds them; how many went. ``OSError`` when one could not be removed (the others
    are removed all the same)."""
    name = None if key is None else f"{_key_name(key)}{SUFFIX}"
    gone, failed = 0, None
    for path in _saved_files(Path(folder)):
        if name is None or path.name == name:
            try:
                path.unlink(missing_ok=True)
                gone += 1
            except OSError as exc:
                failed = failed or exc
    if failed is not None:
        raise failed
    return gone


def remove_orphans(folder: Path, exists: Callable[[int], bool]) -> int:
    """Remove the files of conversations that ``exists`` no longer knows (deleted by a copy
    that quit before it removed them); names that are not conversation ids (an API caller's,
    hashed) stay. List the files before asking: a conversation is made before its file."""
    gone = 0
    for path in _saved_files(Path(folder)):
        stem = path.name[: -len(SUFFIX)]
        if stem.isdigit() and not exists(int(stem)):
            path.unlink(missing_ok=True)
            gone += 1
    return gone


def cached_words(cached: int, prompt: int | None = None) -> str:
    """The stats line's "3,912 of 4,020 prompt tokens cached" ("" when none were)."""
    if cached <= 0:
        return ""
    of = f" of {prompt:,}" if prompt and prompt >= cached else ""
    noun = "token" if (prompt or cached) == 1 else "tokens"
    return f"{cached:,}{of} prompt {noun} cached"
