"""The house rules, checked: no Qt in the core, mlx only in the engine, lazy heavy imports,
nothing done at import time, ruff clean."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import desktop_chat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_import_linter_contracts_hold():
    result = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_every_core_module_is_covered_by_the_contracts():
    """A new core module cannot slip past the contracts by not being listed: the floors are
    exhaustive (every module has one), and the no-Qt and no-mlx rules hold for the whole
    package, the window and the engine excepted by name."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    floors, no_qt, no_mlx = config["contracts"]
    assert floors["type"] == "layers" and floors["exhaustive"] is True
    top = {m.name for m in pkgutil.iter_modules(desktop_chat.__path__)}
    named = {part.strip() for layer in floors["layers"] for part in layer.split("|")}
    assert top == named, f"give a floor to: {sorted(top - named)}"
    for contract in (no_qt, no_mlx):
        assert contract["source_modules"] == ["desktop_chat"]
    assert all(
        rule.startswith(("desktop_chat.gui.", "desktop_chat.__main__"))
        for rule in no_qt["ignore_imports"]
    )
    # The engine, and the modules that hold its parts (its prompt caches, its vision half).
    engine = (
        "desktop_chat.engine ->",
        "desktop_chat.prompt_caches ->",
        "desktop_chat.vision_engine ->",
    )
    assert all(rule.startswith(engine) for rule in no_mlx["ignore_imports"])


def test_the_terminal_chat_modules_import_one_way():
    """No two of llmchat's modules import each other, not even inside a function: the loop
    uses the commands, both use the state that opens a model (once, for both)."""
    import grimp

    graph = grimp.build_graph("desktop_chat", cache_dir=None)
    modules = sorted(graph.find_children("desktop_chat.cli"))
    chain = graph.find_shortest_chain
    pairs = [(a, b) for a in modules for b in modules if a < b]
    loops = [(a, b) for a, b in pairs if chain(a, b) and chain(b, a)]
    assert loops == []


def test_no_module_imports_back_into_one_that_imports_it():
    """The import graph has no loop, not even through an import inside a function, except the
    global hotkey's lazy macOS plugin (``hotkey`` picks ``hotkey_mac``, which uses its types)."""
    import grimp

    graph = grimp.build_graph("desktop_chat", cache_dir=None)
    ours = [m for m in graph.modules if m.startswith("desktop_chat")]
    edges = {m: graph.find_modules_directly_imported_by(m) & set(ours) for m in ours}
    loops = set()
    for module, imported in edges.items():
        for other in imported:
            if other != module and graph.find_shortest_chain(other, module):
                loops.add(tuple(sorted((module, other))))
    assert loops == {("desktop_chat.platform.hotkey", "desktop_chat.platform.hotkey_mac")}


def test_importing_the_package_is_cheap_and_does_nothing(tmp_path):
    """No heavy module, no file, no thread at import time — the public names included."""
    code = (
        "import sys, threading, desktop_chat, desktop_chat.api, desktop_chat.config, "
        "desktop_chat.providers.openai_compat, desktop_chat.keys, desktop_chat.targets;"
        "heavy = ['openai', 'mlx', 'mlx_lm', 'PySide6', 'qasync', 'keyring', 'httpx',"
        " 'huggingface_hub', 'transformers'];"
        "import json; print(json.dumps({'loaded': [m for m in heavy if m in sys.modules],"
        " 'threads': threading.active_count()}))"
    )
    home = tmp_path / "home"
    env = {**os.environ, "DESKTOP_CHAT_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    report = json.loads(out.stdout)
    assert report == {"loaded": [], "threads": 1}
    assert not home.exists(), "importing must not create the app's folders"


def test_the_window_is_built_before_asyncio_and_the_store_are_imported():
    """What the first frame needs, and no more: asyncio (about as long as a bare window),
    the store and sqlite3, and a file dialog's class come after it (``gui.app.run``)."""
    code = (
        "import sys, json, desktop_chat.gui.app, desktop_chat.gui.main_window,"
        " desktop_chat.gui.quitting, desktop_chat.gui.single_instance, desktop_chat.paths;"
        "from PySide6.QtWidgets import QApplication; app = QApplication([]);"
        "window = desktop_chat.gui.main_window.MainWindow(); window.show(); app.processEvents();"
        "late = ['asyncio', 'qasync', 'sqlite3', 'desktop_chat.store', 'desktop_chat.session',"
        " 'desktop_chat.gui.controller', 'desktop_chat.gui.messages', 'ssl'];"
        "import PySide6.QtWidgets as w;"
        "print(json.dumps([m for m in late if m in sys.modules]"
        " + (['QFileDialog'] if 'QFileDialog' in w.__dict__ else [])))"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_ruff_is_clean():
    for args in (
        ["check", "desktop_chat", "tests"],
        ["format", "--check", "desktop_chat", "tests"],
    ):
        result = subprocess.run(
            [str(BIN / "ruff"), *args], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
