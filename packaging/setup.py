"""py2app configuration for ``Desktop Chat.app``.

On a Mac (see ``build_app.sh`` for the whole build)::

    uv run --with py2app python packaging/setup.py py2app            # dist/Desktop Chat.app
    DESKTOP_CHAT_MENU_BAR_ONLY=1 uv run --with py2app python packaging/setup.py py2app

The second builds the menu-bar-only flavour (``LSUIElement``: no Dock icon, no app menu).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# setuptools fills install_requires from ../pyproject.toml when setup() runs beside it, and
# py2app refuses install_requires ("no longer supported"): run from this folder instead.
os.chdir(HERE)
sys.path[:0] = [str(ROOT), str(HERE)]

import bundle  # noqa: E402  (after the path change above)
import make_icons  # noqa: E402
from setuptools import setup  # noqa: E402

from desktop_chat import __version__  # noqa: E402

MENU_BAR_ONLY = os.environ.get("DESKTOP_CHAT_MENU_BAR_ONLY") == "1"
ICON_DIR = Path(os.environ.get("DESKTOP_CHAT_ICON_DIR") or HERE / "build" / "icons")
ICNS = make_icons.app_icns(ICON_DIR / "AppIcon.icns")
RUNTIME_RESOURCES = sorted(str(p) for p in (ROOT / "desktop_chat" / "resources").glob("*.png"))


def _qt_compat() -> None:
    """py2app 0.28.10's PySide6 recipe asks Qt 5's ``QLibraryInfo.location``; Qt 6 renamed
    it ``path``. Give the recipe what it asks for (macOS builds only reach it)."""
    try:
        from PySide6.QtCore import QLibraryInfo
    except ImportError:
        return
    if not hasattr(QLibraryInfo, "location"):
        QLibraryInfo.location = staticmethod(QLibraryInfo.path)
        QLibraryInfo.PluginsPath = QLibraryInfo.LibraryPath.PluginsPath


PLIST = {
    # The name in the menu bar, Finder and the Dock.
    "CFBundleName": "Desktop Chat",
    "CFBundleDisplayName": "Desktop Chat",
    # Reverse-DNS id: the Keychain, preferences and notarisation know the app by it.
    "CFBundleIdentifier": "app.desktopchat.DesktopChat",
    # The version users see (About, Finder's Get Info): the package's own.
    "CFBundleShortVersionString": __version__,
    # The build number; the same here, since every release is built from a tagged version.
    "CFBundleVersion": __version__,
    # mlx's wheels and the Metal features it uses need macOS 14 (Sonoma) or later.
    "LSMinimumSystemVersion": "14.0",
    # Sharp text and icons on Retina screens.
    "NSHighResolutionCapable": True,
    # Where the App Store and Finder's "Application" category put it.
    "LSApplicationCategoryType": "public.app-category.productivity",
    # Follow the system's light/dark appearance (no forced light mode).
    "NSRequiresAquaSystemAppearance": False,
    # Menu-bar-only flavour: no Dock icon and no app menu; the app activates itself before
    # showing a window (DESIGN.md §4).
    "LSUIElement": MENU_BAR_ONLY,
    "NSHumanReadableCopyright": "MIT License",
}

OPTIONS = {
    "iconfile": str(ICNS),
    "plist": PLIST,
    # Apple silicon only: MLX runs on Metal, which Intel Macs lack.
    "arch": "arm64",
    # Copied as folders, each for a reason (bundle.PACKAGES): what reads its own files or
    # imports by name would fail from the zip. PySide6's recipe has a typo ("packagse").
    "packages": list(bundle.PACKAGES),
    # Only the Qt plugins the app uses: the Cocoa platform, the macOS style, ICNS/JPEG images.
    "qt_plugins": list(bundle.QT_PLUGINS),
    # Kept out of the module graph: parts of Python the app never imports, and mlx, which
    # comes as a folder below (a namespace package, which "packages" cannot name).
    "excludes": bundle.EXCLUDES,
    # The menu-bar icon at 1x and 2x, found in Contents/Resources by desktop_chat.resources;
    # mlx's folder where the interpreter looks for packages (lib/python3.X).
    "resources": RUNTIME_RESOURCES + [(f"lib/{bundle.PY}", [str(bundle.folder_of(name))])
                                      for name in bundle.FOLDERS],
    # py2app 0.28 imports every module it could not find in a conditional import just to
    # report it, and some imports crash the build (its report code also indexes the wrong
    # table); skip that report.
    "no_report_missing_conditional_import": True,
}  # fmt: skip


if __name__ == "__main__":
    _qt_compat()
    setup(
        name="Desktop Chat",
        version=__version__,
        app=["main.py"],
        options={"py2app": OPTIONS},
        cmdclass={"py2app": bundle.py2app_command()},
    )
