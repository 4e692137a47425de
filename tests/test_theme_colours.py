"""Links and placeholders stay readable in both appearances: the palette's link and
placeholder colours are the app's own for light and dark, replies already on screen take the
new link colour when the appearance switches, and the search field's placeholder follows."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtGui import QColor, QPalette

from tests.support.fake_openai import Step
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for

pytestmark = pytest.mark.slow

LINK_REPLY = ["Read ", "[the docs](https://docs.python.org/3/)", " first.\n\n", "Then ask."]


def dark_palette() -> QPalette:
    """What macOS gives a dark appearance, as far as the window is concerned (no link or
    placeholder colour of its own: Qt's defaults, dark blue and half-black, stay)."""
    dark = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#1e1e1e"),
        (QPalette.ColorRole.WindowText, "#eeeeee"),
        (QPalette.ColorRole.Base, "#262626"),
        (QPalette.ColorRole.Text, "#eeeeee"),
        (QPalette.ColorRole.Button, "#2d2d2d"),
        (QPalette.ColorRole.ButtonText, "#eeeeee"),
    ):
        dark.setColor(role, QColor(colour))
    return dark


def link_colours(window) -> set[str]:
    """The colour of every link in the replies on show."""
    colours = set()
    for reply in window.view.replies():
        for view in (s for s in reply.segments if hasattr(s, "document")):
            block = view.document().begin()
            while block.isValid():
                it = block.begin()
                while not it.atEnd():
                    fmt = it.fragment().charFormat()
                    if fmt.isAnchor():
                        colours.add(fmt.foreground().color().name())
                    it += 1
                block = block.next()
    return colours


def placeholder(widget) -> str:
    return widget.palette().color(QPalette.ColorRole.PlaceholderText).name()


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours."""

    def luminance(colour: str) -> float:
        c = QColor(colour)
        channels = [v / 255 for v in (c.red(), c.green(), c.blue())]
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_links_and_placeholders_follow_light_and_dark(qapp, qtbot, fake):
    from desktop_chat.gui import theme

    light = qapp.palette()
    fake.script = [Step(pieces=LINK_REPLY), Step(pieces=LINK_REPLY)]
    seen = {}
    try:
        with running_window(qapp) as (loop, window):
            search, composer = window.sidebar.search, window.composer.edit

            async def scenario():
                await window.controller.refresh()
                type_and_send(qtbot, window, "Where do I start?")
                await wait_for(lambda: reply_done(window), what="the reply")
                seen["light"] = link_colours(window), placeholder(search), placeholder(composer)
                qapp.setPalette(dark_palette())  # what macOS does when the appearance changes
                await asyncio.sleep(0.2)
                seen["switched"] = link_colours(window), placeholder(search), placeholder(composer)
                type_and_send(qtbot, window, "And then?")  # a reply parsed in dark
                await wait_for(lambda: reply_done(window), what="the second reply")
                await asyncio.sleep(0.1)
                seen["dark"] = link_colours(window)
                screenshot(window, "dark-links")
                qapp.setPalette(light)
                await asyncio.sleep(0.2)
                seen["back"] = link_colours(window), placeholder(search)

            loop.run_until_complete(scenario())
    finally:
        qapp.setPalette(light)
    assert seen["light"] == ({theme.LIGHT.link}, theme.LIGHT.placeholder, theme.LIGHT.placeholder)
    assert seen["switched"] == ({theme.DARK.link}, theme.DARK.placeholder, theme.DARK.placeholder)
    assert seen["dark"] == {theme.DARK.link}
    assert seen["back"] == ({theme.LIGHT.link}, theme.LIGHT.placeholder)
    # Readable: a link as text on its background, a placeholder as a hint (WCAG 4.5 and 3).
    assert contrast(theme.DARK.link, "#1e1e1e") >= 4.5
    assert contrast(theme.LIGHT.link, "#ffffff") >= 4.5
    assert contrast(theme.DARK.placeholder, "#262626") >= 3
    assert contrast(theme.LIGHT.placeholder, "#ffffff") >= 3
