"""Hugging Face models for the local engine: what is cached, downloads with byte progress that
can be cancelled and resume, and errors that say what to do.

``huggingface_hub`` is imported lazily; ``HF_ENDPOINT`` and ``HF_HOME`` are honoured as usual,
and ``HF_TOKEN`` opens gated repos.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from desktop_chat.errors import DesktopChatError, ModelUnavailable
from desktop_chat.hub_resume import fetch_large_files
from desktop_chat.platform.launch import hint

#: What an MLX model needs from its repo; skips other formats' weights (GGUF, PyTorch).
MLX_PATTERNS = ["*.json", "*.safetensors", "*.py", "*.model", "*.tiktoken", "*.txt", "*.jinja"]
COMMUNITY = "https://huggingface.co/mlx-community"

#: Small instruction-tuned 4-bit models that run well on any Apple-silicon Mac: what the
#: window offers a newcomer. Sizes are the weights' download size.
RECOMMENDED: tuple[tuple[str, int, str], ...] = (
    ("mlx-community/Qwen2.5-0.5B-Instruct-4bit", 278_000_000, "fastest, good for quick questions"),
    ("mlx-community/Llama-3.2-1B-Instruct-4bit", 695_000_000, "small and capable"),
    ("mlx-community/Llama-3.2-3B-Instruct-4bit", 1_810_000_000, "best answers of the text models"),
    # Its size is an estimate from the repo's packed parameter count (347M, 4-bit).
    (
        "mlx-community/Qwen2-VL-2B-Instruct-4bit",
        1_250_000_000,
        "sees images: ask about a screenshot",
    ),
)
#: Which of ``RECOMMENDED`` see images (the welcome panel can mark them).
RECOMMENDED_VISION = frozenset({"mlx-community/Qwen2-VL-2B-Instruct-4bit"})


class DownloadCancelled(DesktopChatError):
    """The user cancelled; what arrived is kept, and the next download resumes from it."""


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    done_bytes: int
    total_bytes: int
    bytes_per_s: float
    #: Seconds left at the current speed, or ``None`` before a speed is known.
    eta_s: float | None

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 0.0


@dataclass(frozen=True, slots=True)
class CachedModel:
    repo_id: str
    size_bytes: int
    path: Path
    #: It sees images (``is_vision_folder``): the picker can say so.
    vision: bool = False


def mlx_knows(model_type: str) -> bool:
    """Whether mlx_lm has an implementation for ``model_type`` — found without importing it."""
    return _package_has("mlx_lm", f"models/{model_type}.py")


def _package_has(package: str, relative: str) -> bool:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return False
    return (Path(spec.origin).parent / relative).exists()


# --- what a model folder says about itself: read here, and nowhere else ----------------------


def read_config(folder: Path) -> dict:
    """A model folder's ``config.json``; empty when it has none or it cannot be read."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def text_config(folder: Path) -> dict:
    """The language model's part of the config: a vision model keeps it under ``text_config``."""
    config = read_config(folder)
    text = config.get("text_config", config)
    return text if isinstance(text, dict) else config


def is_model_folder(folder: Path) -> bool:
    """Whether the engine can try a folder: it has a ``config.json`` (``is_mlx_folder`` also
    asks whether mlx_lm knows its architecture)."""
    return (Path(folder) / "config.json").exists()


def is_vision_folder(folder: Path) -> bool:
    """Whether a model folder holds a vision model: its config has a ``vision_config`` (every
    vision-language model mlx-vlm converts keeps one; mlx-vlm also runs text-only models, so
    its list of architectures alone does not say)."""
    return isinstance(read_config(folder).get("vision_config"), dict)


#: The tool-call formats mlx-lm knows, by what a chat template writes for them: the markers its
#: ``tokenizer_utils._infer_tool_parser`` looks for (mlx-lm 0.32), read here without loading
#: a tokenizer, so the model picker can say which local models call tools.
TOOL_CALL_MARKERS = (
    "<minimax:tool_call>",
    "<|tool_call>",
    "<start_function_call>",
    "<longcat_tool_call>",
    "<arg_key>",
    "<|tool_list_start|>",
    "<|tool_call_start|>",
    "<tool_call>",
    "<|tool_calls_section_begin|>",
    '<function name="',
    "[TOOL_CALLS]",
    "<atem:function_calls>",
)


def uses_tools(folder: Path) -> bool:
    """Whether a local model can call tools: its tokenizer_config names mlx-lm's parser for it
    (``tool_parser_type``), or its chat template renders ``tools`` in a format mlx-lm parses.
    The engine's own answer, once it is loaded, is ``ModelInfo.tools``."""
    try:
        config = json.loads((Path(folder) / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if not isinstance(config, dict):
        config = {}
    if config.get("tool_parser_type"):
        return True
    template = config.get("chat_template") or ""
    if isinstance(template, list):  # named templates: [{"name", "template"}]
        template = " ".join(str(t.get("template", "")) for t in template if isinstance(t, dict))
    with contextlib.suppress(OSError):  # newer conversions keep the template in its own file
        template += (Path(folder) / "chat_template.jinja").read_text(encoding="utf-8")
    return "tools" in template and any(m in template for m in TOOL_CALL_MARKERS)


def is_mlx_folder(folder: Path) -> bool:
    """Whether the engine can run a folder: mlx_lm knows its architecture, or it is a vision
    model (run by mlx-vlm; when that is not installed, loading it says how to get it)."""
    config = read_config(folder)
    return bool(config) and (
        mlx_knows(str(config.get("model_type", ""))) or is_vision_folder(folder)
    )


def context_length(folder: Path) -> int | None:
    """The context window the model was trained for (``max_position_embeddings``); None when
    its config does not say. Read again only when the file changes: the window's context
    meter asks after every turn."""
    try:
        stat = (Path(folder) / "config.json").stat()
    except OSError:
        return None
    return _context_length(Path(folder), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _context_length(folder: Path, _mtime_ns: int, _size: int) -> int | None:
    value = text_config(folder).get("max_position_embeddings")
    return int(value) if isinstance(value, int) else None


def weights_bytes(folder: Path) -> int:
    """The size of the model's weights (its ``*.safetensors`` files)."""
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))


def cached_models(cache_dir: str | Path | None = None) -> list[CachedModel]:
    """MLX models already in the Hugging Face cache, largest first; no cache folder means none."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            path = Path(revision.snapshot_path)
            if is_mlx_folder(path):
                found.append(
                    CachedModel(repo.repo_id, repo.size_on_disk, path, is_vision_folder(path))
                )
                break
    return sorted(found, key=lambda m: -m.size_bytes)


class _Meter:
    """Sums the byte counts the download threads report, and turns them into speed and ETA."""

    def __init__(self, report: Callable[[DownloadProgress], None], cancel: threading.Event):
        self.report, self.cancel = report, cancel
        self.lock = threading.Lock()
        self.total = self.done = 0
        #: Set once the file list is known; the hub's own bars then only add bytes.
        self.fixed_total = False
        self.started = time.monotonic()
        self.last_report = 0.0

    def add(self, n: int) -> None:
        if self.cancel.is_set():
            raise DownloadCancelled(
                "Download cancelled.",
                "What arrived is kept; downloading again resumes it.",
            )
        with self.lock:
            self.done += n
            now = time.monotonic()
            if now - self.last_report < 0.1 and self.done < self.total:
                return  # about ten reports a second is plenty for a progress bar
            self.last_report = now
            elapsed = max(now - self.started, 1e-6)
            speed = self.done / elapsed
            left = max(self.total - self.done, 0)
            eta = left / speed if speed > 0 else None
            progress = DownloadProgress(self.done, self.total, speed, eta)
        self.report(progress)


def _progress_class(meter: _Meter) -> type:
    """A ``tqdm_class`` that draws nothing and feeds the byte bar's updates to ``meter``."""
    from tqdm.auto import tqdm

    class Progress(tqdm):
        def __init__(self, *args, **kwargs):
            desc = str(kwargs.get("desc", ""))
            # The bytes bar of plain HTTP downloads; the files bar and xet's transfer bar are
            # not bytes on disk.
            self._meter = (
                meter if kwargs.get("unit") == "B" and "Downloading bytes" not in desc else None
            )
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def __setattr__(self, name, value):
            meter_ = getattr(self, "_meter", None)
            if name == "total" and meter_ is not None and not meter_.fixed_total:
                meter_.total = int(value or 0)
            super().__setattr__(name, value)

        def update(self, n=1):
            if self._meter is not None:
                self._meter.add(int(n or 0))
            elif meter.cancel.is_set():
                meter.add(0)
            return super().update(n)

    return Progress


def _matches(name: str) -> bool:
    import fnmatch

    return any(fnmatch.fnmatch(name, pattern) for pattern in MLX_PATTERNS)


def download(
    repo_id: str,
    report: Callable[[DownloadProgress], None] = lambda p: None,
    cancel: threading.Event | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """The model's folder in the cache, downloading what is missing (resuming partial files)."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    cancel = cancel or threading.Event()
    meter = _Meter(report, cancel)
    try:  # already complete in the cache: no network needed
        cached = Path(
            snapshot_download(
                repo_id, allow_patterns=MLX_PATTERNS, cache_dir=cache_dir, local_files_only=True
            )
        )
        if is_mlx_folder(cached):
            return cached
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    try:
        # A fresh client reads HF_ENDPOINT and HF_TOKEN now, not when the library was imported.
        api = HfApi()
        info = api.model_info(repo_id, files_metadata=True)
        if info.library_name != "mlx" and "mlx" not in (info.tags or []):
            raise ModelUnavailable(
                f"{repo_id} is not an MLX model, so it cannot run locally.",
                f"Look for an MLX conversion of it at {COMMUNITY}.",
            )
        wanted = [s for s in info.siblings or [] if _matches(s.rfilename)]
        meter.total = sum(s.size or 0 for s in wanted)
        meter.fixed_total = meter.total > 0
        # The weights resume byte by byte across cancels, crashes and restarts.
        weights = [s.rfilename for s in wanted if s.rfilename.endswith(".safetensors")]
        fetch_large_files(api, repo_id, info.sha, weights, cache_dir, meter.add)
        folder = Path(
            snapshot_download(
                repo_id,
                allow_patterns=MLX_PATTERNS,
                cache_dir=cache_dir,
                tqdm_class=_progress_class(meter),
                endpoint=api.endpoint,
            )
        )
    except DesktopChatError:
        raise
    except GatedRepoError as exc:
        raise ModelUnavailable(
            f"{repo_id} is gated: its owner must grant you access.",
            hint(
                "Accept its licence on huggingface.co, then set HF_TOKEN to a token with access.",
                "Accept its licence on huggingface.co, then save an access token from "
                "huggingface.co/settings/tokens in ~/.cache/huggingface/token (what `hf auth "
                "login` does): the app reads it from there.",
            ),
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelUnavailable(
            f"There is no model called {repo_id} on Hugging Face.",
            f"Check the name; MLX models are listed at {COMMUNITY}.",
        ) from exc
    except LocalEntryNotFoundError as exc:
        raise ModelUnavailable(
            f"{repo_id} is not downloaded and Hugging Face cannot be reached.",
            "Check your network connection, then try again.",
        ) from exc
    except HfHubHTTPError as exc:
        raise ModelUnavailable(
            f"Hugging Face refused the download of {repo_id} ({exc}).",
            "Try again later; if it persists, check the model's page.",
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ModelUnavailable(
                f"The disk is full; {repo_id} could not be saved.",
                "Free some space (or delete a model you no longer use), then try again; "
                "the download resumes where it stopped.",
            ) from exc
        raise ModelUnavailable(
            f"Downloading {repo_id} failed: {exc.strerror or exc}.",
            "Check your network connection, then try again; the download resumes.",
        ) from exc
    except Exception as exc:  # httpx and connection errors raised through the hub client
        raise ModelUnavailable(
            f"Downloading {repo_id} failed: {type(exc).__name__}: {exc}",
            "Check your network connection, then try again; the download resumes.",
        ) from exc
    if not is_mlx_folder(folder):
        raise ModelUnavailable(
            f"{repo_id} downloaded, but it is not a model MLX can run (no known model_type).",
            f"Pick a model from {COMMUNITY}.",
        )
    return folder
