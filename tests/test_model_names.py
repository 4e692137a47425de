"""A model a server knows by its folder's path (``mlx_lm.server --model /path/to/tiny-chat``),
or a model downloaded into the Hugging Face cache (a snapshot folder named by a hash), is
shown by its name: on the reply's line, in the picker, in the store and in exports."""

from __future__ import annotations

import pytest

from desktop_chat.gui.window_history import exported_as
from desktop_chat.model_names import model_name
from tests.support.fake_openai import FakeOpenAI, Step
from tests.support.gui import reply_done, running_window, type_and_send, wait_for
from tests.support.settings import write_config

SNAPSHOT = (
    "/Users/me/.cache/huggingface/hub/models--mlx-community--Llama-3.2-1B-Instruct-4bit"
    "/snapshots/0123456789abcdef0123456789abcdef01234567"
)
SERVED = "/srv/models/tiny-chat"


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (SERVED, "tiny-chat"),
        (SERVED + "/", "tiny-chat"),
        (SNAPSHOT, "mlx-community/Llama-3.2-1B-Instruct-4bit"),
        ("~/models/Qwen2.5-0.5B-Instruct-4bit", "Qwen2.5-0.5B-Instruct-4bit"),
        ("mlx-community/Llama-3.2-1B-Instruct-4bit", "mlx-community/Llama-3.2-1B-Instruct-4bit"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("llama3:8b", "llama3:8b"),
    ],
)
def test_a_model_is_named_by_its_folder_or_repo(model, name):
    assert model_name(model) == name


def test_a_model_named_by_a_path_is_labelled_by_its_name(_isolated_home):
    """Chosen by its provider and path (as settings remember it), the choice's label is the
    folder's name; an alias keeps its own."""
    from desktop_chat import catalog
    from desktop_chat.config import load_settings
    from desktop_chat.paths import app_paths

    write_config(
        _isolated_home,
        f"""
[providers.box]
base_url = "http://127.0.0.1:9/v1"
models = ["{SERVED}"]
[aliases]
small = "box:{SERVED}"
""",
    )
    settings = load_settings(app_paths()).settings
    assert catalog.pick([], f"box:{SERVED}", settings).label == "tiny-chat"
    assert catalog.pick([], "small", settings).label == "small"
    assert [c.label for c in catalog.build(settings)] == ["tiny-chat"]


@pytest.mark.slow
def test_the_reply_line_names_a_model_served_by_path(qapp, qtbot, _isolated_home):
    """A server that knows its model by a path: the reply's line, a reply cut off mid-way,
    the stored row and the Markdown export say "tiny-chat", never the path."""
    with FakeOpenAI() as fake:
        write_config(
            _isolated_home,
            f"""
default_model = "box:{SERVED}"
[providers.box]
base_url = "{fake.base_url}"
models = ["{SERVED}"]
""",
        )
        fake.script = [
            Step(pieces=["The capital ", "is Paris."]),
            Step(pieces=["Half of "], ending="cut"),
        ]
        with running_window(qapp) as (loop, window):

            async def scenario():
                await window.controller.refresh()
                type_and_send(qtbot, window, "What is the capital of France?")
                await wait_for(lambda: reply_done(window), what="the reply")
                type_and_send(qtbot, window, "And of Spain?")
                await wait_for(lambda: reply_done(window), what="the cut reply")

            loop.run_until_complete(scenario())
            done, cut = (r.stats.text() for r in window.view.replies())
            conversation = window.controller.conversation_id
            stored = window.controller.store.branch(conversation)
            exported = window.controller.with_store(exported_as, conversation, "md")[1]
            picker = window.picker.text()
    assert fake.requests[-1]["body"]["model"] == SERVED, "the server is still asked by its id"
    assert done.startswith("tiny-chat · ") and "tok/s" in done, done
    assert cut.startswith("tiny-chat · "), cut
    assert picker.startswith("tiny-chat")
    assert {m.model for m in stored if m.role == "assistant"} == {"tiny-chat"}
    assert SERVED not in exported


@pytest.mark.slow
def test_a_downloaded_model_is_named_by_its_repo(tiny_model_dir, tmp_path):
    """The engine loading a model from its Hugging Face snapshot folder names it by the repo,
    not by the snapshot's hash."""
    import shutil

    from desktop_chat.engine import MlxEngine

    snapshot = tmp_path / "hub" / "models--mlx-community--tiny-chat" / "snapshots" / ("ab" * 20)
    shutil.copytree(tiny_model_dir, snapshot)
    engine = MlxEngine().start()
    try:
        info = engine.load(snapshot).result(60)
    finally:
        engine.shutdown()
    assert info.name == "mlx-community/tiny-chat"
