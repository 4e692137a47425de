"""Signing the .app inside-out, checked on Linux: a fake bundle laid out as py2app and the
PySide6/mlx wheels lay it out, with fake Mach-O files (only their magic bytes matter), and a
stand-in ``codesign`` on PATH that records every call."""

from __future__ import annotations

import json
import os
import plistlib
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIGN = ROOT / "packaging" / "sign.py"
THIN = struct.pack("<I", 0xFEEDFACF) + b"\0" * 60  # a 64-bit Mach-O header, little-endian


def _universal() -> bytes:
    """A two-slice universal binary; the first slice at offset 4096 is a thin Mach-O."""
    head = struct.pack(">II", 0xCAFEBABE, 2)
    head += struct.pack(">iiIII", 0x0100000C, 0, 4096, len(THIN), 12)  # arm64
    head += struct.pack(">iiIII", 0x01000007, 3, 8192, len(THIN), 12)  # x86_64
    return head.ljust(4096, b"\0") + THIN.ljust(4096, b"\0") + THIN


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def app(tmp_path):
    app = tmp_path / "dist" / "Desktop Chat.app"
    contents = app / "Contents"
    _write(contents / "Info.plist", plistlib.dumps({"CFBundleExecutable": "Desktop Chat"}))
    _write(contents / "MacOS" / "Desktop Chat", THIN)
    _write(contents / "MacOS" / "python", THIN)
    _write(contents / "Frameworks" / "libpython3.12.dylib", THIN)
    lib = contents / "Resources" / "lib" / "python3.12"
    _write(contents / "Resources" / "lib" / "python312.zip", b"PK\x03\x04" + b"\0" * 60)
    _write(lib / "lib-dynload" / "_ssl.cpython-312-darwin.so", THIN)
    _write(lib / "mlx" / "core.cpython-312-darwin.so", _universal())
    _write(lib / "mlx" / "lib" / "libmlx.dylib", THIN)
    _write(lib / "mlx" / "lib" / "mlx.metallib", b"MTLB" + b"\0" * 60)
    _write(lib / "numpy" / ".dylibs" / "libopenblas", THIN)  # no extension: found by magic
    # Qt's framework as the PySide6 wheel installs it: copies, no links, no Versions/Current.
    qt = lib / "PySide6" / "Qt" / "lib" / "QtCore.framework"
    _write(qt / "Versions" / "A" / "QtCore", THIN)
    info = plistlib.dumps({"CFBundleExecutable": "QtCore"})
    _write(qt / "Versions" / "A" / "Resources" / "Info.plist", info)
    _write(qt / "Resources" / "Info.plist", info)
    _write(lib / "PySide6" / "QtCore.abi3.so", THIN)
    _write(lib / "PySide6" / "Qt" / "plugins" / "platforms" / "libqcocoa.dylib", THIN)
    _write(contents / "Resources" / "qt_plugins" / "platforms" / "libqcocoa.dylib", THIN)
    # Not code: a Java class file starts with CAFEBABE too (then its version, 52).
    _write(contents / "Resources" / "Example.class", struct.pack(">II", 0xCAFEBABE, 52))
    _write(contents / "Resources" / "menubar-template.png", b"\x89PNG" + b"\0" * 60)
    return app


def _sign(app: Path, tmp_path: Path, identity: str | None) -> list[list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "codesign.log"
    stand_in = bin_dir / "codesign"
    stand_in.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    stand_in.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("SIGN_IDENTITY", None)
    if identity:
        env["SIGN_IDENTITY"] = identity
    done = subprocess.run(
        [sys.executable, str(SIGN), str(app)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def _macho_files(app: Path) -> set[Path]:
    found = set()
    for path in app.rglob("*"):
        if path.is_file() and not path.is_symlink():
            head = path.read_bytes()[:8]
            universal = head[:4] == struct.pack(">I", 0xCAFEBABE) and head[4:] == b"\0\0\0\2"
            if head[:4] == struct.pack("<I", 0xFEEDFACF) or universal:
                found.add(path)
    return found


def test_developer_id_signing_goes_inside_out(app, tmp_path):
    identity = "Developer ID Application: Example (TEAMID1234)"
    calls = _sign(app, tmp_path, identity)
    *signs, verify = calls
    assert verify == ["--verify", "--strict", "--deep", "--verbose=2", str(app.resolve())]
    targets = [Path(c[-1]) for c in signs]
    root = app.resolve()
    assert targets[-1] == root, "the app is signed last"
    assert len(targets) == len(set(targets)), "each item once"
    # Every Mach-O file is signed on its own, except the executables signed with their bundle.
    framework = root / "Contents/Resources/lib/python3.12/PySide6/Qt/lib/QtCore.framework"
    mains = {root / "Contents/MacOS/Desktop Chat", framework / "Versions/A/QtCore"}
    expected = {p.resolve() for p in _macho_files(app)} - mains
    assert expected <= set(targets)
    assert root / "Contents/Resources/lib/python3.12/numpy/.dylibs/libopenblas" in targets
    assert root / "Contents/Resources/lib/python3.12/mlx/core.cpython-312-darwin.so" in targets
    for not_code in (
        "Example.class",
        "menubar-template.png",
        "lib/python312.zip",
        "lib/python3.12/mlx/lib/mlx.metallib",
    ):
        assert root / "Contents/Resources" / not_code not in targets
    # Nothing is signed before what it contains: each item comes after every item inside it.
    for i, outer in enumerate(targets):
        for inner in targets[i + 1 :]:
            assert not inner.is_relative_to(outer), f"{inner} signed after {outer}"
    # The framework, repaired to the shape codesign accepts, signed as its version folder.
    assert framework / "Versions/A" in targets
    assert os.readlink(framework / "Versions/Current") == "A"
    assert os.readlink(framework / "Resources") == "Versions/Current/Resources"
    assert os.readlink(framework / "QtCore") == "Versions/Current/QtCore"
    for call in signs:
        assert call[:3] == ["--force", "--sign", identity]
        assert "--options" in call and call[call.index("--options") + 1] == "runtime"
        assert "--timestamp" in call and "--deep" not in call
    # Entitlements on the executables only; the file is the one in packaging/, a real plist.
    entitled = {Path(c[-1]) for c in signs if "--entitlements" in c}
    assert entitled == {root, root / "Contents/MacOS/python"}
    entitlements = {c[c.index("--entitlements") + 1] for c in signs if "--entitlements" in c}
    assert entitlements == {str(ROOT / "packaging" / "entitlements.plist")}
    assert plistlib.loads(Path(entitlements.pop()).read_bytes()) == {}, "no runtime exception"


def test_ad_hoc_signing_has_no_timestamp_nor_hardened_runtime(app, tmp_path):
    calls = _sign(app, tmp_path, None)
    *signs, verify = calls
    assert verify[:2] == ["--verify", "--strict"]
    assert Path(signs[-1][-1]) == app.resolve()
    for call in signs:
        assert call[:3] == ["--force", "--sign", "-"]
        assert not any(a.startswith("--timestamp") for a in call) and "--options" not in call
    # The same inside-out order as a Developer ID build.
    targets = [Path(c[-1]) for c in signs]
    for i, outer in enumerate(targets):
        assert not any(inner.is_relative_to(outer) for inner in targets[i + 1 :])


def test_the_build_script_signs_with_sign_py_and_never_deep():
    script = (ROOT / "packaging" / "build_app.sh").read_text()
    assert 'packaging/sign.py "$app"' in script
    signing = [
        line
        for line in script.splitlines()
        if "codesign" in line and not line.lstrip().startswith("#") and "dmg" not in line
    ]
    assert not any("--deep" in line and "--verify" not in line for line in signing), signing
