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
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning:py2app")]


def _build(tmp: Path, **env: str) -> Path:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    codesign = bin_dir / "codesign"  # the ad-hoc signing py2app ends with; macOS-only
    codesign.write_text("#!/bin/sh\nexit 0\n")
    codesign.chmod(0o755)
    full_env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DESKTOP_CHAT_ICON_DIR": str(tmp / "icons"),
        **env,
    }
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging" / "setup.py"),
            "py2app",
            "-A",
            "--dist-dir",
            str(tmp / "dist"),
            "--bdist-base",
            str(tmp / "build"),
        ],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
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


# --- what ships as a folder, and why ---------------------------------------------------------

sys.path.insert(0, str(ROOT / "packaging"))
import bundle  # noqa: E402  (packaging/ is not a package)
import zip_safety  # noqa: E402

sys.path.remove(str(ROOT / "packaging"))


@pytest.fixture(scope="module")
def imported(tiny_model_dir, tiny_vision_model_dir, tmp_path_factory):
    """Every module the app imports doing what it does at run time (zip_safety.exercise: a
    text and a vision model answering, images normalised, …), in a fresh interpreter with its
    own home."""
    home = tmp_path_factory.mktemp("app-run")
    env = {
        **os.environ,
        "DESKTOP_CHAT_HOME": str(home / "app"),
        "HF_HOME": str(home / "hf"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    return zip_safety.imported_modules(tiny_model_dir, tiny_vision_model_dir, env)


def test_every_zip_unsafe_library_the_app_imports_ships_as_a_folder(imported):
    flagged = zip_safety.scan(imported)
    assert {"transformers", "pygments", "keyring", "mlx_lm", "huggingface_hub"} <= set(flagged)
    assert 'globals()["__file__"]' in flagged["transformers"]["transformers.models"]
    missing = set(flagged) - set(bundle.PACKAGES) - set(bundle.ZIP_SAFE)
    assert not missing, {top: flagged[top] for top in missing}
    assert set(bundle.ZIP_SAFE) <= set(flagged), "a reviewed exception no longer needed"
    # Each folder is there for a reason the scan sees, or one it cannot (binaries' rpaths,
    # the app's own resources): nothing is copied out of habit.
    assert set(bundle.PACKAGES) - set(flagged) <= {"desktop_chat", "shiboken6"}
    assert all(
        name.split(".")[0] in {m.split(".")[0] for m in imported}
        for name in [*bundle.PACKAGES, *bundle.FOLDERS]
    )


def test_what_the_bundle_leaves_out_the_app_never_imports(imported):
    """The vision extra's large libraries (opencv, scipy, pyarrow, …) are installed here and
    kept out of the bundle's module graph: neither a text nor a vision model answering, nor
    any other part of the run, imports one of them."""
    import importlib.util

    tops = {name.split(".")[0] for name in imported}
    assert "mlx_vlm" in tops, "the run did take a vision model through mlx-vlm"
    assert not set(bundle.UNUSED) & tops
    for name in bundle.UNUSED:
        assert importlib.util.find_spec(name) is not None, f"{name}: excluded, not installed"
        assert name in bundle.EXCLUDES


def test_packages_are_what_py2app_can_find_and_mlx_is_not():
    """py2app looks each ``packages`` name up with modulegraph's imp_find_module; a namespace
    package such as mlx (no __init__.py, on macOS too) is not found, so mlx comes as a folder
    in ``resources`` and stays out of the module graph."""
    from modulegraph.util import imp_find_module

    for name in bundle.PACKAGES:
        assert Path(imp_find_module(name)[1]).is_dir(), name
    for name in bundle.FOLDERS:
        with pytest.raises(ImportError):
            imp_find_module(name)
        assert name in bundle.EXCLUDES
        assert list(bundle.folder_of(name).glob("core*")), "the extension the folder carries"


def test_transformers_fails_from_py2apps_zip_and_works_as_the_folder(
    imported, tmp_path, tiny_model_dir
):
    """The real thing, with py2app's own code: transformers' modules byte-compiled into a zip
    as py2app does (byte_compile, make_lib_archive: .pyc only) fail to import its tokenizer
    classes; the folder ``packages`` copies (py2app's copy_tree) loads the model's tokenizer."""
    from types import SimpleNamespace

    from modulegraph.modulegraph import Package, SourceModule
    from py2app.build_app import py2app
    from py2app.util import byte_compile, copy_tree

    site = Path(zip_safety.library_dirs()[0])
    nodes = []
    for name, file in imported.items():
        if name.split(".")[0] == "transformers" and file.endswith(".py"):
            path = Path(file)
            if path.name == "__init__.py":
                nodes.append(Package(name, file, [str(path.parent)]))
            else:
                nodes.append(SourceModule(name, file))
    collect = tmp_path / "collect"
    byte_compile(nodes, target_dir=str(collect), optimize=0, force=1, verbose=0, dry_run=0)
    archive = py2app.make_lib_archive(
        SimpleNamespace(compressed=False), str(tmp_path / "python312.zip"), base_dir=str(collect)
    )
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); from transformers import "
        "AutoTokenizer; t = AutoTokenizer.from_pretrained(sys.argv[2]); "
        "print(transformers_file := sys.modules['transformers'].__file__); "
        "print(len(t.encode('The capital of France')))"
    )
    from_zip = subprocess.run(
        [sys.executable, "-c", probe, archive, str(tiny_model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert from_zip.returncode != 0, from_zip.stdout
    said = from_zip.stderr[-2000:]
    assert "NotADirectoryError" in said and "python312.zip" in said, said
    lib = tmp_path / "lib" / bundle.PY
    copy_tree(str(site / "transformers"), str(lib / "transformers"))
    from_folder = subprocess.run(
        [sys.executable, "-c", probe, str(lib), str(tiny_model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert from_folder.returncode == 0, from_folder.stderr[-2000:]
    assert str(lib) in from_folder.stdout and int(from_folder.stdout.split()[-1]) > 0
    assert "transformers" in bundle.PACKAGES


def test_only_the_qt_modules_the_app_imports():
    import re

    used = set()
    for path in (ROOT / "desktop_chat").rglob("*.py"):
        used |= set(re.findall(r"^\s*from PySide6\.(Qt\w+) import", path.read_text(), re.M))
    assert used == set(bundle.QT_MODULES)


def _macho(*deps: str) -> bytes:
    """A minimal 64-bit Mach-O dylib whose load commands name ``deps`` (what macholib reads)."""
    import struct

    commands = b""
    for dep in deps:
        name = dep.encode() + b"\0"
        size = (24 + len(name) + 7) // 8 * 8
        commands += struct.pack("<IIIIII", 0xC, size, 24, 2, 0x10000, 0x10000)
        commands += name.ljust(size - 24, b"\0")
    header = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 6, len(deps), len(commands), 0, 0)
    return header + commands


def test_pyside6_is_copied_trimmed_to_what_the_app_runs(tmp_path):
    """A PySide6 folder laid out as the 6.12 macOS wheel (Mach-O load commands and all): the
    command setup.py uses copies the Qt modules the app imports, the frameworks they load
    (QtGui loads QtDBus), the plugins it names; not QML, tools, stubs or other modules."""
    from setuptools.dist import Distribution

    src = tmp_path / "site" / "PySide6"
    fw = "@rpath/{0}.framework/Versions/A/{0}".format
    files = {
        "__init__.py": b"",
        "support/__init__.py": b"",
        "QtCore.pyi": b"",
        "QtCore.abi3.so": _macho(fw("QtCore"), "@rpath/libpyside6.abi3.6.12.dylib"),
        "QtGui.abi3.so": _macho(fw("QtGui"), fw("QtCore")),
        "QtWidgets.abi3.so": _macho(fw("QtWidgets")),
        "QtNetwork.abi3.so": _macho(fw("QtNetwork")),
        "QtQml.abi3.so": _macho(fw("QtQml")),
        "libpyside6.abi3.6.12.dylib": _macho(fw("QtCore"), "/usr/lib/libSystem.B.dylib"),
        "libpyside6qml.abi3.6.12.dylib": _macho(fw("QtQml")),
        "Designer.app/Contents/MacOS/Designer": _macho(),
        "lupdate": _macho(),
        "Qt/lib/QtCore.framework/Versions/A/QtCore": _macho(),
        "Qt/lib/QtCore.framework/Resources/Info.plist": b"",
        "Qt/lib/QtGui.framework/Versions/A/QtGui": _macho(fw("QtCore"), fw("QtDBus")),
        "Qt/lib/QtDBus.framework/Versions/A/QtDBus": _macho(fw("QtCore")),
        "Qt/lib/QtWidgets.framework/Versions/A/QtWidgets": _macho(fw("QtGui")),
        "Qt/lib/QtNetwork.framework/Versions/A/QtNetwork": _macho(fw("QtCore")),
        "Qt/lib/QtQml.framework/Versions/A/QtQml": _macho(fw("QtCore")),
        "Qt/lib/QtQuick.framework/Versions/A/QtQuick": _macho(fw("QtQml")),
        "Qt/plugins/platforms/libqcocoa.dylib": _macho(fw("QtGui")),
        "Qt/plugins/platforms/libqminimal.dylib": _macho(fw("QtGui")),
        "Qt/plugins/styles/libqmacstyle.dylib": _macho(fw("QtWidgets")),
        "Qt/plugins/imageformats/libqicns.dylib": _macho(fw("QtGui")),
        "Qt/plugins/imageformats/libqjpeg.dylib": _macho(fw("QtGui")),
        "Qt/plugins/imageformats/libqsvg.dylib": _macho(fw("QtSvg")),
        "Qt/qml/QtQuick/qmldir": b"",
        "Qt/translations/qtbase_de.qm": b"",
    }
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    assert bundle.qt_frameworks(src) == {"QtCore", "QtGui", "QtDBus", "QtWidgets", "QtNetwork"}
    command = bundle.py2app_command(src, platform="darwin")(Distribution({"app": ["main.py"]}))
    command.copy_tree(str(src), str(tmp_path / "app" / "PySide6"))
    copied = {
        str(p.relative_to(tmp_path / "app" / "PySide6"))
        for p in (tmp_path / "app" / "PySide6").rglob("*")
        if p.is_file()
    }
    assert copied == {
        "__init__.py",
        "support/__init__.py",
        "libpyside6.abi3.6.12.dylib",
        "QtCore.abi3.so",
        "QtGui.abi3.so",
        "QtWidgets.abi3.so",
        "QtNetwork.abi3.so",
        "Qt/lib/QtCore.framework/Versions/A/QtCore",
        "Qt/lib/QtCore.framework/Resources/Info.plist",
        "Qt/lib/QtGui.framework/Versions/A/QtGui",
        "Qt/lib/QtDBus.framework/Versions/A/QtDBus",
        "Qt/lib/QtWidgets.framework/Versions/A/QtWidgets",
        "Qt/lib/QtNetwork.framework/Versions/A/QtNetwork",
        "Qt/plugins/platforms/libqcocoa.dylib",
        "Qt/plugins/styles/libqmacstyle.dylib",
        "Qt/plugins/imageformats/libqicns.dylib",
        "Qt/plugins/imageformats/libqjpeg.dylib",
    }
    # Anything else py2app copies is untouched; on Linux (no Mach-O) PySide6 too.
    other = tmp_path / "site" / "other"
    (other / "x").mkdir(parents=True)
    (other / "x" / "y.txt").write_text("y")
    command.copy_tree(str(other), str(tmp_path / "app" / "other"))
    assert (tmp_path / "app" / "other" / "x" / "y.txt").exists()
    linux = bundle.py2app_command(src, platform="linux")(Distribution({"app": ["main.py"]}))
    linux.copy_tree(str(src), str(tmp_path / "linux" / "PySide6"))
    assert (tmp_path / "linux" / "PySide6" / "Qt" / "qml" / "QtQuick" / "qmldir").exists()


def test_py2app_knows_every_option_setup_py_gives_it():
    """distutils rejects an unknown command option; the one for py2app 0.28's report crash
    is spelled as py2app spells it."""
    from py2app.build_app import py2app

    assert "no-report-missing-conditional-import" in py2app.boolean_options
    text = (ROOT / "packaging" / "setup.py").read_text()
    assert '"no_report_missing_conditional_import": True' in text
