"""Text from outside — a reply, a server's model names and error messages, file names,
conversation titles — can name files, pipes and URLs (``<img src=…>``, ``![x](file:…)``).
Qt's rich text would load them: ``/dev/zero`` until the app aborts, a FIFO forever. No view
loads anything; labels show such text as typed.

Each scenario runs the real widgets offscreen in a child process with a memory ceiling and a
time limit (``tests/support/isolated.py``): a view that reads ``/dev/zero`` or opens a FIFO
fails its test, saying which, instead of taking the suite down."""

from __future__ import annotations

import json
import os
import textwrap

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QImage, QTextDocument

from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.isolated import run_python

#: A 128-pixel image that Qt's own resources hold: loaded, it would show at that size.
QRC_IMAGE = "qrc:/qt-project.org/styles/commonstyle/images/media-play-128.png"
IMAGE = QTextDocument.ResourceType.ImageResource.value
#: The size of the frame shown where an image was named.
PLACEHOLDER = [14, 14]

CHILD = """
import asyncio, json, os, pathlib, sys
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QTextDocument
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QToolTip
qapp = QApplication([])
shown = {}

# No processEvents() here: run inside a qasync callback, it can lose a task just spawned.
def grab(widget):
    widget.grab()  # lays out and paints: the moment Qt would load what the text names

def tooltip(widget):
    QToolTip.showText(QPoint(0, 0), widget.toolTip(), widget)  # laid out as it is shown
    QToolTip.hideText()

def drop(target, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    at, how = QPointF(target.rect().center()), Qt.DropAction.CopyAction
    keys = (Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, QDragEnterEvent(at.toPoint(), how, mime, *keys))
    QApplication.sendEvent(target, QDropEvent(at, how, mime, *keys))

def send(window, text):
    window.composer.edit.setFocus()
    QTest.keyClicks(window.composer.edit, text)
    QTest.keyClick(window.composer.edit, Qt.Key.Key_Return)
"""

WINDOW = """
from tests.support.gui import reply_done, running_window, screenshot, wait_for
with running_window(qapp) as (loop, window):
    async def scenario():
        await window.controller.refresh()
{body}
    loop.run_until_complete(scenario())
"""


def in_child(code: str, *, what: str, timeout_s: float = 60, cwd=None) -> dict:
    code = CHILD + textwrap.dedent(code) + "\nprint(json.dumps(shown))\n"
    out = run_python(code, timeout_s=timeout_s, what=what, cwd=cwd)
    return json.loads(out.splitlines()[-1])


def in_window(body: str, *, what: str, timeout_s: float = 90, cwd=None) -> dict:
    scenario = WINDOW.format(body=textwrap.indent(textwrap.dedent(body), " " * 8))
    return in_child(scenario, what=what, timeout_s=timeout_s, cwd=cwd)


@pytest.fixture
def pipe(tmp_path):
    """A FIFO no one writes to: whoever opens it to read waits forever."""
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


# --- the reply view ----------------------------------------------------------------------


def test_a_reply_naming_files_pipes_and_urls_loads_none_of_them(tmp_path, pipe):
    """Streamed, finished and shown again (as when its conversation opens): every image the
    reply names — /dev/zero, a FIFO, a real PNG, Qt's own resource, a relative name, a web
    address — shows the small frame, and no request leaves for the web one."""
    png = tmp_path / "photo.png"
    assert QImage(40, 30, QImage.Format.Format_RGB32).save(str(png))
    with FakeOpenAI() as web:
        urls = [
            "file:///dev/zero",
            f"file://{pipe}",
            f"file://{png}",
            QRC_IMAGE,
            "pipe",
            f"{web.base_url}/picture.png",
        ]
        reply = (
            "A picture: ![zero](file:///dev/zero)\n\n"
            + "".join(f"- ![{i}]({url}) item {i}\n" for i, url in enumerate(urls))
            + "\nThat is all."
        )
        shown = in_child(
            f"""
            from desktop_chat.gui.messages import AssistantMessage
            text, urls = {reply!r}, {urls!r}
            streamed = AssistantMessage(1)
            streamed.resize(600, 500)
            streamed.show()
            for i in range(0, len(text), 9):  # the tail re-rendered as it grows
                streamed.feed(text[i : i + 9])
                streamed.flush()
                grab(streamed)
            streamed.finish({{}}, last=True)
            grab(streamed)
            again = AssistantMessage(3)  # a conversation opened again
            again.resize(600, 500)
            again.show_text(text, {{}}, True)
            again.show()
            grab(again)
            views = [s for m in (streamed, again) for s in m.segments if hasattr(s, "document")]
            kind = QTextDocument.ResourceType.ImageResource.value
            shown["sizes"] = sorted({{(v.document().resource(kind, QUrl(u)).width(),
                                     v.document().resource(kind, QUrl(u)).height())
                                    for v in views for u in urls}})
            shown["text"] = [v.plain_text() for v in views]
        """,
            what="the reply view",
            cwd=tmp_path,
        )
    assert shown["sizes"] == [PLACEHOLDER], "every image is the placeholder, none loaded"
    assert any("That is all." in t for t in shown["text"])
    assert web.requests == [], "nothing was fetched from the web"


def test_views_and_documents_refuse_every_resource_but_the_apps_own_images(qapp, tmp_path):
    """The reply view and the documents built to render Markdown answer every URL with the
    placeholder (a real PNG, Qt's resource, the web, a relative name) and a style sheet with
    nothing; an image the app registers as its own is the one that shows."""
    from desktop_chat.gui.doc_view import DocView
    from desktop_chat.gui.untrusted import APP_IMAGES, InertDocument, placeholder

    png = tmp_path / "photo.png"
    assert QImage(40, 30, QImage.Format.Format_RGB32).save(str(png))
    view, document = DocView(), InertDocument()
    for url in [
        QUrl.fromLocalFile(str(png)),
        QUrl(QRC_IMAGE),
        QUrl("https://example.com/a.png"),
        QUrl("photo.png"),
    ]:
        for source in (view.loadResource, document.loadResource):
            image = source(IMAGE, url)
            assert isinstance(image, QImage) and image == placeholder(), url
    style = QTextDocument.ResourceType.StyleSheetResource.value
    assert view.loadResource(style, QUrl.fromLocalFile(str(png))).strip() == b""
    logo = QImage(20, 10, QImage.Format.Format_RGB32)
    APP_IMAGES["logo"] = logo
    try:
        assert view.loadResource(IMAGE, QUrl("app-image:logo")) == logo
        assert document.loadResource(IMAGE, QUrl("app-image:other")) == placeholder()
    finally:
        del APP_IMAGES["logo"]


def test_markdown_appended_block_by_block_loads_nothing(tmp_path, pipe):
    """The document each finished block is parsed into is asked for its images too (laid
    out, here): it loads neither /dev/zero nor the FIFO."""
    shown = in_child(
        f"""
        from desktop_chat.gui.doc_view import DocView
        view = DocView()
        view.resize(500, 300)
        view.show()
        view.append_markdown("![zero](file:///dev/zero)")
        view.append_markdown("![pipe](file://{pipe})")
        grab(view)
        from desktop_chat.gui import doc_view
        part = doc_view.InertDocument()
        part.setMarkdown("![zero](file:///dev/zero) ![pipe](file://{pipe})", doc_view.FEATURES)
        part.setTextWidth(400)
        shown["height"] = part.size().height()  # laid out: each image asked for
        shown["plain"] = view.plain_text()
    """,
        what="the block-by-block view",
    )
    assert shown["height"] > 0 and shown["plain"].count("\N{OBJECT REPLACEMENT CHARACTER}") == 2


# --- model names from a discovered server -------------------------------------------------


def test_a_server_listing_hostile_model_names_shows_them_as_names(tmp_path, pipe, monkeypatch):
    """A local server lists models named like HTML images of /dev/zero and of a FIFO. The
    welcome panel, the model menu, the picker and the quick prompt show the names as typed."""
    from desktop_chat.providers.discovery import SERVERS_VARIABLE

    names = ['<img src="file:///dev/zero">', f"<img src=file://{pipe}>"]
    with FakeOpenAI() as server:
        server.script = [Step(body={"data": [{"id": n} for n in names]}) for _ in range(6)]
        monkeypatch.setenv(SERVERS_VARIABLE, f"jan={server.server.server_address[1]}")
        shown = in_window(
            """
            assert window.stack.currentWidget() is window.welcome
            grab(window)
            await asyncio.sleep(0.1)
            screenshot(window, "hostile-model-names")
            shown["welcome"] = [label.text() for label in window.welcome.findChildren(QLabel)]
            buttons = window.welcome.buttons
            next(b for k, b in buttons.items() if k.startswith("jan:")).click()
            await asyncio.sleep(0.1)
            grab(window)
            menu = window.picker.menu_
            menu.popup(window.picker.mapToGlobal(window.picker.rect().bottomLeft()))
            await asyncio.sleep(0.1)
            grab(menu)
            menu.hide()
            shown["menu"] = [a.text() for a in menu.actions()]
            shown["picker"] = window.picker.text()
            from desktop_chat.gui.quick_prompt import quick_prompt_for
            quick = quick_prompt_for(window)
            quick.present()
            grab(quick)
            shown["quick"] = quick.model_label.text()
            quick.hide()
        """,
            what="the window with hostile model names",
        )
    welcome = " ".join(shown["welcome"])
    for name in names:
        assert name.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") in welcome
        assert any(text.startswith(name) for text in shown["menu"]), shown["menu"]
    assert shown["picker"].startswith(names[0]) and shown["quick"] == names[0]


# --- a server's error message --------------------------------------------------------------


HOSTILE_ERROR = '<img src="file:///dev/zero"> is not a model ![x](file:///dev/zero)'


def test_a_server_error_naming_dev_zero_is_shown_as_text(fake):
    """The error of a 400 quotes markup and Markdown naming /dev/zero: the window's banner and
    the reply's line, and the quick prompt's reply (which renders it as Markdown), show it."""
    fake.script = [Step(status=400, error=HOSTILE_ERROR), Step(status=400, error=HOSTILE_ERROR)]
    shown = in_window(
        """
        send(window, "Hello?")
        await wait_for(lambda: reply_done(window), what="the failure")
        await wait_for(lambda: window.view.items[-1].objectName() == "errorBanner")
        grab(window)
        shown["banner"] = window.view.items[-1].message.text()
        from desktop_chat.gui.quick_prompt import quick_prompt_for
        quick = quick_prompt_for(window)
        quick.present()
        QTest.keyClicks(quick.input, "Hello again?")
        QTest.keyClick(quick.input, Qt.Key.Key_Return)
        await wait_for(lambda: quick.task is not None and quick.task.done(), what="the quick reply")
        await asyncio.sleep(0.1)
        grab(quick)
        shown["quick"] = quick.reply.text
    """,
        what="the window showing a hostile error",
    )
    assert "<img src=" in shown["banner"] and "is not a model" in shown["banner"]
    assert "is not a model" in shown["quick"]


# --- file names --------------------------------------------------------------------------

#: A name a file may really have: no "/" in it, yet Qt reads it as an image of /dev/zero.
HOSTILE_NAME = "<img src=file:%2Fdev%2Fzero>.txt"


def test_hostile_file_names_show_as_names_in_chips_bubbles_banners_and_tips(fake, tmp_path):
    """A file named like an image of /dev/zero, dropped on the window: its chip, the chip's
    tooltips, the sent message's "Attached:" line; a FIFO of such a name: the banner that
    refuses it; and the quick prompt's list of attached files."""
    (tmp_path / HOSTILE_NAME).write_text("notes")
    os.mkfifo(tmp_path / f"{HOSTILE_NAME}.fifo")
    fake.script = [Step(pieces=["Noted."])]
    shown = in_window(
        f"""
        folder = pathlib.Path({str(tmp_path)!r})
        drop(window, [folder / {HOSTILE_NAME!r}, folder / {HOSTILE_NAME + ".fifo"!r}])
        await wait_for(lambda: window.files.chips, what="the chip")
        await wait_for(lambda: window.view.items, what="the refusal")
        grab(window)
        chip = window.files.chips[0]
        tooltip(chip)
        for button in chip.findChildren(type(window.code_only)):
            tooltip(button)
        shown["chip"] = chip.name
        shown["hint"] = window.view.items[-1].hint.text()
        send(window, "Read it")
        await wait_for(lambda: reply_done(window), what="the reply")
        grab(window)
        bubble = window.view.items[0]
        shown["bubble"] = [label.text() for label in bubble.findChildren(type(bubble.label))]
        from desktop_chat.gui.quick_prompt import quick_prompt_for
        quick = quick_prompt_for(window)
        quick.present()
        drop(quick, [folder / {HOSTILE_NAME!r}])
        await wait_for(lambda: quick.attached.text().startswith("Attached"), what="attached")
        grab(quick)
        shown["quick"] = quick.attached.text()
    """,
        what="the window showing a hostile file name",
    )
    assert shown["chip"] == HOSTILE_NAME
    assert shown["hint"].startswith(f"{HOSTILE_NAME}.fifo is not a regular file")
    assert f"Attached: {HOSTILE_NAME}" in shown["bubble"]
    assert shown["quick"] == f"Attached: {HOSTILE_NAME}"


# --- conversation titles and search hits ----------------------------------------------------


def test_a_title_and_a_search_hit_quoting_markup_show_as_typed(fake):
    """A question about HTML becomes the conversation's title: deleting the conversation
    shows it in the Undo bar, and a search shows the hit, markup and all, as text."""
    question = 'What does <img src="file:///dev/zero"> do?'
    fake.script = [Step(pieces=["It shows an image."])]
    shown = in_window(
        f"""
        send(window, {question!r})
        await wait_for(lambda: reply_done(window), what="the reply")
        conversation = window.controller.conversation_id
        window.sidebar.search.setText("does")
        await wait_for(lambda: window.sidebar.showing_hits and window.sidebar.list.count(),
                       what="the search hits")
        await asyncio.sleep(0.3)
        grab(window)
        item = window.sidebar.list.item(0)
        shown["hit"] = window.sidebar.list.itemWidget(item).text()
        window.sidebar.search.setText("")
        window.history.delete_conversation(conversation)
        await wait_for(lambda: window.sidebar.undo_bar.isVisible(), what="the undo bar")
        grab(window)
        shown["undo"] = window.sidebar.undo_label.text()
    """,
        what="the window showing a hostile title",
    )
    assert shown["undo"] == f"Deleted “{question}”."
    assert "&lt;img src=&quot;file:///dev/zero&quot;&gt;" in shown["hit"]
