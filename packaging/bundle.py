"""What goes into ``Desktop Chat.app`` and how: the py2app decisions, kept apart from
``setup.py`` (which changes directory and draws icons when run) so that tests can read them.

Read in py2app 0.28.10 (``build_app.py``): the Python modules modulegraph finds are
byte-compiled (``.pyc`` only) into ``Contents/Resources/lib/python3XY.zip``, first on
``sys.path``; each name in ``packages`` is instead copied whole, as a folder, to
``Contents/Resources/lib/python3.X/NAME`` (``copy_tree``, symlinks resolved) and its modules
are kept out of the zip; ``includes`` only adds modules to the graph; ``excludes`` only removes
modules from the graph, so it cannot thin a package that ``packages`` copies whole;
``qt_plugins`` is read by the PySide6 recipe, which copies those plugin files to
``Contents/Resources/qt_plugins`` beside a ``qt.conf`` that points Qt there; ``resources`` are
copied as they are into ``Contents/Resources``. An alias build (``-A``) copies nothing: it
writes the bundle's Info.plist, icon and a boot script that puts this checkout on the path.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

PY = f"python{sys.version_info.major}.{sys.version_info.minor}"

#: Libraries copied as real folders, not byte-compiled into the zip, each for what it does at
#: run time that fails from a zip (found by ``zip_safety.py`` on what the app really imports;
#: tests/test_packaging.py keeps this list and that scan in step).
PACKAGES = {
    "desktop_chat": "reads its icons and default settings next to its own files",
    "PySide6": "its extension modules find libpyside6, shiboken6 and Qt's frameworks through "
               "@loader_path rpaths (read in the 6.12 macOS wheel); trimmed to QT_MODULES",
    "shiboken6": "libshiboken6 sits beside Shiboken.abi3.so; PySide6 finds it at ../shiboken6",
    "mlx_lm": "imports mlx_lm.models.<model_type> by the name in config.json",
    "mlx_vlm": "imports mlx_vlm.models.<model_type> by the name in config.json (vision models)",
    "transformers": "hands its own models/ folder (globals()['__file__']) to os.scandir and "
                    "imports tokenizer classes by name",
    "jinja2": "imports loaders and filters by name (chat templates run in it)",
    "numpy": "finds its own files next to __file__",
    "sentencepiece": "reads its package_data folder through importlib.resources",
    "pygments": "imports lexers, styles and formatters by name; plugins through entry points",
    "keyring": "finds its backends through entry points (the Keychain one is also pinned)",
    "certifi": "reads cacert.pem through importlib.resources",
    "huggingface_hub": "imports its submodules lazily, by name",
    "openai": "imports its API resources lazily, by name",
    "anyio": "imports its event-loop backend (anyio._backends._asyncio) by name",
    "httpx2": "imports the modules it aliases by name",
    "filelock": "imports its platform locks by name",
    "pydantic": "imports its compatibility modules by name (py2app's recipe lists it too)",
    "qasync": "imports the Qt binding by name (PySide6.QtCore, …)",
    "rich": "imports its unicode width tables by name",
    "tqdm": "reads its own files through importlib.resources",
    "jsonschema_specifications": "reads the JSON schemas it ships through importlib.resources "
                                 "(mcp validates each tool result with jsonschema)",
}  # fmt: skip

#: Flagged by the scan but safe in the zip, and why.
ZIP_SAFE = {
    "PIL": "py2app's own PIL recipe ships the image plugins Image.init imports by name",
    "yaml": "imports by name only for !!python/ tags, which the safe loader never reads",
    "requests": (
        "imports by name only urllib3, idna and charset_normalizer, which its own modules "
        "also import plainly (so modulegraph puts them in the zip)"
    ),
    "charset_normalizer": (
        "imports by name only the standard library's encodings.<codec>, and py2app includes "
        "all of encodings.*"
    ),
    # `import mcp` brings the SDK's server side too (mcp/__init__.py), with these two:
    "opentelemetry": (
        "reads entry points only when OTEL_PROPAGATORS, OTEL_PYTHON_CONTEXT or a provider's "
        "OTEL_ variable is set (1.45, the locked one; older ones looked up the default "
        "propagators by entry point at import), which an app started from the Dock or Finder "
        "does not have"
    ),
    "uvicorn": (
        "imports its protocols, loop and app by name only when it serves; the app serves "
        "nothing (sse_starlette imports uvicorn at import)"
    ),
}

#: What the vision extra (mlx-vlm) installs and the app never imports, kept out of the
#: bundle: zip_safety's run of a vision model answering about an image imports none of them,
#: and no module of mlx-vlm's 245 model types imports one except multi_modality (cv2).
#: Listed as packages (mlx_vlm, transformers), their modules would pull these in whole.
#: Sizes: the macOS arm64 wheels, installed.
UNUSED = {
    "cv2": (
        "reads video frames and runs the segmentation models, which the app does not send or "
        "ask for; the multi_modality type (DeepSeek-VL, Janus) imports it to load, so such a "
        "model does not load in the app; 120 MB"
    ),
    "scipy": (
        "audio features (phi4mm, nemotron_voicechat) and transformers' detection and pose "
        "image processors, no chat model's images; 71 MB"
    ),
    "pyarrow": "the storage of datasets, for training and evaluation only; 126 MB",
    "pandas": "datasets and transformers' table pipelines; 45 MB",
    "datasets": "mlx-vlm's training and evaluation, mlx_lm.tuner, transformers' Trainer; 3 MB",
}

#: mlx is a namespace package (no __init__.py in the macOS wheels either), which py2app's
#: ``packages`` cannot find (modulegraph's imp_find_module raises "No module named 'mlx'"):
#: it is copied as a folder through ``resources`` instead and kept out of the module graph,
#: so that core.so, lib/libmlx.dylib and lib/mlx.metallib stay side by side as mlx expects.
FOLDERS = ("mlx",)

#: The Qt modules the app imports (tests compare with ``from PySide6.X`` in desktop_chat).
QT_MODULES = ("QtCore", "QtGui", "QtWidgets", "QtNetwork")
#: Qt plugins the app needs: the Cocoa platform, the macOS style, the image formats it reads.
QT_PLUGINS = ("platforms/libqcocoa.dylib", "styles/libqmacstyle.dylib",
              "imageformats/libqicns.dylib", "imageformats/libqjpeg.dylib")  # fmt: skip
#: PySide6 parts the app runs: its package code and signature support, libpyside6 (not the
#: QML one), the Qt modules above with their frameworks and plugins. Not: Designer, Assistant,
#: Linguist, the command-line tools, QML, translations, headers, type stubs.
_PYSIDE_KEEP = ("__init__.py", "_config.py", "_git_pyside_version.py", "py.typed",
                "PySide6_Essentials.json", "support", "__pycache__")  # fmt: skip

#: Large parts of Python the app never imports (modulegraph would otherwise follow them).
EXCLUDES = ["tkinter", "pydoc_data", "setuptools", "pip", *UNUSED, *FOLDERS]


def folder_of(name: str) -> Path:
    """An installed package's one folder (a namespace package's too)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed as a package here; run uv sync first.")
    (path,) = list(spec.submodule_search_locations)
    return Path(path)


def macho_dependencies(path: Path) -> set[str]:
    """The libraries a Mach-O file loads (LC_LOAD_DYLIB and kin), as written in it."""
    from macholib.mach_o import LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB
    from macholib.MachO import MachO

    wanted = {LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB}
    found = set()
    for header in MachO(str(path)).headers:
        for command, _body, data in header.commands:
            if command.cmd in wanted:
                found.add(data.rstrip(b"\0").decode())
    return found


def qt_frameworks(pyside: Path, modules: Iterable[str] = QT_MODULES,
                  plugins: Iterable[str] = QT_PLUGINS) -> set[str]:  # fmt: skip
    """The Qt frameworks (``QtGui``, …) the kept modules, libpyside6 and plugins load, followed
    through the frameworks themselves (QtGui loads QtDBus on macOS)."""
    lib = pyside / "Qt" / "lib"
    todo = [pyside / f"{m}.abi3.so" for m in modules]
    todo += sorted(pyside.glob("libpyside6.abi3.*.dylib"))
    todo += [pyside / "Qt" / "plugins" / p for p in plugins]
    needed: set[str] = set()
    while todo:
        binary = todo.pop()
        for dep in macho_dependencies(binary):
            if not dep.startswith("@rpath/") or ".framework/" not in dep:
                continue
            name = dep.split("/")[1].removesuffix(".framework")
            if name not in needed:
                needed.add(name)
                todo.append(lib / f"{name}.framework" / "Versions" / "A" / name)
    return needed


def pyside_filter(pyside: Path, frameworks: set[str], modules: Iterable[str] = QT_MODULES,
                  plugins: Iterable[str] = QT_PLUGINS) -> Callable[[str], bool]:  # fmt: skip
    """py2app's ``copy_tree`` condition for the PySide6 folder: True for what the app runs."""
    modules, plugins = set(modules), set(plugins)
    root = os.path.realpath(pyside)

    def keep(path: str) -> bool:
        rel = Path(os.path.relpath(os.path.realpath(path), root)).parts
        if not rel or rel[0] in (".git", ".hg", ".svn", "CVS"):
            return False
        first = rel[0]
        if first in _PYSIDE_KEEP:
            return True
        if first.endswith(".abi3.so"):
            return first.removesuffix(".abi3.so") in modules
        if first.startswith("libpyside6.abi3."):
            return True
        if first != "Qt" or len(rel) == 1:
            return first == "Qt"
        if rel[1] == "lib":
            return len(rel) == 2 or rel[2].removesuffix(".framework") in frameworks
        if rel[1] == "plugins":
            return len(rel) == 2 or any(p == "/".join(rel[2:]) or p.startswith(
                "/".join(rel[2:]) + "/") for p in plugins)  # fmt: skip
        return False

    return keep


def py2app_command(pyside: Path | None = None, platform: str = sys.platform):
    """py2app's command, copying of PySide6 only what the app runs (``pyside_filter``):
    ``packages`` copies a folder whole, and PySide6's is 350 MB on a Mac (6.12, universal2),
    mostly Qt modules, QML and tools the app never loads; 96 MB are left."""
    from py2app.build_app import py2app

    root = os.path.realpath(pyside or folder_of("PySide6"))

    class Py2app(py2app):
        def copy_tree(self, infile, outfile, *args, condition=None, **kwargs):
            # Only a Mac's PySide6 has the Mach-O frameworks the filter follows.
            if condition is None and platform == "darwin" and os.path.realpath(infile) == root:
                condition = pyside_filter(Path(root), qt_frameworks(Path(root)))
            return super().copy_tree(infile, outfile, *args, condition=condition, **kwargs)

    return Py2app
