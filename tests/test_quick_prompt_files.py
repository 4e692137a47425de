"""Files dropped on the quick prompt are read off the GUI thread: a long PDF takes more than a
second to extract, and the panel goes on answering meanwhile. They join in the order dropped,
refusals are named, and a prompt sent before they are read goes with them once they are."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from tests.support.fake_openai import Step
from tests.support.gui import running_window, wait_for
from tests.support.pdfs import pages_pdf

pytestmark = pytest.mark.slow

#: The longest the GUI thread may go without running a timer, as a part of the read's time
#: (read on the GUI thread, it would go the whole time; this machine's load stretches both).
MAX_PAUSE = 0.25


def _drop(target, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    at, how = QPointF(10, 10), Qt.DropAction.CopyAction
    keys = (Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, QDragEnterEvent(at.toPoint(), how, mime, *keys))
    QApplication.sendEvent(target, QDropEvent(at, how, mime, *keys))


def test_dropped_files_are_read_off_the_gui_thread_in_order(qapp, qtbot, fake, tmp_path):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    report = tmp_path / "report.pdf"
    report.write_bytes(
        pages_pdf([f"Page {i} of the report\n" + "More words on it.\n" * 20 for i in range(1, 601)])
    )
    (tmp_path / "first.txt").write_text("The first file.")
    (tmp_path / "last.md").write_text("The last file.")
    (tmp_path / "folder").mkdir()
    paths = [tmp_path / "first.txt", report, tmp_path / "folder", tmp_path / "last.md"]
    fake.script = [Step(pieces=["Read them."])]
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    with running_window(qapp) as (loop, window):
        quick = quick_prompt_for(window)

        async def scenario():
            await window.controller.refresh()
            quick.present()
            times = {"drop": time.monotonic()}
            _drop(quick, paths)
            times["dropped"] = time.monotonic()
            labels = [quick.attached.text()]
            qtbot.keyClicks(quick.input, "Summarise them")
            qtbot.keyClick(quick.input, Qt.Key.Key_Return)
            labels += [quick.attached.text(), quick.input.toPlainText()]
            # From here the test leaves the loop alone: the timer fires unless the read blocks.
            times["watch"] = time.monotonic()
            timer.start()
            await wait_for(lambda: not quick._reading, what="the files")
            times["read"] = time.monotonic()
            timer.stop()
            await wait_for(lambda: quick.continue_button.isEnabled(), what="the answer")
            return times, labels

        times, labels = loop.run_until_complete(scenario())
    read_s, dropped = times["read"] - times["drop"], times["dropped"] - times["drop"]
    assert dropped < MAX_PAUSE * read_s, f"the drop held the GUI thread {dropped:.2f} s"
    # Long enough that a read on the GUI thread would be a pause many ticks long (a fast,
    # idle machine reads the 600 pages in about a second).
    assert read_s > 0.4, f"the read took {read_s:.2f} s: too quick to prove anything"
    during = [t for t in ticks if t <= times["read"]]
    pauses = [b - a for a, b in zip([times["watch"], *during], during, strict=False)]
    assert len(during) > 10 and max(pauses) < MAX_PAUSE * read_s, (
        f"the GUI thread stopped for {max(pauses):.2f} s of a {read_s:.2f} s read"
    )
    reading, sending, typed = labels
    assert reading == "Reading first.txt, report.pdf, folder, last.md…"
    assert sending == "Sending once the dropped files are read…"
    assert typed == "Summarise them", "what was typed stays until it can go"
    assert quick.attached.text() == (
        "Attached: first.txt, report.pdf, last.md  folder is a folder."
    )
    sent = fake.requests[-1]["body"]["messages"][-1]["content"]
    assert sent.startswith("Summarise them")
    order = [sent.index(t) for t in ("The first file.", "Page 1 of the report", "The last file.")]
    assert order == sorted(order), "the files join in the order they were dropped"
