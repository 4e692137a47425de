"""Every macOS-only import lives in desktop_chat/platform, behind a function with a twin that
runs here, and every one of them is a declared dependency for darwin (and locked), not left
to arrive through a dependency of a dependency."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
#: The modules only a Mac has, and the distribution each comes from.
MAC_MODULES = {
    "AppKit": "pyobjc-framework-cocoa",
    "Foundation": "pyobjc-framework-cocoa",
    "CoreFoundation": "pyobjc-framework-cocoa",
    "PyObjCTools": "pyobjc-framework-cocoa",
    "Quartz": "pyobjc-framework-quartz",
    "objc": "pyobjc-core",
    "quickmachotkey": "quickmachotkey",
}


def _mac_imports() -> dict[str, set[str]]:
    """Top-level Mac-only modules imported anywhere in desktop_chat, by file."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "desktop_chat").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in MAC_MODULES:
                    found.setdefault(str(path.relative_to(ROOT)), set()).add(top)
    return found


def test_mac_only_imports_stay_in_the_platform_package():
    found = _mac_imports()
    assert found, "the scan finds the platform's own imports"
    outside = {f: m for f, m in found.items() if not f.startswith("desktop_chat/platform/")}
    assert outside == {}, "move these behind a function in desktop_chat/platform"


def test_each_is_declared_for_darwin_and_locked():
    needed = {MAC_MODULES[m] for mods in _mac_imports().values() for m in mods}
    assert {"pyobjc-core", "pyobjc-framework-cocoa", "quickmachotkey"} <= needed
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {}
    for text in project["dependencies"]:
        req = Requirement(text)
        declared[req.name.lower()] = req.marker
    for dist in needed:
        assert dist in declared, f"declare {dist} in pyproject.toml"
        marker = declared[dist]
        assert marker is not None and marker.evaluate({"sys_platform": "darwin"})
        assert not marker.evaluate({"sys_platform": "linux"}), f"{dist} is for the Mac only"
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    ours = next(p for p in lock["package"] if p["name"] == "desktop-chat")
    locked = {d["name"] for d in ours["dependencies"]}
    assert needed <= locked, "run uv lock"
