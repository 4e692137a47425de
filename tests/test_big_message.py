"""Sending a 2 MB message (a log, a file pasted in): it is sent and stored whole, and the
window shows its start with "Show all", so nothing on the GUI thread is sized to the text.
(The figures are in ``tests/bench``: event-loop lag while sending.)"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, screenshot, wait_for

LINE = "The quick brown fox jumps over the lazy dog, and then it rests a while. " * 14
BIG = (LINE + "\n") * (2_000_000 // (len(LINE) + 1)) + "the very end"


def test_a_2_mb_message_is_sent_whole_and_shown_by_its_start(qapp, qtbot, fake):
    from desktop_chat.gui.messages import BUBBLE_CHARS

    fake.script = [Step(pieces=["Got it."])]
    with running_window(qapp) as (loop, window):
        edit = window.composer.edit
        reads = []
        read = edit.toPlainText
        edit.toPlainText = lambda: (text := read(), reads.append(len(text)))[0]

        async def scenario():
            await window.controller.refresh()
            edit.setPlainText(BIG)  # pasted
            reads.clear()
            qtbot.keyClick(edit, Qt.Key.Key_Return)
            assert read() == "", "the composer is empty once it is sent"
            await wait_for(lambda: reply_done(window), what="the reply")

        loop.run_until_complete(scenario())
        copies = [n for n in reads if n > 1_000_000]
        assert len(copies) == 1, f"the composer's 2 MB were copied out {len(copies)} times"
        sent = fake.requests[-1]["body"]["messages"][-1]
        assert sent["role"] == "user" and sent["content"] == BIG.strip()
        assert window.controller.conversation.messages[0].content == BIG.strip()
        bubble = window.view.items[0]
        assert len(bubble.label.text()) <= BUBBLE_CHARS + 2, "the label holds only the start"
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
