"""Which libraries must ship as real folders in the .app, not inside py2app's zip.

py2app byte-compiles what modulegraph finds into ``Contents/Resources/lib/python3XY.zip`` and
copies only the names in ``packages`` as folders (``lib/python3.X/NAME``). Its
``detect_dunder_file`` recipe adds a package whose code loads the name ``__file__``; it misses
``globals()["__file__"]`` (how ``transformers.models`` hands its own folder to ``os.scandir``)
and it cannot see imports by computed name at all. From the zip, a library that lists or opens
its own files, reads package resources, finds plugins through entry points, or imports a module
by a computed name (which modulegraph never put in the zip) fails at run time.

This finds them the honest way: run what the app runs in a fresh interpreter (``exercise``:
every desktop_chat module, a local model loaded and answering through mlx_lm, a local vision
model answering about an image through mlx-vlm, images normalised with Pillow, the keychain,
pygments by lexer name, the hub, openai's client), take every library module that ended up in
``sys.modules``, and scan its source for those patterns. ``python packaging/zip_safety.py
MODEL_DIR VISION_MODEL_DIR`` prints the table.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterable
from pathlib import Path

#: Calls that read a package's own files or resources, or import by name.
_RESOURCE_CALLS = {
    ("pkgutil", "get_data"): "pkgutil.get_data",
    ("pkgutil", "iter_modules"): "pkgutil.iter_modules",
    ("pkgutil", "walk_packages"): "pkgutil.walk_packages",
    ("pkg_resources", "resource_filename"): "pkg_resources",
    ("pkg_resources", "resource_string"): "pkg_resources",
    ("pkg_resources", "iter_entry_points"): "entry points",
}
_RESOURCE_MODULES = ("importlib.resources", "importlib_resources")
_LISTING = {"scandir", "listdir", "walk", "glob", "iglob", "iterdir", "rglob"}
_IMPORT_BY_NAME = {"import_module", "__import__"}


def reasons(source: str) -> set[str]:
    """What in this module's source would fail from a zip (empty: nothing found)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "__file__":
            found.add("__file__")
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value == "__file__"
            and _call_name(node.value) == ("globals",)
        ):
            found.add('globals()["__file__"]')
        elif isinstance(node, ast.ImportFrom) and node.module in _RESOURCE_MODULES:
            found.add("importlib.resources")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in _RESOURCE_MODULES:
                    found.add("importlib.resources")
                elif alias.name == "pkg_resources":
                    found.add("pkg_resources")
        elif isinstance(node, ast.Call):
            name = _call_name(node.func)
            if name[-1:] == ("entry_points",):
                found.add("entry points")
            elif name[-2:] in _RESOURCE_CALLS:
                found.add(_RESOURCE_CALLS[name[-2:]])
            elif name[-1:] and name[-1] in _LISTING:
                found.add(f"lists files ({name[-1]})")
            elif (
                name[-1:]
                and name[-1] in _IMPORT_BY_NAME
                and node.args
                and not isinstance(node.args[0], ast.Constant)
            ):
                found.add("imports by a computed name")
    # Listing files is only a sign when the module also knows where it lives.
    if not found & {"__file__", 'globals()["__file__"]'}:
        found = {r for r in found if not r.startswith("lists files")}
    return found


def _call_name(func: ast.expr) -> tuple[str, ...]:
    """``os.path.join`` -> ("os", "path", "join"); for a call node, the called name."""
    if isinstance(func, ast.Call):
        func = func.func
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return tuple(reversed(parts))


def library_dirs() -> list[Path]:
    """Where installed libraries live (site-packages), as opposed to the standard library."""
    paths = sysconfig.get_paths()
    return sorted({Path(paths["purelib"]).resolve(), Path(paths["platlib"]).resolve()})


def top_level(module_file: Path, roots: Iterable[Path]) -> str | None:
    """The importable top-level name a library file belongs to, or None outside ``roots``."""
    for root in roots:
        try:
            rel = module_file.resolve().relative_to(root)
        except ValueError:
            continue
        first = rel.parts[0]
        return first.split(".")[0] if len(rel.parts) == 1 else first
    return None


def scan(modules: dict[str, str]) -> dict[str, dict[str, set[str]]]:
    """{top-level package: {module: reasons}} for the imported library modules that would
    fail from a zip."""
    roots = library_dirs()
    result: dict[str, dict[str, set[str]]] = {}
    for name, file in sorted(modules.items()):
        path = Path(file)
        top = top_level(path, roots)
        if top is None or top == "desktop_chat" or path.suffix != ".py":
            continue
        found = reasons(path.read_text(encoding="utf-8", errors="replace"))
        if found:
            result.setdefault(top, {})[name] = found
    return result


def imported_modules(
    model_dir: Path, vision_dir: Path, env: dict[str, str] | None = None
) -> dict[str, str]:
    """{module name: file} of everything ``exercise`` imported, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, __file__, "--exercise", str(model_dir), str(vision_dir)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-4000:])
    return json.loads(done.stdout.splitlines()[-1])


def exercise(model_dir: Path, vision_dir: Path) -> None:
    """What the app does at run time that pulls in modules by name or reads library files."""
    import importlib
    import pkgutil
    import threading

    import desktop_chat

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for info in pkgutil.walk_packages(desktop_chat.__path__, "desktop_chat."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    # A local model: mlx_lm imports its model module by the config's name; transformers finds
    # the tokenizer classes in its own folder; the chat template runs in jinja2.
    from desktop_chat.engine import MlxEngine
    from desktop_chat.params import GenerationParams

    engine = MlxEngine().start()
    try:
        engine.load(model_dir).result(120)
        engine.generate([{"role": "user", "content": "Hi"}],
                        GenerationParams(temperature=0.0, max_tokens=4),
                        lambda _event: None, threading.Event()).result(120)  # fmt: skip
    finally:
        engine.shutdown()
    # Images: Pillow opens a dropped file by its format's plugin, found by name (Image.init),
    # and re-encodes it; a pasted or API image arrives as a PIL image.
    import io

    from PIL import Image

    from desktop_chat.conversation import Message
    from desktop_chat.images import normalise

    pictures = [normalise(Image.new("RGB", (100, 70), (220, 30, 30)), name="square")]
    for kind in ("PNG", "JPEG", "GIF", "WEBP"):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (30, 40, 220)).save(buffer, format=kind)
        pictures.append(normalise(buffer.getvalue(), name=f"square.{kind.lower()}"))
    # An iPhone photo: HEIC through pi-heif (the tests' own small one; nothing here encodes it).
    heic = Path(__file__).resolve().parents[1] / "tests" / "data" / "IMG_0002.heic"
    pictures.append(normalise(heic))
    # A local vision model: mlx-vlm loads it and its processor (transformers' image processing
    # or mlx-vlm's own), and answers about the image on the engine's thread.
    engine = MlxEngine().start()
    try:
        engine.load(vision_dir).result(120)
        asked = Message("user", "What is in this picture?", images=pictures[:1]).to_api()
        greedy = GenerationParams(temperature=0.0, max_tokens=4)
        engine.generate([asked], greedy, lambda _event: None, threading.Event()).result(120)
    finally:
        engine.shutdown()
    # The keychain: keyring's backends come through entry points.
    import keyring

    keyring.get_keyring()
    # Code blocks: pygments finds lexers and styles by name.
    from pygments.lexers import get_lexer_by_name
    from pygments.styles import get_style_by_name

    for language in ("python", "javascript", "bash", "json", "rust", "c++"):
        get_lexer_by_name(language)
    get_style_by_name("default")
    # Remote providers and the hub: clients built as the app builds them (no request made).
    import openai

    client = openai.AsyncOpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")
    _ = client.chat.completions, client.models
    from huggingface_hub.utils import get_session

    get_session()
    from desktop_chat.hub import cached_models

    cached_models()
    # Servers on this machine: discovery asks a port (nothing listens on 9: refused at once).
    import asyncio

    from desktop_chat.providers.discovery import discover

    asyncio.run(discover((("nothing", 9),)))
    # Tools: MCP servers, as the app starts and calls them (the SDK's stdio and Streamable
    # HTTP clients, httpx2, mcp_types), against the tests' own servers written with the SDK.
    asyncio.run(_mcp_calls())
    import pypdf  # noqa: F401  (attached PDFs)
    import qasync  # noqa: F401  (the window's loop; it finds the Qt binding by name)


async def _mcp_calls() -> None:
    from desktop_chat.mcp_config import McpServerSettings
    from desktop_chat.mcp_servers import McpServers
    from tests.support.mcp_servers import http_server, stdio_settings
    from tests.support.servers import free_port

    with http_server(free_port()) as url:
        settings = [stdio_settings("local"), McpServerSettings(name="remote", url=url)]
        async with McpServers(settings) as servers:
            await servers.start()
            for name in ("local", "remote"):
                assert await servers.call(name, "add", {"a": 2, "b": 3}) == "5"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--exercise"]:
        exercise(Path(argv[1]), Path(argv[2]))
        modules = {n: m.__file__ for n, m in list(sys.modules.items())
                   if getattr(m, "__file__", None)}  # fmt: skip
        print(json.dumps(modules))
        return 0
    if len(argv) != 2:
        print("usage: python packaging/zip_safety.py MODEL_DIR VISION_MODEL_DIR", file=sys.stderr)
        return 2
    for top, modules in scan(imported_modules(Path(argv[0]), Path(argv[1]))).items():
        print(f"{top}:")
        for name, found in modules.items():
            print(f"    {name}: {', '.join(sorted(found))}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main(sys.argv[1:]))
