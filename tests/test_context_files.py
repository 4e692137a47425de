"""Hostile files dropped into the context: a FIFO, ``/dev/zero`` (and a link to it), a folder,
a 10 GB sparse file, a PDF that breaks pypdf with a Python error, one that makes pypdf warn.
Each is refused (or read) at once with a sentence naming the file — in the core, through
``llmchat``'s ``/file`` and in the window's drop — and nothing prints into the terminal.

Every read runs in a child process with a memory ceiling and a time limit: a reader that
blocks on the FIFO or reads ``/dev/zero`` fails its test instead of hanging the suite or
filling the machine's memory."""

from __future__ import annotations

import json
import os
import sys

import pexpect
import pytest

from tests.support import isolated
from tests.support.isolated import run_python
from tests.support.pdfs import pages_pdf, recursion_pdf, warning_pdf

#: The 10 GB of the sparse file: far more than the child may hold in memory.
SPARSE_BYTES = 10 << 30


@pytest.fixture
def hostile(tmp_path):
    """name → path of each hostile kind of file (none of them takes real disk space)."""
    os.mkfifo(tmp_path / "pipe.txt")
    (tmp_path / "zero-link.txt").symlink_to("/dev/zero")
    (tmp_path / "folder").mkdir()
    with open(tmp_path / "huge.log", "wb") as f:
        f.truncate(SPARSE_BYTES)
    (tmp_path / "nested.pdf").write_bytes(recursion_pdf())
    return {
        "pipe.txt": tmp_path / "pipe.txt",
        "zero": "/dev/zero",
        "zero-link.txt": tmp_path / "zero-link.txt",
        "folder": tmp_path / "folder",
        "huge.log": tmp_path / "huge.log",
        "nested.pdf": tmp_path / "nested.pdf",
    }


#: What each refusal says, besides the file's name.
WORDS = {
    "pipe.txt": "not a regular file",
    "zero": "not a regular file",
    "zero-link.txt": "not a regular file",
    "folder": "is a folder",
    "huge.log": "binary",
    "nested.pdf": "could not be read as a PDF",
}


def read_in_child(path, timeout_s: float = 20) -> dict:
    out = run_python(
        f"""
        import json
        from desktop_chat.context import ContextError, read_file
        try:
            f = read_file({str(path)!r})
            print(json.dumps({{"text": f.text, "truncated": f.truncated, "size": f.size_bytes}}))
        except ContextError as err:
            print(json.dumps({{"refused": err.message, "hint": err.hint}}))
    """,
        timeout_s=timeout_s,
        what=f"read_file({path})",
    )
    return json.loads(out.splitlines()[-1])


@pytest.mark.parametrize("name", list(WORDS))
def test_a_hostile_file_is_refused_at_once_with_a_sentence_naming_it(hostile, name):
    result = read_in_child(hostile[name])
    assert "refused" in result, result
    assert name in result["refused"] and WORDS[name] in result["refused"], result
    assert result["hint"], "and says what to do"


def test_a_fifo_swapped_in_after_the_check_cannot_block_the_read(tmp_path):
    """The path is a regular file when looked at, a FIFO when opened: opened without blocking
    and looked at again through the open file, it is refused."""
    os.mkfifo(tmp_path / "swapped.txt")
    (tmp_path / "plain.txt").write_text("plain")
    out = run_python(
        f"""
        import os
        import desktop_chat.context as context
        real_stat = os.stat
        plain = real_stat({str(tmp_path / "plain.txt")!r})
        context.os.stat = lambda path, *a, **k: plain  # what the check saw a moment before
        try:
            context.read_file({str(tmp_path / "swapped.txt")!r})
        except context.ContextError as err:
            print(err.message)
    """,
        timeout_s=20,
        what="reading a FIFO swapped in",
    )
    assert "swapped.txt is not a regular file" in out


def test_a_long_text_file_is_read_only_as_far_as_the_cap(tmp_path):
    """A 2 GB log (sparse after its first megabyte of text) in a child allowed 3 GB: only the
    beginning is read, kept and marked cut; the size is the file's."""
    path = tmp_path / "server.log"
    with open(path, "wb") as f:
        f.write(b"GET /index.html 200\n" * 50_000)
        f.truncate(2 << 30)
    result = read_in_child(path)
    assert result.get("truncated") is True, result
    assert result["text"].startswith("GET /index.html 200\n") and len(result["text"]) == 100_000
    assert result["size"] == 2 << 30


def test_pdf_parser_failures_and_warnings(tmp_path):
    """A PDF that makes pypdf raise RecursionError is refused with a sentence (no traceback);
    one it warns about is read, and its warning goes to the app's log, not the terminal."""
    (tmp_path / "nested.pdf").write_bytes(recursion_pdf())
    (tmp_path / "odd-font.pdf").write_bytes(warning_pdf("Quarterly figures"))
    out = run_python(
        f"""
        import json, logging
        from desktop_chat.context import ContextError, read_file
        records = []
        class Keep(logging.Handler):
            def emit(self, record):
                records.append(record.getMessage())
        logging.getLogger("desktop_chat").addHandler(Keep())
        logging.getLogger("desktop_chat").setLevel(logging.DEBUG)
        text = read_file({str(tmp_path / "odd-font.pdf")!r}).text
        try:
            read_file({str(tmp_path / "nested.pdf")!r})
        except ContextError as err:
            refused = str(err)
        print(json.dumps({{"text": text, "refused": refused, "records": records}}))
    """,
        timeout_s=30,
        what="reading the PDFs",
    )
    result = json.loads(out.splitlines()[-1])
    assert "Quarterly figures" in result["text"]
    assert "nested.pdf could not be read as a PDF" in result["refused"]
    assert any("/Widths" in r for r in result["records"]), "pypdf's warning is in the app log"


def test_pdf_warnings_do_not_print_into_the_terminal(tmp_path):
    (tmp_path / "odd-font.pdf").write_bytes(warning_pdf("Quarterly figures"))
    proc = __import__("subprocess").run(
        [
            sys.executable,
            "-c",
            "import sys; from desktop_chat.context import read_file;"
            f" print(read_file({str(tmp_path / 'odd-font.pdf')!r}).text)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=isolated.ROOT,
        env=isolated.limited_env(),
    )
    assert proc.returncode == 0 and "Quarterly figures" in proc.stdout, proc.stderr
    assert proc.stderr == "", f"printed into the terminal: {proc.stderr!r}"


def test_a_big_pdf_still_reads(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(pages_pdf([f"Page {i} of the report" for i in range(1, 41)]))
    result = read_in_child(path)
    assert "Page 1 of the report" in result["text"] and "Page 40 of the report" in result["text"]


# --- through llmchat's /file -------------------------------------------------------------


@pytest.mark.slow
def test_llmchat_file_refuses_each_hostile_file_and_goes_on(hostile, tmp_path, _isolated_home):
    from tests.support.fake_openai import FakeOpenAI, Step
    from tests.support.settings import write_config

    (tmp_path / "odd-font.pdf").write_bytes(warning_pdf("Quarterly figures"))
    with FakeOpenAI() as fake:
        fake.script = [Step(pieces=["Read it."])]
        write_config(_isolated_home, f'[providers.fake]\nbase_url = "{fake.base_url}"\n')
        env = {
            **os.environ,
            "DESKTOP_CHAT_HOME": str(_isolated_home),
            "PYTHONUNBUFFERED": "1",
            "LLMCHAT_CONFIG": str(_isolated_home / "none"),
            "TERM": "dumb",
        }
        child = pexpect.spawn(
            sys.executable,
            ["-m", "desktop_chat.cli", "fake:m"],
            env=env,
            encoding="utf-8",
            timeout=20,
            dimensions=(40, 200),
            preexec_fn=isolated._limit_memory,
        )
        try:
            child.expect_exact("prompt -> ")
            for name, path in hostile.items():
                child.sendline(f"/file {path}")
                child.expect_exact(WORDS[name])
                child.expect_exact("prompt -> ")
            child.sendline(f"/file {tmp_path / 'odd-font.pdf'}")
            child.expect_exact("will join your next prompt")
            child.expect_exact("prompt -> ")
            shown = child.before
            child.sendline("What is in it?")
            child.expect_exact("Read it.")
            child.expect_exact("prompt -> ")
            child.sendline("Bye")
            child.expect(pexpect.EOF)
            transcript = child.before
            assert child.wait() == 0
        finally:
            if child.isalive():
                child.terminate(force=True)
    assert "Traceback" not in transcript and "Expected an array" not in shown
    assert "Quarterly figures" in fake.requests[-1]["body"]["messages"][-1]["content"]


# --- through the window's drop -----------------------------------------------------------


@pytest.mark.slow
def test_the_window_refuses_each_dropped_hostile_file_by_name(hostile, tmp_path):
    """The real window in a child process: the drop adds the good file as a chip, and one
    banner names every refused file."""
    (tmp_path / "notes.md").write_text("Remember the milk.")
    paths = [*hostile.values(), tmp_path / "notes.md"]
    out = run_python(
        f"""
        import asyncio, json
        from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
        from PySide6.QtGui import QDragEnterEvent, QDropEvent
        from PySide6.QtWidgets import QApplication
        from tests.support.fake_openai import as_provider
        from tests.support.gui import running_window, wait_for
        import os, pathlib
        qapp = QApplication([])
        with as_provider(pathlib.Path(os.environ["DESKTOP_CHAT_HOME"])), \\
                running_window(qapp) as (loop, window):
            async def scenario():
                await window.controller.refresh()
                mime = QMimeData()
                mime.setUrls([QUrl.fromLocalFile(p) for p in {[str(p) for p in paths]!r}])
                at, how = QPointF(window.rect().center()), Qt.DropAction.CopyAction
                keys = (Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
                QApplication.sendEvent(window, QDragEnterEvent(at.toPoint(), how, mime, *keys))
                QApplication.sendEvent(window, QDropEvent(at, how, mime, *keys))
                await wait_for(lambda: window.files.chips, limit_s=20, what="the chip")
                await wait_for(lambda: window.view.items, limit_s=20, what="the banner")
            loop.run_until_complete(scenario())
            banner = window.view.items[-1]
            print(json.dumps({{"chips": [c.name for c in window.files.chips],
                              "message": banner.message.text(), "hint": banner.hint.text()}}))
    """,
        timeout_s=90,
        what="the window's drop",
    )
    result = json.loads(out.splitlines()[-1])
    assert result["chips"] == ["notes.md"]
    assert result["message"] == f"{len(hostile)} files were not added to the context."
    lines = result["hint"].splitlines()
    for (name, _), line in zip(hostile.items(), lines, strict=True):
        assert line.startswith(name) and WORDS[name] in line, (name, line)
