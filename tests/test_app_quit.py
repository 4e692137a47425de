"""Every way of quitting — the system's terminate (⌘Q from the application menu, Dock → Quit,
logout), ``QApplication.quit()``, a SIGTERM — goes through the same orderly shutdown as the
window's own Quit: the reply stops, is saved, the engine's thread ends, exit status 0."""

from __future__ import annotations

import signal
import sqlite3
import time

from tests.support.fake_openai import Step, as_provider
from tests.support.settings import write_config
from tests.support.xvfb import desktop_chat_on_x


def _wait(condition, app, limit_s=30.0, what=""):
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{app.output()}"
        assert app.proc.poll() is None, app.output()
        time.sleep(0.05)


def test_quit_from_outside_mid_reply_saves_the_partial_reply(_isolated_home):
    """SIGTERM makes the app call ``QApplication.quit()``: a real ``QEvent.Quit`` sent to the
    application from outside the controller, as AppKit's terminate does on a Mac."""
    with as_provider(_isolated_home) as fake:
        fake.script = [Step(pieces=[f"word{i} " for i in range(200)], delay_s=0.05)]
        with desktop_chat_on_x() as app:
            app.xdo("windowfocus", "--sync", app.window)
            app.xdo("type", "--delay", "1", "Talk for a while")
            app.xdo("key", "Return")
            _wait(lambda: len(fake.sent_at) >= 30, app, what="the reply to stream")
            time.sleep(1.2)  # at least one save while streaming
            app.proc.send_signal(signal.SIGTERM)
            assert app.proc.wait(30) == 0
            out = app.output()
    assert "Traceback" not in out and "QThread" not in out and "Event loop stopped" not in out, out
    db = sqlite3.connect(_isolated_home / "data" / "conversations.sqlite3")
    rows = db.execute("SELECT role, content, interrupted FROM messages ORDER BY id").fetchall()
    assert rows[0] == ("user", "Talk for a while", 0)
    assert rows[1][0] == "assistant" and rows[1][1].startswith("word0 word1 ") and rows[1][2] == 1
    assert len(rows[1][1].split()) >= 30, "the reply up to the quit is kept"


def test_quit_from_outside_while_the_local_engine_answers(_isolated_home, tiny_model_dir):
    write_config(_isolated_home, f'default_model = "{tiny_model_dir}"\n')
    with desktop_chat_on_x() as app:
        app.xdo("windowfocus", "--sync", app.window)
        app.xdo("type", "--delay", "1", "Tell me a story.")
        app.xdo("key", "Return")
        db_path = _isolated_home / "data" / "conversations.sqlite3"
        _wait(
            lambda: (
                db_path.exists()
                and sqlite3.connect(db_path)
                .execute("SELECT count(*) FROM messages WHERE role = 'assistant'")
                .fetchone()[0]
            ),
            app,
            what="the reply to start",
        )
        app.proc.send_signal(signal.SIGTERM)
        assert app.proc.wait(30) == 0
        out = app.output()
    assert "Traceback" not in out and "QThread" not in out and "Event loop stopped" not in out, out
