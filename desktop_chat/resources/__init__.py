"""Files the app shows (the menu-bar icon), found the same way from a source checkout, an
installed wheel (both: beside this module) and a py2app bundle (``Contents/Resources``, which
py2app's start-up names in ``RESOURCEPATH``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def bundle_resources() -> Path | None:
    """``…/Desktop Chat.app/Contents/Resources`` when running from a bundle, else None."""
    if os.environ.get("RESOURCEPATH"):
        return Path(os.environ["RESOURCEPATH"])
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent.parent / "Resources"
    return None


def path(name: str) -> Path:
    """The resource ``name``: the bundle's copy when there is one, else the package's."""
    bundle = bundle_resources()
    if bundle is not None and (bundle / name).exists():
        return bundle / name
    return HERE / name
