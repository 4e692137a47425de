"""Nothing is lost on a crash: the real app, a reply streaming, ``kill -9``; then the store
holds the question and the reply up to the last second, marked interrupted, and passes
SQLite's integrity check; reopened, the window shows it."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from desktop_chat.store import Store
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.gui import running_window, wait_for
from tests.support.settings import write_config
from tests.support.xvfb import desktop_chat_on_x

pytestmark = pytest.mark.slow
PROMPT = "Tell me a long story."


def _reply_row(db_path: Path):
    """(content, updated, interrupted) of the newest assistant message, read as another
    process would (WAL lets a reader in while the app writes)."""
    if not db_path.exists():
        return None
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
    try:
        return db.execute(
            "SELECT content, updated, interrupted FROM messages"
            " WHERE role = 'assistant' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    except sqlite3.OperationalError:  # the schema is being created
        return None
    finally:
        db.close()


def _run_and_kill(home: Path) -> tuple[float, str]:
    """Start the app, type the prompt, let the reply stream and be saved twice, kill -9.
    Returns the kill time and the last text seen saved before it."""
    db_path = home / "data" / "conversations.sqlite3"
    with desktop_chat_on_x() as app:
        app.xdo("windowfocus", "--sync", app.window)
        time.sleep(3)  # settings read, the model chosen (and loading, for a local one)
        app.xdo("type", "--delay", "5", PROMPT)
        app.xdo("key", "Return")
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while len(set(seen)) < 3:  # three different saves of the growing reply
            assert time.monotonic() < deadline, f"the reply was not saved: {seen[-1:]}"
            row = _reply_row(db_path)
            if row and row[0] and row[2]:
                seen.append(row[0])
            time.sleep(0.1)
        time.sleep(0.7)
        last_seen = _reply_row(db_path)[0]
        killed_at = time.time()
        app.proc.send_signal(signal.SIGKILL)
        app.proc.wait(10)
    assert app.proc.returncode == -signal.SIGKILL
    return killed_at, last_seen


def _check_store(home: Path, killed_at: float, last_seen: str) -> str:
    store = Store.open(home / "data" / "conversations.sqlite3")
    try:
        assert store.integrity_ok()
        (conv,) = store.conversations()
        question, reply = store.branch(conv.id)
        assert question.content == PROMPT and conv.title == PROMPT
        assert reply.interrupted, "a reply cut by a crash is marked interrupted"
        assert reply.content.startswith(last_seen), "nothing saved before the kill is lost"
        updated = store.db.execute(
            "SELECT updated FROM messages WHERE id = ?", (reply.id,)
        ).fetchone()[0]
        assert killed_at - updated <= 1.5, f"last save {killed_at - updated:.2f} s before kill"
        return reply.content
    finally:
        store.close()


def _reopen_and_look(qapp, content: str) -> None:
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        item = window.sidebar.list.item(0)
        assert item.text() == PROMPT
        window.sidebar.list.itemClicked.emit(item)
        loop.run_until_complete(wait_for(lambda: window.view.replies()))
        reply = window.view.replies()[-1]
        assert reply.text == content
        assert "stopped" in reply.stats.text() or "cut off" in reply.stats.text()


def test_kill_9_mid_reply_from_a_remote_model(qapp, _isolated_home):
    with FakeOpenAI() as fake:
        words = [f"word{i} " for i in range(400)]
        fake.script = [Step(pieces=words, delay_s=0.03)]  # 12 s of reply
        write_config(
            _isolated_home,
            f"""
default_model = "fake:m"
[providers.fake]
base_url = "{fake.base_url}"
models = ["m"]
""",
        )
        killed_at, last_seen = _run_and_kill(_isolated_home)
        sent_before = sum(1 for t in fake.sent_at if t <= killed_at - 1.5)
    content = _check_store(_isolated_home, killed_at, last_seen)
    # Everything the server had sent more than a second (and a margin) before the kill is kept.
    assert content.startswith("".join(words[:sent_before])), (sent_before, content[-80:])
    _reopen_and_look(qapp, content)


def test_kill_9_mid_reply_from_the_local_engine(qapp, _isolated_home, tmp_path):
    from tests.bench.engine_bench import build_random_model

    model = tmp_path / "random-model"
    model.mkdir()
    build_random_model(model)  # random weights: a long reply at ~70 tokens/s here
    write_config(
        _isolated_home,
        f"""
default_model = "{model}"
[defaults]
temperature = 0.0
max_tokens = 3000
""",
    )
    killed_at, last_seen = _run_and_kill(_isolated_home)
    content = _check_store(_isolated_home, killed_at, last_seen)
    _reopen_and_look(qapp, content)
