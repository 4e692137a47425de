"""The window over a damaged database that still opens (pages in the middle of a real file
overwritten with garbage): the check after opening finds it and the window says what was kept
and where the damaged file went; a conversation that cannot be read is a banner with what to
do, the conversation on show stays, and the repaired copy is listed and opens."""

from __future__ import annotations

import asyncio
import shutil

from desktop_chat import store_files
from tests.support.damaged_db import garble, leaf_pages, unreadable_conversations, write_chats
from tests.support.gui import running_window, screenshot, wait_for

STAMP = "20260101-120000"


def _banner(window):
    items = [i for i in window.view.items if type(i).__name__ == "ErrorBanner"]
    return items[-1] if items else None


def _said(window) -> str:
    """What the window says: the welcome panel's notes, or the banner over the chat."""
    banner = _banner(window)
    shown = [window.welcome.notes.text() if window.welcome.notes.isVisible() else ""]
    if banner is not None:
        shown += [banner.message.text(), banner.hint.text()]
    return "\n".join(shown)


async def _repaired(window) -> None:
    """Wait until the window says the repair is done (the hint while it runs says "kept
    aside")."""
    await wait_for(lambda: "the damaged file is kept as" in _said(window), what="the repair said")


async def _banner_shown(window) -> None:
    await wait_for(
        lambda: _banner(window) is not None and _banner(window).isVisible(),
        what="the banner on screen",
    )


def _titles(window) -> list[str]:
    lst = window.sidebar.list
    return [lst.item(i).text() for i in range(lst.count())]


async def _click(window, conversation_id: int) -> None:
    """Click a conversation in the sidebar ("Chat 0" is the first one written), and let the
    open run."""
    lst = window.sidebar.list
    title = f"Chat {conversation_id - 1}"
    (item,) = [lst.item(i) for i in range(lst.count()) if lst.item(i).text() == title]
    lst.itemClicked.emit(item)
    await asyncio.sleep(0.2)


def test_the_window_finds_a_damaged_file_after_opening_and_says_where_it_went(
    qapp, fake, _isolated_home, monkeypatch
):
    monkeypatch.setattr(store_files.time, "strftime", lambda fmt: STAMP)
    monkeypatch.setattr("desktop_chat.store_repair.CHECK_AFTER_S", 0.5)  # a real start: 5 s
    path = _isolated_home / "data" / "conversations.sqlite3"
    path.parent.mkdir()
    counts = write_chats(path)
    garble(path, "messages", pages=2)
    (bad,) = unreadable_conversations(path)
    with running_window(qapp) as (loop, window):
        c = window.controller

        async def scenario():
            await c.refresh()
            await _repaired(window)

        loop.run_until_complete(scenario())
        aside = path.with_name(f"{path.name}.damaged-{STAMP}")
        said = _said(window)
        assert f"the damaged file is kept as {aside}" in said
        assert "12 conversations" in said and "Nothing needs doing" in said
        assert aside.is_file() and path.is_file()
        assert sorted(_titles(window)) == sorted(f"Chat {n}" for n in range(len(counts)))
        screenshot(window, "store-damaged-found-after-opening")
        loop.run_until_complete(_click(window, bad))
        assert c.conversation_id == bad
        assert 0 < len(c.conversation.messages) < counts[bad]
        assert unreadable_conversations(path) == []


def test_a_conversation_that_cannot_be_read_is_a_banner_and_the_file_is_repaired(
    qapp, fake, _isolated_home, tmp_path
):
    path = _isolated_home / "data" / "conversations.sqlite3"
    path.parent.mkdir()
    counts = write_chats(path)
    probe = tmp_path / "probe.sqlite3"  # which chat the damage will hit (it is repeatable)
    shutil.copy(path, probe)
    garble(probe, "messages", pages=2)
    (bad,) = unreadable_conversations(probe)
    good = next(conv for conv in counts if conv != bad)
    with running_window(qapp) as (loop, window):
        c = window.controller
        said = []
        c.notice.connect(lambda message, hint: said.append(message))

        async def scenario():
            await c.refresh()
            c.store.checked()
            assert c.store.notes == []  # sound when the window opened
            await _click(window, good)
            assert c.conversation_id == good
            assert len(c.conversation.messages) == counts[good]
            # The disk damages the file while the app runs, in pages SQLite no longer holds
            # in its cache (a long history does not fit in it).
            garble(path, "messages", pages=2)
            c.store.db.execute("PRAGMA shrink_memory")
            with c.store._lock:  # the repair waits while the banner is looked at
                await _click(window, bad)
                await wait_for(lambda: _banner(window), what="a banner")
                banner = _banner(window)
                assert banner.message.text() == (
                    "Could not read the conversation database: the file is damaged."
                )
                assert "copies what can still be read into a new file" in banner.hint.text()
                assert len(c.conversation.messages) == counts[good], "the chat on show stays"
                screenshot(window, "store-read-damaged")
            await _repaired(window)
            await _banner_shown(window)
            screenshot(window, "store-read-damaged-repaired")
            await _click(window, bad)
            assert c.conversation_id == bad
            assert 0 < len(c.conversation.messages) < counts[bad]

        loop.run_until_complete(scenario())
        assert said[0].startswith("Could not read") and "was damaged" in said[-1]
        assert sorted(_titles(window)) == sorted(f"Chat {n}" for n in range(len(counts)))
    assert [p.name for p in path.parent.iterdir() if ".damaged-" in p.name]
    assert unreadable_conversations(path) == []


def _overwrite(path, table: str) -> None:
    """Every leaf page of ``table`` overwritten with garbage (the app running)."""
    size, pages = leaf_pages(path, table)
    with open(path, "r+b") as f:
        for page in pages:
            f.seek((page - 1) * size)
            f.write(b"\xa5" * size)


def test_the_list_and_search_the_store_cannot_read_are_banners_and_come_back_repaired(
    qapp, qtbot, fake, _isolated_home
):
    """The conversations' own rows and the search index damaged while the app runs: ⌘N still
    starts a chat, the sidebar keeps its list and says why, a search says why; once repaired
    every chat is listed again (under "Recovered conversation", its title lost) and search
    finds words."""
    from PySide6.QtCore import Qt

    path = _isolated_home / "data" / "conversations.sqlite3"
    path.parent.mkdir()
    counts = write_chats(path)
    with running_window(qapp) as (loop, window):
        c = window.controller

        async def scenario():
            await c.refresh()
            c.store.checked()
            await _click(window, min(counts))
            _overwrite(path, "conversations")
            _overwrite(path, "messages_fts_data")
            c.store.db.execute("PRAGMA shrink_memory")
            with c.store._lock:  # the repair waits while the banners are looked at
                qtbot.keyClick(
                    window.composer.edit, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier
                )
                await wait_for(lambda: c.conversation_id is None, what="a new chat")
                window.history.refresh_sidebar()
                assert "Could not read the conversation database" in _said(window)
                assert len(_titles(window)) == len(counts), "the list stays as it was"
                window.sidebar.search.clear()
                qtbot.keyClicks(window.sidebar.search, "robot")
                assert "Could not read the conversation database" in _said(window)
                await _banner_shown(window)
                screenshot(window, "store-search-damaged")
            await _repaired(window)
            window.sidebar.search.clear()
            assert _titles(window) == ["Recovered conversation"] * len(counts)
            qtbot.keyClicks(window.sidebar.search, "robot")
            assert window.sidebar.showing_hits and window.sidebar.list.count() > 0
            await _banner_shown(window)
            screenshot(window, "store-search-repaired")

        loop.run_until_complete(scenario())
