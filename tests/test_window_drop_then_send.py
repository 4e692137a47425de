"""Enter pressed while a dropped file is still being read (a long PDF takes seconds): the
message waits beside the composer, and goes with the file once it is read; it never leaves
without it, and the file never joins the next message instead."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, wait_for
from tests.support.pdfs import pages_pdf
from tests.test_quick_prompt_files import _drop

pytestmark = pytest.mark.slow


def test_a_message_sent_while_a_dropped_pdf_is_read_goes_with_it(qapp, qtbot, fake, tmp_path):
    report = tmp_path / "report.pdf"
    report.write_bytes(
        pages_pdf([f"Page {i} of the report\n" + "More words on it.\n" * 20 for i in range(1, 601)])
    )
    fake.script = [Step(pieces=["Read it."])]
    with running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            _drop(window, [report])
            edit = window.composer.edit
            edit.setFocus()
            qtbot.keyClicks(edit, "Summarise the report")
            qtbot.keyClick(edit, Qt.Key.Key_Return)
            said = (
                window.controller.context.reading,
                window.waiting_label.isVisible(),
                window.waiting_label.text(),
                edit.toPlainText(),
            )
            await wait_for(
                lambda: any(r["method"] == "POST" for r in fake.requests) and reply_done(window),
                what="the reply",
            )
            return said

        reading, shown, label, typed = loop.run_until_complete(scenario())
        assert reading == 1, "the PDF was still being read when Enter was pressed"
        assert shown and label == "Reading the dropped files… your message is sent with them."
        assert typed == "Summarise the report", "the text stays until it can go"
        posts = [r for r in fake.requests if r["method"] == "POST"]
        assert len(posts) == 1, "sent once, after the read"
        sent = posts[0]["body"]["messages"][-1]["content"]
        assert sent.startswith("Summarise the report") and "Page 1 of the report" in sent
        assert window.composer.edit.toPlainText() == "" and not window.waiting_label.isVisible()
        assert window.controller.session.files.files == [], "the file went with this message"
