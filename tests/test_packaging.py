"""The macOS bundle, checked on Linux: py2app's alias build (``-A``, with a stand-in
``codesign`` on PATH) writes a real ``Info.plist``, the icon and the resources; the resource
helper finds them in the bundle layout."""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_chat import __version__

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _build(tmp: Path, **env: str) -> Path:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    codesign = bin_dir / "codesign"  # the ad-hoc signing py2app ends with; macOS-only
    codesign.write_text("#!/bin/sh\nexit 0\n")
    codesign.chmod(0o755)
    full_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "DESKTOP_CHAT_ICON_DIR": str(tmp / "icons"), **env}  # fmt: skip
    done = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "setup.py"), "py2app", "-A",
         "--dist-dir", str(tmp / "dist"), "--bdist-base", str(tmp / "build")],
        env=full_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return tmp / "dist" / "Desktop Chat.app"


def test_alias_build_writes_the_bundle_the_mac_expects(tmp_path, monkeypatch):
    from PIL import Image

    app = _build(tmp_path)
    plist = plistlib.loads((app / "Contents" / "Info.plist").read_bytes())
    assert plist["CFBundleName"] == "Desktop Chat"
    assert plist["CFBundleIdentifier"] == "app.desktopchat.DesktopChat"
    assert plist["CFBundleShortVersionString"] == __version__
    assert plist["LSMinimumSystemVersion"] == "14.0"
    assert plist["NSHighResolutionCapable"] is True
    assert plist["LSApplicationCategoryType"] == "public.app-category.productivity"
    assert plist["LSUIElement"] is False
    assert plist["CFBundleIconFile"] == "AppIcon.icns"
    assert plist["CFBundleExecutable"] == "Desktop Chat"
    resources = app / "Contents" / "Resources"
    icon = Image.open(resources / "AppIcon.icns")
    assert icon.format == "ICNS" and max(icon.info["sizes"])[0] >= 512
    for name in ("menubar-template.png", "menubar-template@2x.png"):
        assert (resources / name).exists()
    assert Image.open(resources / "menubar-template@2x.png").size == (36, 36)
    assert (app / "Contents" / "MacOS" / "Desktop Chat").exists()
    # The app finds its resources in the bundle (py2app's boot sets RESOURCEPATH).
    from desktop_chat import resources as res

    monkeypatch.setenv("RESOURCEPATH", str(resources))
    assert res.path("menubar-template.png") == resources / "menubar-template.png"
    monkeypatch.delenv("RESOURCEPATH")
    assert res.path("menubar-template.png") == res.HERE / "menubar-template.png"
    assert res.path("menubar-template.png").exists(), "and from a checkout or a wheel"


def test_menu_bar_only_flavour_sets_lsuielement(tmp_path):
    app = _build(tmp_path, DESKTOP_CHAT_MENU_BAR_ONLY="1")
    plist = plistlib.loads((app / "Contents" / "Info.plist").read_bytes())
    assert plist["LSUIElement"] is True


def test_the_keychain_backend_is_pinned_only_in_a_frozen_mac_app(monkeypatch):
    import keyring

    from desktop_chat.platform import keychain

    chosen = []
    monkeypatch.setattr(keyring, "set_keyring", chosen.append)
    keychain.pin_backend()
    assert chosen == [], "a source checkout keeps keyring's own choice"
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    keychain.pin_backend()
    assert [type(b).__module__ for b in chosen] == ["keyring.backends.macOS"]


def test_icons_come_from_their_source(tmp_path):
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        import make_icons
    finally:
        sys.path.pop(0)
    from PIL import Image

    source = make_icons.source_image(tmp_path / "app-icon.png")
    assert Image.open(source).size == (1024, 1024)
    icns = make_icons.app_icns(tmp_path / "AppIcon.icns", source)
    assert Image.open(icns).format == "ICNS"
    one, two = make_icons.menubar_icons(tmp_path)
    assert Image.open(one).size == (18, 18) and Image.open(two).size == (36, 36)
    alpha = Image.open(two).getchannel("A")
    assert alpha.getextrema() == (0, 255), "black on transparent: a template image"
