from __future__ import annotations

import contextlib
import os
import sys
import threading

import pytest

from tests.support import servers, tiny_model
from tests.support.system import missing, require_programs

# Qt tests draw offscreen unless a test starts its own Xvfb display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def _no_foreign_servers():
    """Discovery looks at no port the suite does not own: a developer's Ollama or LM Studio
    neither changes a result nor receives a request. Set in the environment, so every app and
    ``llmchat`` the tests start inherits it; tests of discovery name their own ports."""
    from desktop_chat.providers.discovery import SERVERS_VARIABLE

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SERVERS_VARIABLE, "off")
        yield


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Keep the developer's own settings, keys and data out of every test."""
    home = tmp_path / "app-home"
    monkeypatch.setenv("DESKTOP_CHAT_HOME", str(home))
    for var in list(os.environ):
        if var.endswith("_API_KEY"):
            monkeypatch.delenv(var)
    _own_hugging_face_cache(tmp_path / "hf", monkeypatch)
    yield home
    # The single-instance socket of this home lives in the shared temp folder, not the
    # test's: a window killed before it closed (or never closed) would leave it behind.
    from desktop_chat.instance_socket import server_name
    from desktop_chat.paths import app_paths

    with contextlib.suppress(FileNotFoundError):
        os.unlink(server_name(str(app_paths().data_dir)))


def _own_hugging_face_cache(folder, monkeypatch) -> None:
    """An empty Hugging Face cache of the test's own: the MLX models a developer has
    downloaded must not join the model menus, and nothing a test downloads may outlive it.
    The hub library computes its paths from ``HF_HOME`` when first imported, so it is
    imported before the variable changes; otherwise monkeypatch would "restore" this test's
    folder as the original and the next test would find this one's downloads."""
    import huggingface_hub.constants as constants
    import huggingface_hub.utils._cache_manager as cache_manager

    monkeypatch.setenv("HF_HOME", str(folder))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(folder / "hub"))
    # scan_cache_dir() took its own copy of the default at import.
    monkeypatch.setattr(cache_manager, "HF_HUB_CACHE", str(folder / "hub"))


@pytest.fixture(autouse=True)
def _clipboard_emptied():
    """What a test put on the clipboard is taken off it after: Qt's clipboard would otherwise
    still own the test's QMimeData when the interpreter tears Qt down, which crashes the
    process as it exits (rc 139, after every test passed)."""
    yield
    widgets = sys.modules.get("PySide6.QtWidgets")  # a test that never used Qt: nothing to do
    app = widgets.QApplication.instance() if widgets is not None else None
    if app is not None:
        app.clipboard().clear()


@pytest.fixture(autouse=True)
def _no_leftover_threads():
    """Fail any test that leaves a non-daemon thread (a QThread, a worker) running."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    for t in left:
        t.join(timeout=5)
    left = [t for t in left if t.is_alive()]
    assert not left, f"test left threads running: {left}"


@pytest.fixture(scope="session")
def tiny_model_dir():
    return tiny_model.build()


@pytest.fixture(scope="session")
def mlx_server(tiny_model_dir):
    with servers.mlx_server(tiny_model_dir) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_thinking_model_dir():
    """A tiny reasoning model: a short thought in <think> tags, then the answer."""
    from tests.support import tiny_thinking_model

    return tiny_thinking_model.build()


@pytest.fixture(scope="session")
def tiny_vision_model_dir():
    """A tiny vision model (qwen2_vl, run by mlx-vlm): "I see a picture." when one came."""
    from tests.support import tiny_vision_model

    return tiny_vision_model.build()


@pytest.fixture(scope="session")
def mlx_thinking_server(tiny_thinking_model_dir):
    with servers.mlx_server(tiny_thinking_model_dir) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_tool_model_dir():
    """A tiny tool model (Qwen2.5's template): calls ``weather`` for the weather in Paris or
    Rome, then answers from the result (``tests.support.tiny_tool_model``)."""
    from tests.support import tiny_tool_model

    return tiny_tool_model.build()


@pytest.fixture(scope="session")
def mlx_tool_server(tiny_tool_model_dir):
    with servers.mlx_server(tiny_tool_model_dir) as server:
        yield server


@pytest.fixture
def secret_service(monkeypatch):
    require_programs("dbus-daemon", "gnome-keyring-daemon")
    try:
        cm = servers.secret_service()
        service = cm.__enter__()
    except Exception as exc:  # the daemon could not start: a missing part, said clearly
        missing(f"could not start gnome-keyring in a D-Bus session: {exc}")
    for key, value in service.env.items():
        monkeypatch.setenv(key, value)
    _choose_keyring_again()
    yield service
    cm.__exit__(None, None, None)
    monkeypatch.undo()
    _choose_keyring_again()


def _choose_keyring_again() -> None:
    """keyring lists the viable backends once per process: an earlier test with no D-Bus
    session leaves it on the "fail" backend. Forget that, and choose again."""
    import keyring.backend
    import keyring.core

    with contextlib.suppress(KeyError):  # nothing cached yet
        keyring.backend.get_all_keyring.reset()
    keyring.core.init_backend()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A local server speaking the Hugging Face hub API, with this test's own cache."""
    from tests.support.fake_hub import FakeHub

    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        import huggingface_hub.constants as c

        # The hub library reads its settings at import; point them at this test's server.
        monkeypatch.setattr(c, "ENDPOINT", server.endpoint)
        monkeypatch.setattr(
            c,
            "HUGGINGFACE_CO_URL_TEMPLATE",
            server.endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        )
        # The cache itself is the test's own already (``_isolated_home``).
        monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
        yield server


@pytest.fixture
def fake(_isolated_home):
    """A scripted OpenAI-compatible server as the app's default model ("fake:m")."""
    from tests.support.fake_openai import as_provider

    with as_provider(_isolated_home) as server:
        yield server
