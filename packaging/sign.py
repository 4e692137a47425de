"""Sign ``Desktop Chat.app`` inside-out: every Mach-O file, then every framework, then the app.

``codesign --deep`` does not re-sign the hundreds of ``.so``/``.dylib`` files py2app puts in
``Contents/Resources/lib`` (it only signs nested code where a bundle's layout says code goes);
with the hardened runtime they then fail library validation, and notarisation rejects them.
So each is signed on its own, deepest first (nothing is signed before what it contains), with
no ``--deep``. Mach-O files are found by their magic bytes, not their names: Qt's framework
binaries and the py2app launcher have no extension.

Frameworks from PyPI wheels (PySide6's Qt) carry copies where a framework has symlinks (wheels
cannot hold links) and no ``Versions/Current``: codesign refuses them ("bundle format
unrecognized"). They are put back in the standard shape first.

With ``SIGN_IDENTITY`` (a Developer ID): ``--options runtime`` (the hardened runtime
notarisation requires) and ``--timestamp`` (a secure timestamp, also required). Without it the
bundle is signed ad hoc (``-s -``), which cannot carry a timestamp and runs without the
hardened runtime (it has no Team ID for library validation to compare). The entitlements
(``entitlements.plist``) go on the executables only; libraries take their host's.

    python packaging/sign.py "dist/Desktop Chat.app"     # SIGN_IDENTITY from the environment
"""

from __future__ import annotations

import os
import plistlib
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENTITLEMENTS = HERE / "entitlements.plist"
#: Thin Mach-O headers, either byte order, 32 and 64 bit.
_THIN = {0xFEEDFACE, 0xCEFAEDFE, 0xFEEDFACF, 0xCFFAEDFE}
_FAT = {0xCAFEBABE, 0xCAFEBABF}
#: Directories codesign treats as nested bundles, signed as a whole after their contents.
_BUNDLES = (".framework", ".app", ".bundle", ".plugin", ".appex", ".xpc")


def is_macho(path: Path) -> bool:
    """A Mach-O file, thin or universal. A universal header is followed to its first slice:
    Java class files begin with the same CAFEBABE."""
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 4:
            return False
        (magic,) = struct.unpack(">I", head[:4])
        if magic in _THIN:
            return True
        if magic not in _FAT or len(head) < 8:
            return False
        (count,) = struct.unpack(">I", head[4:8])
        if not 0 < count < 32:
            return False
        first = f.read(20 if magic == 0xCAFEBABE else 32)
        offset = struct.unpack(">I" if magic == 0xCAFEBABE else ">Q",
                               first[8:12] if magic == 0xCAFEBABE else first[8:16])[0]  # fmt: skip
        f.seek(offset)
        slice_head = f.read(4)
    return len(slice_head) == 4 and struct.unpack(">I", slice_head)[0] in _THIN


def repair_frameworks(app: Path) -> list[Path]:
    """Give every framework the standard shape codesign expects: ``Versions/Current`` a link to
    its one version, and the top-level binary and ``Resources`` links into it. Returns the
    frameworks changed."""
    changed = []
    for framework in sorted(app.rglob("*.framework")):
        versions = framework / "Versions"
        if framework.is_symlink() or not versions.is_dir():
            continue
        real = [v for v in versions.iterdir() if v.is_dir() and not v.is_symlink()]
        if len(real) != 1:
            continue
        (version,) = real
        touched = False
        current = versions / "Current"
        if not current.is_symlink():
            if current.exists():
                shutil.rmtree(current)
            current.symlink_to(version.name)
            touched = True
        for name in (framework.stem, "Resources", "Headers", "Modules"):
            top, inside = framework / name, version / name
            if top.is_symlink() or not inside.exists():
                continue
            if top.is_dir():
                shutil.rmtree(top)
            elif top.exists():
                top.unlink()
            top.symlink_to(f"Versions/Current/{name}")
            touched = True
        if touched:
            changed.append(framework)
    return changed


def _bundle_executable(bundle: Path) -> Path | None:
    """The main executable codesign signs with the bundle itself (so not on its own)."""
    if bundle.suffix == ".framework":
        return bundle / "Versions" / "Current" / bundle.stem
    info = bundle / "Contents" / "Info.plist"
    name = bundle.stem
    if info.exists():
        name = plistlib.loads(info.read_bytes()).get("CFBundleExecutable", name)
    return bundle / "Contents" / "MacOS" / name


def code_items(app: Path) -> list[Path]:
    """What to sign, in order: every Mach-O file and nested bundle, deepest first, then the
    app (``app`` resolved). A bundle's main executable is left to the bundle's own signature.
    A framework is signed as its version folder (``Versions/A``), as Apple's tools do."""
    bundles: list[Path] = []
    files: list[Path] = []
    for root, dirs, names in os.walk(app):
        here = Path(root)
        for d in dirs:
            if d.endswith(_BUNDLES) and not (here / d).is_symlink():
                bundles.append(here / d)
        files += [here / n for n in names if is_macho(here / n)]
    mains = {os.path.realpath(p) for b in [app, *bundles] if (p := _bundle_executable(b))}
    items = [f for f in files if os.path.realpath(f) not in mains]
    for bundle in bundles:
        if bundle.suffix == ".framework" and (bundle / "Versions" / "Current").is_symlink():
            items.append((bundle / "Versions" / "Current").resolve())
        else:
            items.append(bundle)
    items.sort(key=lambda p: (-len(p.relative_to(app).parts), str(p)))
    return [*items, app]


def codesign_command(item: Path, app: Path, identity: str | None,
                     entitlements: Path = ENTITLEMENTS) -> list[str]:  # fmt: skip
    """The codesign call for one item: hardened runtime and a secure timestamp with a
    Developer ID; ad hoc without. Executables (the app, anything in Contents/MacOS) get the
    entitlements."""
    command = ["codesign", "--force", "--sign", identity or "-"]
    if identity:
        command += ["--options", "runtime", "--timestamp"]
    if item == app or item.parent == app / "Contents" / "MacOS":
        command += ["--entitlements", str(entitlements)]
    return [*command, str(item)]


def sign(app: Path, identity: str | None = None,
         run: Callable[..., object] = subprocess.run) -> list[list[str]]:  # fmt: skip
    """Repair the frameworks, sign everything inside-out, verify; the commands run, in order."""
    app = app.resolve()
    repair_frameworks(app)
    commands = [codesign_command(item, app, identity) for item in code_items(app)]
    commands.append(["codesign", "--verify", "--strict", "--deep", "--verbose=2", str(app)])
    for command in commands:
        run(command, check=True)
    return commands


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print('usage: python packaging/sign.py "dist/Desktop Chat.app"', file=sys.stderr)
        return 2
    identity = os.environ.get("SIGN_IDENTITY") or None
    commands = sign(Path(argv[0]), identity)
    print(f"signed {len(commands) - 1} items {'with ' + identity if identity else 'ad hoc'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
