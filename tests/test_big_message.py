"""Sending a 2 MB message (a log, a file pasted in): it is sent and stored whole, and the
window shows its start with "Show all", so nothing on the GUI thread is sized to the text.
(The figures are in ``tests/bench``: event-loop lag while sending.)"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPlainTextEdit

from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, screenshot, wait_for

LINE = "The quick brown fox jumps over the lazy dog, and then it rests a while. " * 14
BIG = (LINE + "\n") * (2_000_000 // (len(LINE) + 1)) + "the very end"


def count_reads(monkeypatch) -> list[int]:
    """The length of each text read out of a plain-text document (a copy of all of it)."""
    reads = []
    read = QPlainTextEdit.toPlainText

    def counting(edit):
        text = read(edit)
        reads.append(len(text))
        return text

    monkeypatch.setattr(QPlainTextEdit, "toPlainText", counting)
    return reads


def test_a_2_mb_message_is_sent_whole_and_shown_by_its_start(qapp, qtbot, fake, monkeypatch):
    from desktop_chat.gui.messages import PREVIEW_CHARS

    fake.script = [Step(pieces=["Got it."])]
    reads = count_reads(monkeypatch)
    with running_window(qapp) as (loop, window):
        edit = window.composer.edit

        async def scenario():
            await window.controller.refresh()
            edit.setPlainText(BIG)  # pasted
            reads.clear()
            qtbot.keyClick(edit, Qt.Key.Key_Return)
            assert edit.toPlainText() == "", "the composer is empty once it is sent"
            assert "500.0k tokens" in window.meter.label.text(), "counted as it is sent"
            await wait_for(lambda: reply_done(window), what="the reply")

        loop.run_until_complete(scenario())
        copies = [n for n in reads if n > 1_000_000]
        assert len(copies) == 1, f"the composer's 2 MB were copied out {len(copies)} times"
        sent = fake.requests[-1]["body"]["messages"][-1]
        assert sent["role"] == "user" and sent["content"] == BIG.strip()
        assert window.controller.conversation.messages[0].content == BIG.strip()
        bubble = window.view.items[0]
        assert len(bubble.label.text()) <= PREVIEW_CHARS + 2, "the label holds only the start"
        high = bubble.label.height() / bubble.label.fontMetrics().lineSpacing()
        assert high <= 8, f"collapsed to a few lines, not a screenful ({high:.0f} lines high)"
        assert bubble.label.text().startswith(LINE[:200]) and bubble.label.text().endswith("…")
        assert bubble.show_all.isVisible()
        assert bubble.show_all.text() == "Show all (1,983 lines, 2.0 MB)"
        screenshot(window, "big-message")
        qtbot.mouseClick(bubble.show_all, Qt.MouseButton.LeftButton)
        assert bubble.whole.toPlainText() == BIG.strip() and bubble.whole.isVisible()
        assert not bubble.show_all.isVisible()
        qtbot.mouseClick(bubble.findChildren(type(bubble.show_all))[-1], Qt.MouseButton.LeftButton)
        assert QApplication.clipboard().text() == BIG.strip(), "Copy copies all of it"
        screenshot(window, "big-message-shown-all")


def test_a_short_message_shows_whole_without_show_all(qapp):
    from desktop_chat.conversation import Conversation
    from desktop_chat.gui.messages import UserMessage

    message = Conversation().add_user("Two lines,\nshort ones.")
    bubble = UserMessage(0, message)
    assert bubble.label.text() == "Two lines,\nshort ones." and bubble.show_all is None
    medium = "\n".join(f"line {i}: " + "x" * 60 for i in range(39))  # a function pasted
    bubble = UserMessage(0, Conversation().add_user(medium))
    assert bubble.label.text() == medium and bubble.show_all is None, "not collapsed"


def test_enter_after_the_draft_is_saved_reads_the_2_mb_no_more(qapp, qtbot, fake, monkeypatch):
    """The draft's save (a moment after the paste) reads the composer's text; Enter, later,
    sends that copy instead of reading 2 MB out of the document again in its own turn."""
    from desktop_chat.gui.composer import DRAFT_DELAY_MS

    fake.script = [Step(pieces=["Got it."])]
    reads = count_reads(monkeypatch)
    with running_window(qapp) as (loop, window):
        edit = window.composer.edit

        async def scenario():
            await window.controller.refresh()
            edit.setPlainText(BIG)  # pasted
            drafts, key = window.history.drafts.drafts, window.history._draft_key()
            await wait_for(
                lambda: drafts.get(key) == BIG,
                limit_s=10 + DRAFT_DELAY_MS / 1000,
                what="the draft saved",
            )
            reads.clear()
            typed = edit.toPlainText()
            qtbot.keyClick(edit, Qt.Key.Key_Return)
            assert max(reads, default=0) < 1_000, "Enter read the 2 MB out of the document again"
            sent = window.controller.conversation.messages[0].content
            assert sent is typed, "the 2 MB were copied on their way to the conversation"
            await wait_for(lambda: reply_done(window), what="the reply")

        loop.run_until_complete(scenario())
        assert fake.requests[-1]["body"]["messages"][-1]["content"] == BIG.strip()
        assert window.controller.conversation.messages[0].content == BIG.strip()
        edit.insertPlainText("typed after")  # a change: the next read is of the new text
        assert edit.toPlainText() == "typed after" and reads[-1] == len("typed after")
        edit.blockSignals(True)  # a change nobody is told of is still seen
        edit.selectAll()
        edit.insertPlainText("set quietly")  # as long as what was there
        edit.blockSignals(False)
        assert edit.toPlainText() == "set quietly"
        edit.undo()
        assert edit.toPlainText() == "typed after"
