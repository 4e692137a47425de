"""A model's name for people, from the id or folder the app knows it by.

A server started on a folder (``mlx_lm.server --model /path/to/Llama-3.2-1B-Instruct-4bit``)
names its model by that path, and a model downloaded from Hugging Face lives in a snapshot
folder named by a commit hash (``…/models--mlx-community--Llama-3.2-1B-Instruct-4bit/snapshots/
1a2b3c…``). Neither is what a reply's line, the picker or an export should show: the folder's
name, or the repo's ``org/name``, is.
"""

from __future__ import annotations

from pathlib import PurePosixPath

#: How the Hugging Face cache names a model repo's folder: ``models--{org}--{name}``.
_HF_REPO_FOLDER = "models--"


def model_name(model: str) -> str:
    """``mlx-community/Llama-3.2-1B-Instruct-4bit`` for a folder of that repo in the Hugging
    Face cache, the folder's name for any other path, and any other id as it is."""
    if not model.startswith(("/", "~")):
        return model
    parts = PurePosixPath(model).parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i].startswith(_HF_REPO_FOLDER) and parts[i + 1] == "snapshots":
            # Repo names cannot hold "--": every one is a "/" of the repo id.
            return parts[i].removeprefix(_HF_REPO_FOLDER).replace("--", "/")
    return PurePosixPath(model).name or model
