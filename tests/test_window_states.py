"""The window's states that need a scripted server (an error on demand, a slow stream) or
synthesized input (files dragged onto the window). The screenshots of the main states are
written to test-artifacts/ for a person to look at."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop_chat.gui.controller import CODE_ONLY_PROMPT
from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.test_context import minimal_pdf

ANSWER = [
    "Here is a plan:\n\n",
    "1. Read the **file**\n",
    "2. Reverse it\n\n",
    "| step | cost |\n",
    "|---|---|\n",
    "| read | 1 |\n",
    "| write | 2 |\n\n",
    "```python\n",
    "def reverse(items):\n",
    "    return items[::-1]\n",
    "```\n\n",
    "See [the docs](https://docs.python.org/3/) for more.",
]


def test_markdown_renders_tables_lists_code_and_links(qapp, qtbot, fake):
    from PySide6.QtGui import QDesktopServices, QTextCursor

    fake.script = [Step(pieces=ANSWER)]
    opened = []

    class Browser(QApplication.instance().__class__.__bases__[0]):  # a QObject to receive
        pass

    from PySide6.QtCore import QObject, Slot

    class Receiver(QObject):
        @Slot(QUrl)
        def open(self, url):
            opened.append(url.toString())

    receiver = Receiver()
    QDesktopServices.setUrlHandler("https", receiver, "open")
    try:
        with running_window(qapp) as (loop, window):
            window.resize(900, 800)

            async def scenario():
                await window.controller.refresh()
                type_and_send(qtbot, window, "Plan it")
                await wait_for(lambda: reply_done(window))
                await asyncio.sleep(0.1)

            loop.run_until_complete(scenario())
            reply = window.view.replies()[-1]
            assert [b.language for b in reply.code_blocks] == ["python"]
            assert reply.code_blocks[0].code == "def reverse(items):\n    return items[::-1]"
            docs = [s for s in reply.segments if hasattr(s, "plain_text")]
            text = "\n".join(d.plain_text() for d in docs)
            assert "Read the file" in text and "**" not in text
            tables = [f for d in docs for f in d.document().rootFrame().childFrames()]
            assert tables, "the table is rendered as a table"
            assert opened == [], "nothing opens until a link is clicked"
            link_view = next(d for d in docs if "the docs" in d.plain_text())
            cursor = link_view.document().find("the docs")
            cursor.setPosition(cursor.selectionStart() + 2, QTextCursor.MoveMode.MoveAnchor)
            point = link_view.cursorRect(cursor).center()
            qtbot.mouseClick(link_view.viewport(), Qt.MouseButton.LeftButton, pos=point)
            assert opened == ["https://docs.python.org/3/"]
            screenshot(window, "code-answer")
    finally:
        QDesktopServices.unsetUrlHandler("https")


def test_a_failure_shows_a_banner_and_retry_answers(qapp, qtbot, fake):
    fake.script = [
        Step(pieces=["The answer ", "begins"], ending="cut"),
        Step(pieces=["The whole ", "answer."]),
    ]
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def scenario():
            await controller.refresh()
            type_and_send(qtbot, window, "Explain it")
            await wait_for(lambda: reply_done(window))
            banner = window.view.items[-1]
            assert banner.objectName() == "errorBanner"
            assert "stopped before it was finished" in banner.message.text()
            assert banner.hint.text()
            partial = controller.conversation.messages[-1]
            assert partial.interrupted and partial.content == "The answer begins"
            screenshot(window, "error-banner")
            qtbot.mouseClick(banner.retry_button, Qt.MouseButton.LeftButton)
            await wait_for(lambda: controller.busy)
            await wait_for(lambda: reply_done(window))

        loop.run_until_complete(scenario())
        messages = controller.conversation.messages
        assert [(m.role, m.content) for m in messages] == [
            ("user", "Explain it"),
            ("assistant", "The whole answer."),
        ]
        assert not any(i.objectName() == "errorBanner" for i in window.view.items)
        assert [r.text for r in window.view.replies()] == ["The whole answer."]


def test_an_auth_error_says_what_to_do_and_keeps_the_prompt(qapp, qtbot, fake):
    fake.script = [Step(status=401, error="Incorrect API key provided")]
    with running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, "Are you there?")
            await wait_for(lambda: reply_done(window))

        loop.run_until_complete(scenario())
        banner = window.view.items[-1]
        assert "key" in (banner.message.text() + banner.hint.text()).lower()
        assert window.controller.conversation.messages[0].content == "Are you there?"
        assert window.view.items[0].label.text() == "Are you there?"


def test_code_only_asks_for_code_and_shows_only_code(qapp, qtbot, fake, tmp_path):
    fake.script = [Step(pieces=ANSWER)]
    with running_window(qapp) as (loop, window):
        saved = tmp_path / "out" / "reverse.py"
        saved.parent.mkdir()
        window.ask_save_path = lambda suggested: (asked.append(suggested), str(saved))[1]
        asked = []

        async def scenario():
            await window.controller.refresh()
            qtbot.mouseClick(window.code_only, Qt.MouseButton.LeftButton)
            type_and_send(qtbot, window, "Reverse a list")
            await wait_for(lambda: reply_done(window))
            await asyncio.sleep(0.1)

        loop.run_until_complete(scenario())
        system = fake.requests[-1]["body"]["messages"][0]
        assert system["role"] == "system" and CODE_ONLY_PROMPT in system["content"]
        reply = window.view.replies()[-1]
        prose = [s for s in reply.segments if not hasattr(s, "code")]
        assert prose and all(s.isHidden() for s in prose), "prose is hidden in code only"
        block = reply.code_blocks[0]
        assert block.isVisible() and block.save_button.isVisible()
        screenshot(window, "code-only")
        qtbot.mouseClick(block.save_button, Qt.MouseButton.LeftButton)
        assert asked == ["snippet.py"]
        assert saved.read_text() == "def reverse(items):\n    return items[::-1]\n"
        qtbot.mouseClick(block.copy_button, Qt.MouseButton.LeftButton)
        assert QApplication.clipboard().text() == block.code
        # Off again: the prose comes back, and the next request is an ordinary one.
        qtbot.mouseClick(window.code_only, Qt.MouseButton.LeftButton)
        assert all(not s.isHidden() for s in prose)
        assert CODE_ONLY_PROMPT not in (window.controller.session.params().system_prompt or "")


def test_streaming_is_coalesced_and_follows_unless_scrolled_up(qapp, qtbot, fake):
    words = [f"word{i} " + ("\n\n" if i % 4 == 3 else "") for i in range(400)]
    fake.script = [Step(pieces=words, delay_s=0.01)]
    with running_window(qapp) as (loop, window):
        deltas = []
        window.controller.delta.connect(deltas.append)
        bar = window.view.verticalScrollBar()

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, "Talk")
            await wait_for(lambda: bar.maximum() > 300, what="enough text to scroll")
            assert bar.value() == bar.maximum(), "following the stream"
            screenshot(window, "streaming")
            bar.setValue(0)  # the user scrolls up to read
            await asyncio.sleep(0.3)
            assert bar.value() == 0, "the view stays where the user put it"
            await wait_for(lambda: reply_done(window))

        loop.run_until_complete(scenario())
        reply = window.view.replies()[-1]
        assert reply.text == "".join(words)
        assert len(deltas) == 400
        # At most ~30 renders a second, however fast the tokens came.
        assert reply.renders < len(deltas) / 3, (reply.renders, len(deltas))


def _drag(window, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = window.rect().center()
    enter = QDragEnterEvent(
        QPointF(centre),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    return mime, enter


def test_dropped_files_become_chips_bad_ones_are_named(qapp, qtbot, fake, tmp_path):
    good = {
        "notes.md": "# Notes\n\nRemember the milk.\n",
        "data.json": '{"answer": 42}\n',
        "table.csv": "a,b\n1,2\n",
        "main.py": "print('hi')\n",
    }
    for name, text in good.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "spec.pdf").write_bytes(minimal_pdf("Hello from a PDF"))
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(64))
    (tmp_path / "folder").mkdir()
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    bad = ["photo.png", "folder", "latin1.txt", "gone.txt"]
    paths = [tmp_path / n for n in [*good, "spec.pdf", *bad]]
    fake.script = [Step(pieces=["Noted."])]
    with running_window(qapp) as (loop, window):

        async def scenario():
            await window.controller.refresh()
            mime, enter = _drag(window, paths)
            assert enter.isAccepted() and window.overlay.isVisible()
            await asyncio.sleep(0.05)
            screenshot(window, "drop-hover")
            drop = QDropEvent(
                QPointF(window.rect().center()),
                Qt.DropAction.CopyAction,
                mime,
                Qt.MouseButton.LeftButton,
                Qt.KeyboardModifier.NoModifier,
            )
            QApplication.sendEvent(window, drop)
            assert not window.overlay.isVisible()
            await wait_for(lambda: window.files.chips, what="chips")
            await asyncio.sleep(0.05)
            screenshot(window, "files-attached")

        loop.run_until_complete(scenario())
        chips = {chip.name for chip in window.files.chips}
        assert chips == {*good, "spec.pdf"}
        banner = window.view.items[-1]
        # One notice for the drop: photo.png (a broken PNG) was refused as an image, the rest
        # as text for the context.
        assert banner.message.text() == "4 files were not added to the message."
        lines = banner.hint.text().splitlines()
        for name, line in zip(bad, lines, strict=True):
            assert line.startswith(name), (name, line)
        assert lines[0].startswith("photo.png is not an image that can be read.")
        assert "tokens" in window.meter.label.text()
        files_tokens = window.controller.session.files.tokens
        assert files_tokens > 0

        # Remove one chip; the rest join the next prompt, then the chips clear.
        md_chip = next(c for c in window.files.chips if c.name == "notes.md")
        md_chip.findChild(type(window.code_only)).click()
        assert {c.name for c in window.files.chips} == {*good, "spec.pdf"} - {"notes.md"}

        async def send():
            type_and_send(qtbot, window, "Summarise these")
            await wait_for(lambda: reply_done(window))

        loop.run_until_complete(send())
        sent = fake.requests[-1]["body"]["messages"][-1]["content"]
        assert sent.startswith("Summarise these")
        assert '{"answer": 42}' in sent and "Hello from a PDF" in sent
        assert "Remember the milk" not in sent
        assert window.files.chips == [] and window.controller.session.files.files == []
        bubble = (
            window.view.items[-2]
            if window.view.items[-2].objectName() != "errorBanner"
            else window.view.items[-3]
        )
        assert bubble.label.text() == "Summarise these"


def test_a_drag_without_files_is_refused_and_leaving_hides_the_overlay(qapp, fake):
    with running_window(qapp) as (_loop, window):
        mime = QMimeData()
        mime.setText("just text")
        enter = QDragEnterEvent(
            QPointF(10, 10),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(window, enter)
        assert not enter.isAccepted() and not window.overlay.isVisible()
        _drag(window, [__file__])
        assert window.overlay.isVisible()
        QApplication.sendEvent(window, QDragLeaveEvent())
        assert not window.overlay.isVisible()


def test_keyboard_shortcuts_new_chat_settings_and_stop(qapp, qtbot, fake):
    fake.script = [
        Step(pieces=["One ", "two."]),
        Step(pieces=[f"w{i} " for i in range(300)], delay_s=0.01),
    ]
    with running_window(qapp) as (loop, window):
        window.activateWindow()

        async def scenario():
            await window.controller.refresh()
            type_and_send(qtbot, window, "Count")
            await wait_for(lambda: reply_done(window))
            reply = window.view.replies()[-1]
            qtbot.mouseClick(reply.copy_button, Qt.MouseButton.LeftButton)
            assert QApplication.clipboard().text() == "One two."
            qtbot.keyClick(window.composer.edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
            assert window.controller.conversation.messages == [] and window.view.items == []
            assert window.composer.edit.hasFocus() or window.focusWidget() is window.composer.edit
            type_and_send(qtbot, window, "Talk")
            await wait_for(lambda: window.view.replies() and window.view.replies()[-1].text)
            qtbot.keyClick(
                window.composer.edit, Qt.Key.Key_Period, Qt.KeyboardModifier.ControlModifier
            )  # ⌘. on a Mac
            await wait_for(lambda: reply_done(window), what="the stop")
            assert window.controller.conversation.messages[-1].interrupted
            qtbot.keyClick(
                window.composer.edit, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier
            )
            assert window.dialog is not None and window.dialog.windowTitle() == "Settings"
            window.dialog.close()

        loop.run_until_complete(scenario())
