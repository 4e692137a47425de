"""The local conversations' prompt caches as the user meets them (issue 17): the reply's line
says how much of the prompt came from the cache, Settings shows the disk the caches take and
clears them, a chat deleted for good takes its caches with it, and a quantized KV cache is said
beside the model. Real window offscreen, the real engine on its QThread, the tiny model, real
cache files written by the engine."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QTabWidget

from desktop_chat.events import Finished, Usage
from desktop_chat.prompt_caches import FOLDER, SUFFIX, PromptCaches
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for
from tests.support.settings import write_config

CONFIG = "[defaults]\ntemperature = 0.0\nmax_tokens = 24\n"
CACHED = re.compile(r"([\d,]+) of ([\d,]+) prompt tokens cached")


def cache_folder(home):
    return home / "cache" / FOLDER


def cache_files(home) -> list:
    return sorted(p for p in cache_folder(home).glob(f"*/*{SUFFIX}"))


@pytest.fixture(params=["light", "dark"])
def appearance(request, qapp):
    """Each look in both appearances (the system's palette, as macOS sets it)."""
    from tests.test_theme_colours import dark_palette

    light = QApplication.palette()
    if request.param == "dark":
        QApplication.setPalette(dark_palette())
    yield request.param
    QApplication.setPalette(light)
    QApplication.processEvents()


def saved_by_an_engine(home, model_dir, *keys: str) -> None:
    """Caches saved for conversations ``keys`` by an engine of an earlier session."""
    from desktop_chat.engine import MlxEngine
    from desktop_chat.params import GenerationParams

    engine = MlxEngine(PromptCaches(cache_folder(home))).start()
    try:
        engine.load(model_dir).result(120)
        for key in keys:
            question = [{"role": "user", "content": f"Tell me a story about {key}."}]
            params = GenerationParams(temperature=0.0, max_tokens=8)
            stop = threading.Event()
            engine.generate(question, params, lambda _e: None, stop, None, key).result(120)
            engine.submit(lambda: None).result(120)  # the save queued after the reply
    finally:
        engine.shutdown()


async def saved(engine) -> None:
    """The engine's save, queued after the reply, has run."""
    await asyncio.wrap_future(engine.submit(lambda: None))


# --- the reply's line --------------------------------------------------------------------


def test_the_stats_line_says_how_many_prompt_tokens_came_from_the_cache():
    from desktop_chat.cli.reply_view import figures
    from desktop_chat.gui.messages import stats_line

    meta = {
        "model": "m",
        "ttft_s": 0.2,
        "usage": {"prompt_tokens": 4020, "completion_tokens": 12},
        "cached_prompt_tokens": 3912,
    }
    assert stats_line(meta) == (
        "m · 0.20 s first token · 12 tokens · 3,912 of 4,020 prompt tokens cached"
    )
    assert "cached" not in stats_line({**meta, "cached_prompt_tokens": 0})
    assert "cached" not in stats_line(
        {k: v for k, v in meta.items() if k != "cached_prompt_tokens"}
    )
    # llmchat's figures line says it the same way.
    finished = Finished(
        "stop", Usage(4020, 12), 0.2, 40.0, 1.5, "m", "mlx", {"cached_prompt_tokens": 3912}
    )
    assert (
        figures(finished) == "1.50 s · 40.0 tok/s · 12 tokens · 3,912 of 4,020 prompt tokens cached"
    )
    assert figures(Finished("stop", Usage(20, 12), 0.2, 40.0, 1.5, "m", "mlx")) == (
        "1.50 s · 40.0 tok/s · 12 tokens"
    )


@pytest.mark.slow
def test_a_second_local_turn_says_its_prompt_came_from_the_cache(
    qapp, qtbot, tiny_model_dir, _isolated_home, appearance
):
    from desktop_chat.models import local_choice

    write_config(_isolated_home, CONFIG)
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_model_dir))
            type_and_send(qtbot, window, "What is the capital of France?")
            await wait_for(lambda: reply_done(window), what="the first reply")
            type_and_send(qtbot, window, "Say hello.")
            await wait_for(lambda: reply_done(window), what="the second reply")
            await saved(controller.models.engine)

        loop.run_until_complete(scenario())
        first, second = (r.stats.text() for r in window.view.replies())
        assert "cached" not in first, "nothing was read before the first question"
        match = CACHED.search(second)
        assert match, second
        reply = controller.conversation.messages[-1]
        cached, prompt = (int(g.replace(",", "")) for g in match.groups())
        assert (cached, prompt) == (
            reply.meta["cached_prompt_tokens"],
            reply.meta["usage"]["prompt_tokens"],
        )
        assert 0 < cached < prompt
        screenshot(window, f"prompt-cache-stats-{appearance}")
        # Shown again when the chat reopens: the figure is kept with the reply.
        conversation = controller.conversation_id
        loop.run_until_complete(controller.open_conversation(conversation))
        assert CACHED.search(window.view.replies()[-1].stats.text()).groups() == match.groups()
        assert [p.name for p in cache_files(_isolated_home)] == [f"{conversation}{SUFFIX}"]


# --- Settings ----------------------------------------------------------------------------


def open_app_tab(window):
    window.open_settings()
    dialog = window.dialog
    dialog.findChild(QTabWidget).setCurrentIndex(2)
    return dialog


@pytest.mark.slow
def test_settings_show_the_disk_the_caches_take_and_clear_them_without_an_engine(
    qapp, tiny_model_dir, _isolated_home, appearance
):
    saved_by_an_engine(_isolated_home, tiny_model_dir, "1", "2")
    files = cache_files(_isolated_home)
    assert len(files) == 2
    size = sum(p.stat().st_size for p in files)
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        dialog = open_app_tab(window)
        used = loop.run_until_complete(dialog.cache_task)
        assert used == size
        assert dialog.cache_usage.text() == f"{max(size / 2**20, 1):.0f} MB on disk, of up to 4 GB"
        assert dialog.clear_caches.isEnabled()
        screenshot(dialog, f"settings-prompt-caches-{appearance}")
        dialog.clear_caches.click()
        assert loop.run_until_complete(dialog.cache_task) is True
        assert dialog.cache_usage.text() == "None on disk"
        assert not dialog.clear_caches.isEnabled()
        assert cache_files(_isolated_home) == []
        assert window.controller.models.engine is None, "no engine was started for them"


def test_a_cache_that_cannot_be_removed_is_said_in_a_sentence(qapp, _isolated_home):
    """Clear meets something it cannot remove (here a folder where a file should be): the
    dialog says what happened and what to do; the rest is removed, nothing is raised."""
    model = cache_folder(_isolated_home) / "model"
    (model / f"3{SUFFIX}").mkdir(parents=True)
    others = [model / f"{n}{SUFFIX}" for n in range(4, 14)]
    for path in others:
        path.write_bytes(b"k" * 4096)
    with running_window(qapp) as (loop, window):
        dialog = open_app_tab(window)
        assert loop.run_until_complete(dialog.cache_task) > 0
        dialog.clear_caches.click()
        assert loop.run_until_complete(dialog.cache_task) is False
        error = dialog.error.text()
        assert error.startswith("Some prompt caches could not be removed (")
        assert f"{cache_folder(_isolated_home)} can be written to, then try again." in error
        assert "Traceback" not in error
        assert dialog.clear_caches.isEnabled(), "what is left can be cleared again"
    assert not any(p.exists() for p in others), "the others were removed all the same"


@pytest.mark.slow
def test_clear_in_settings_empties_the_running_engines_memory_too(
    qapp, qtbot, tiny_model_dir, _isolated_home
):
    from desktop_chat.models import local_choice

    write_config(_isolated_home, CONFIG)
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def ask(question: str) -> None:
            type_and_send(qtbot, window, question)
            await wait_for(lambda: reply_done(window), what="the reply")
            await saved(controller.models.engine)

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_model_dir))
            await ask("What is the capital of France?")

        loop.run_until_complete(scenario())
        engine = controller.models.engine
        assert cache_files(_isolated_home) and engine.caches.memory_used() > 0
        dialog = open_app_tab(window)
        assert loop.run_until_complete(dialog.cache_task) > 0
        dialog.clear_caches.click()
        assert loop.run_until_complete(dialog.cache_task) is True
        assert cache_files(_isolated_home) == []
        assert engine.caches.memory_used() == 0
        dialog.reject()
        # Nothing is left to reuse: the next turn reads its whole prompt again.
        loop.run_until_complete(ask("Say hello."))
        assert controller.conversation.messages[-1].meta["cached_prompt_tokens"] == 0
        assert "cached" not in window.view.replies()[-1].stats.text()


# --- a chat deleted for good -------------------------------------------------------------


@pytest.mark.slow
def test_a_chat_deleted_for_good_takes_its_caches_from_the_running_engine(
    qapp, qtbot, tiny_model_dir, _isolated_home, monkeypatch
):
    import desktop_chat.store as store_module
    from desktop_chat.models import local_choice

    monkeypatch.setattr(store_module, "UNDO_S", 0.3)  # the Undo bar's time, shortened
    write_config(_isolated_home, CONFIG)
    with running_window(qapp) as (loop, window):
        controller = window.controller
        ids = []

        async def chat(question: str) -> None:
            controller.new_chat()
            type_and_send(qtbot, window, question)
            await wait_for(lambda: reply_done(window), what="the reply")
            await saved(controller.models.engine)
            ids.append(controller.conversation_id)

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_model_dir))
            await chat("What is the capital of France?")
            await chat("Say hello.")

        loop.run_until_complete(scenario())
        kept, deleted = ids
        engine = controller.models.engine
        both = engine.caches.memory_used()
        assert [p.stem for p in cache_files(_isolated_home)] == sorted([str(kept), str(deleted)])
        window.history.delete_conversation(deleted)
        loop.run_until_complete(asyncio.sleep(0.1))
        assert len(cache_files(_isolated_home)) == 2, "kept while Undo can bring it back"
        loop.run_until_complete(
            wait_for(lambda: len(cache_files(_isolated_home)) == 1, 10, "the caches removed")
        )
        assert [p.stem for p in cache_files(_isolated_home)] == [str(kept)]
        assert 0 < engine.caches.memory_used() < both, "its cache left the engine's memory"


@pytest.mark.slow
def test_a_chat_deleted_while_no_engine_runs_has_its_files_removed(
    qapp, tiny_model_dir, _isolated_home, monkeypatch
):
    import desktop_chat.store as store_module
    from desktop_chat.store import Store

    monkeypatch.setattr(store_module, "UNDO_S", 0.3)
    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    kept, deleted = (store.new_conversation(title) for title in ("Kept", "Deleted"))
    for conversation in (kept, deleted):
        store.add_message(conversation, "user", "Tell me a story.")
    store.close()
    saved_by_an_engine(_isolated_home, tiny_model_dir, str(kept), str(deleted))
    with running_window(qapp) as (loop, window):
        loop.run_until_complete(window.controller.refresh())
        window.history.delete_conversation(deleted)
        loop.run_until_complete(
            wait_for(lambda: len(cache_files(_isolated_home)) == 1, 10, "the file removed")
        )
        assert [p.stem for p in cache_files(_isolated_home)] == [str(kept)]
        assert window.controller.models.engine is None


@pytest.mark.slow
def test_at_startup_the_caches_of_chats_no_longer_in_the_store_are_removed(
    qapp, tiny_model_dir, _isolated_home, monkeypatch
):
    """A copy of the app quit within Undo's time: the next start purges the chat from the
    store, and its caches go with it; other caches (an API caller's, a living chat's) stay."""
    from desktop_chat.gui import prompt_cache_files
    from desktop_chat.store import Store

    database = _isolated_home / "data" / "conversations.sqlite3"
    store = Store.open(database)
    kept, deleted = (store.new_conversation(title) for title in ("Kept", "Deleted"))
    store.delete_conversation(deleted)
    store.close()
    saved_by_an_engine(_isolated_home, tiny_model_dir, str(kept), str(deleted), "my-script")
    assert len(cache_files(_isolated_home)) == 3
    monkeypatch.setattr("desktop_chat.store.UNDO_S", 0.0)  # its Undo bar ran out long ago
    with running_window(qapp) as (loop, window):
        controller = window.controller
        # What app startup spawns beside the look for models.
        gone = loop.run_until_complete(prompt_cache_files.tidy(controller.models, controller.store))
    assert gone == 1
    names = [p.stem for p in cache_files(_isolated_home)]
    assert str(deleted) not in names and str(kept) in names and len(names) == 2


@pytest.mark.slow
def test_the_app_started_removes_the_caches_of_chats_deleted_in_an_earlier_session(
    tiny_model_dir, _isolated_home
):
    """The real app under Xvfb: a chat deleted by a copy that quit within Undo's time is
    purged at the next start, and its cache file goes too; a living chat's stays."""
    import time

    from desktop_chat.store import Store
    from tests.support.xvfb import desktop_chat_on_x

    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    kept, deleted = (store.new_conversation(title) for title in ("Kept", "Deleted"))
    store.delete_conversation(deleted)
    # Deleted a minute ago, by a copy that quit before its Undo bar ran out.
    store.db.execute("UPDATE conversations SET deleted = deleted - 60 WHERE id = ?", (deleted,))
    store.close()
    saved_by_an_engine(_isolated_home, tiny_model_dir, str(kept), str(deleted))
    with desktop_chat_on_x() as app:
        deadline = time.monotonic() + 30
        while len(cache_files(_isolated_home)) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        names = [p.stem for p in cache_files(_isolated_home)]
        app.xdo("windowfocus", "--sync", app.window)
        app.xdo("key", "ctrl+w")
        assert app.proc.wait(15) == 0, app.output()
    assert names == [str(kept)], app.output()


def test_a_store_for_this_session_only_removes_no_cache(qapp, tmp_path, _isolated_home):
    """The database could not be used (in memory this time): its missing chats are not the
    file's, and no cache is removed for them."""
    from desktop_chat.gui import prompt_cache_files
    from desktop_chat.gui.model_host import ModelHost
    from desktop_chat.paths import app_paths
    from desktop_chat.store import Store

    models = ModelHost(app_paths())
    folder = cache_folder(_isolated_home) / "model"
    folder.mkdir(parents=True)
    (folder / f"7{SUFFIX}").write_bytes(b"a cache")
    (tmp_path / "data").write_text("a file where the data folder goes")
    store = Store.open_anyway(tmp_path / "data" / "c.db")
    try:
        assert not store.saved
        assert asyncio.run(prompt_cache_files.tidy(models, store)) == 0
    finally:
        store.close()
    assert (folder / f"7{SUFFIX}").exists()


# --- a quantized KV cache ----------------------------------------------------------------


@pytest.mark.slow
def test_a_quantized_kv_cache_is_said_beside_the_local_model_and_in_settings(
    qapp, tiny_model_dir, _isolated_home
):
    from desktop_chat.models import local_choice

    write_config(_isolated_home, "[app]\nkv_bits = 8\n\n" + CONFIG)
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_model_dir))

        loop.run_until_complete(scenario())
        assert controller.models.engine.kv_bits == 8
        assert window.picker.text() == f"{tiny_model_dir.name} · local · 8-bit KV cache"
        assert "8 bits" in window.picker.toolTip() and "less memory" in window.picker.toolTip()
        screenshot(window, "kv-bits-picker")
        dialog = open_app_tab(window)
        assert dialog.findChild(QLabel, "kvBits").text().startswith("8-bit KV cache")
        loop.run_until_complete(dialog.cache_task)
        screenshot(dialog, "settings-kv-bits")


@pytest.mark.slow
def test_a_full_precision_kv_cache_is_not_mentioned(qapp, tiny_model_dir, _isolated_home):
    from desktop_chat.models import local_choice

    write_config(_isolated_home, CONFIG)
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def scenario():
            await controller.refresh()
            await controller.choose(local_choice(tiny_model_dir))

        loop.run_until_complete(scenario())
        assert window.picker.text() == f"{tiny_model_dir.name} · local"
        assert window.picker.toolTip() == ""
        dialog = open_app_tab(window)
        assert dialog.findChild(QLabel, "kvBits") is None
        loop.run_until_complete(dialog.cache_task)
