from __future__ import annotations

import os
import threading

import pytest

from tests.support import servers, tiny_model
from tests.support.system import missing, require_programs

# Qt tests draw offscreen unless a test starts its own Xvfb display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Keep the developer's own settings, keys and data out of every test."""
    home = tmp_path / "app-home"
    monkeypatch.setenv("DESKTOP_CHAT_HOME", str(home))
    for var in list(os.environ):
        if var.endswith("_API_KEY"):
            monkeypatch.delenv(var)
    return home


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
    yield service
    cm.__exit__(None, None, None)
