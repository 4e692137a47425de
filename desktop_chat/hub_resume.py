"""Resumable downloads of a model's large files into the Hugging Face cache.

huggingface_hub 2.4 writes every download to a process-unique temporary file, so a download
cancelled, cut off or killed starts again from zero. For multi-gigabyte weights that is not
acceptable: this module fetches ``*.safetensors`` itself with HTTP ``Range`` requests into a
``<etag>.part`` file beside the cache's blobs, then moves it into the cache layout
(``blobs/<etag>`` and the snapshot's link to it), where ``snapshot_download`` finds it done.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def storage_folder(repo_id: str, cache_dir: str | Path | None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"


def fetch_large_files(
    api,
    repo_id: str,
    commit: str,
    names: list[str],
    cache_dir: str | Path | None,
    add_bytes: Callable[[int], None],
) -> None:
    """Download ``names`` (resuming any ``.part``) into the cache; ``add_bytes`` reports progress
    and raises to cancel, leaving the ``.part`` for next time."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    storage = storage_folder(repo_id, cache_dir)
    headers = build_hf_headers(token=api.token)
    for name in names:
        pointer = storage / "snapshots" / commit / name
        if pointer.exists():
            continue
        url = hf_hub_url(repo_id, name, revision=commit, endpoint=api.endpoint)
        meta = get_hf_file_metadata(url, token=api.token, endpoint=api.endpoint)
        blob = storage / "blobs" / meta.etag
        if not blob.exists():
            blob.parent.mkdir(parents=True, exist_ok=True)
            part = blob.with_name(meta.etag + ".part")
            if part.exists():
                add_bytes(part.stat().st_size)  # already on disk from an earlier try
            _fetch(meta.location or url, part, meta.size, headers, add_bytes)
            part.replace(blob)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)


def _fetch(url, part: Path, size: int | None, headers: dict, add_bytes, attempts: int = 5) -> None:
    """Append the rest of the file to ``part``, retrying a broken connection from where it broke."""
    import time

    import httpx

    for attempt in range(1, attempts + 1):
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have >= size:
            break
        wanted = {**headers, "Range": f"bytes={have}-"} if have else headers
        try:
            with httpx.stream("GET", url, headers=wanted, timeout=30, follow_redirects=True) as r:
                r.raise_for_status()
                # A server that ignores Range sends the whole file: start the part again.
                with part.open("ab" if have and r.status_code == 206 else "wb") as out:
                    for chunk in r.iter_bytes():  # as it arrives: a cut keeps all but the last read
                        out.write(chunk)
                        add_bytes(len(chunk))
        except httpx.TransportError:
            if attempt == attempts:
                raise
            time.sleep(0.5 * attempt)
    if size is not None and part.stat().st_size != size:
        raise OSError(f"{part.name} arrived incomplete ({part.stat().st_size} of {size} bytes)")
