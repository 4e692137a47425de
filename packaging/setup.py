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

import make_icons  # noqa: E402  (after the path change above)
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
    # What the recipes miss: PySide6's recipe has a typo ("packagse") and includes nothing;
    # mlx and mlx_lm load code and Metal kernels by path; keyring finds its backends through
    # entry points, which a bundle loses (the macOS one is also pinned at run time).
    "packages": ["desktop_chat", "PySide6", "shiboken6", "mlx", "mlx_lm", "keyring",
                 "qasync", "openai", "httpx", "huggingface_hub", "pygments", "tomlkit"],
    # Only the Qt plugins the app uses: the Cocoa platform, the macOS style, PNG/ICNS images.
    "qt_plugins": ["platforms/libqcocoa.dylib", "styles/libqmacstyle.dylib",
                   "imageformats/libqicns.dylib", "imageformats/libqjpeg.dylib"],
    # Large parts of Qt and Python the app never imports.
    "excludes": ["tkinter", "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets",
                 "PySide6.Qt3DCore", "PySide6.QtQuick", "PySide6.QtQml", "PySide6.QtMultimedia",
                 "PySide6.QtCharts", "PySide6.QtDataVisualization", "PySide6.QtPdf"],
    # The menu-bar icon at 1x and 2x, found in Contents/Resources by desktop_chat.resources.
    "resources": RUNTIME_RESOURCES,
}  # fmt: skip

if __name__ == "__main__":
    _qt_compat()
    setup(
        name="Desktop Chat",
        version=__version__,
        app=["main.py"],
        options={"py2app": OPTIONS},
    )
