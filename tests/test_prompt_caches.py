"""Each local conversation's prompt cache, kept in memory and on disk (issue 17): the real
engine on the tiny model, real files, a second process for the restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from desktop_chat.engine import MlxEngine
from desktop_chat.events import Finished
from desktop_chat.params import GenerationParams
from desktop_chat.prompt_caches import TEMPORARY, PromptCaches

pytestmark = pytest.mark.slow
GREEDY = GenerationParams(temperature=0.0, max_tokens=24)
LONG = "Tell me about the history of the river and the town that grew beside it. " * 12


def ask(engine, messages, key):
    events, stop = [], threading.Event()
    assert engine.generate(messages, GREEDY, events.append, stop, None, key).result(120) is None
    finished = [e for e in events if isinstance(e, Finished)][-1]
    reply = "".join(getattr(e, "text", "") for e in events if type(e).__name__ == "TextDelta")
    return reply, finished


def cached(finished) -> int:
    return finished.extra["cached_prompt_tokens"]


def turn(messages, reply, question):
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": question},
    ]


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "prompt-caches"


@pytest.fixture
def engines(folder):
    made = []

    def make(**pool):
        engine = MlxEngine(PromptCaches(folder, **pool)).start()
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.shutdown()


def _saved(engine) -> None:
    engine.submit(lambda: None).result(60)  # the save queued after the reply has run


def test_a_new_engine_reads_only_the_new_tokens_of_a_saved_conversation(engines, tiny_model_dir):
    first = engines()
    first.load(tiny_model_dir).result(120)
    messages = [{"role": "user", "content": LONG}]
    reply, done = ask(first, messages, "7")
    _saved(first)
    held = done.usage.prompt_tokens + done.usage.completion_tokens
    first.shutdown()

    again = engines()  # a restart: nothing in memory
    again.load(tiny_model_dir).result(120)
    _, done = ask(again, turn(messages, reply, "And then?"), "7")
    # All that the first reply left in the cache is reused (less the template's tokens that
    # close the reply differently); only the new question is read.
    assert cached(done) >= done.usage.prompt_tokens - 40
    assert cached(done) >= held - 30
    # Another conversation shares at most the template's first tokens (from a copy: the
    # first conversation's own cache is still whole afterwards).
    _, other = ask(again, [{"role": "user", "content": "Something else entirely."}], "8")
    assert cached(other) <= 5
    reply, done = ask(again, turn(messages, reply, "And then?"), "7")
    assert cached(done) >= done.usage.prompt_tokens - 2


def test_a_restarted_process_continues_from_the_file(folder, tiny_model_dir):
    script = textwrap.dedent(
        """
        import json, sys, threading
        from pathlib import Path
        from desktop_chat.engine import MlxEngine
        from desktop_chat.events import Finished
        from desktop_chat.params import GenerationParams
        from desktop_chat.prompt_caches import PromptCaches

        folder, model, messages = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
        engine = MlxEngine(PromptCaches(folder)).start()
        engine.load(model).result(120)
        events = []
        params = GenerationParams(temperature=0.0, max_tokens=24)
        engine.generate(messages, params, events.append, threading.Event(), None, "42").result()
        engine.submit(lambda: None).result()
        done = [e for e in events if isinstance(e, Finished)][-1]
        text = "".join(e.text for e in events if type(e).__name__ == "TextDelta")
        print(json.dumps([text, done.extra["cached_prompt_tokens"], done.usage.prompt_tokens]))
        engine.shutdown()
        """
    )

    def run(messages):
        out = subprocess.run(
            [sys.executable, "-c", script, str(folder), str(tiny_model_dir), json.dumps(messages)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    messages = [{"role": "user", "content": LONG}]
    reply, cached_first, prompt_first = run(messages)
    assert cached_first == 0
    _, cached_again, prompt_again = run(turn(messages, reply, "And then?"))
    assert cached_again >= prompt_first - 5
    assert prompt_again - cached_again < prompt_again // 3  # the new part only


def test_another_model_never_uses_the_cache(
    engines, folder, tiny_model_dir, tiny_thinking_model_dir
):
    engine = engines()
    engine.load(tiny_model_dir).result(120)
    messages = [{"role": "user", "content": LONG}]
    reply, _ = ask(engine, messages, "5")
    _saved(engine)
    engine.load(tiny_thinking_model_dir).result(120)
    _, done = ask(engine, turn(messages, reply, "And then?"), "5")
    assert cached(done) == 0
    _saved(engine)
    # Each model keeps its own file for the conversation.
    assert len(list(folder.glob("*/5.safetensors"))) == 2


def test_switching_conversations_swaps_their_caches(engines, tiny_model_dir):
    engine = engines()
    engine.load(tiny_model_dir).result(120)
    chats = {
        key: [{"role": "user", "content": f"Conversation {key}: {LONG}"}] for key in ("1", "2", "3")
    }
    for key, messages in chats.items():
        reply, _ = ask(engine, messages, key)
        chats[key] = turn(messages, reply, "Go on.")
    for key, messages in chats.items():  # each again, after the others
        _, done = ask(engine, messages, key)
        assert cached(done) >= done.usage.prompt_tokens - 40, key


def test_an_edited_earlier_message_trims_to_what_is_still_the_same(engines, tiny_model_dir):
    engine = engines()
    engine.load(tiny_model_dir).result(120)
    messages = [{"role": "user", "content": LONG}]
    reply, first = ask(engine, messages, "9")
    longer = turn(messages, reply, "And then?")
    _, second = ask(engine, longer, "9")
    assert cached(second) > first.usage.prompt_tokens
    edited = [{"role": "user", "content": LONG[: len(LONG) // 2] + " Only the bridge, please."}]
    _, done = ask(engine, edited, "9")
    assert 0 < cached(done) < first.usage.prompt_tokens  # the common start, not the rest
    assert done.usage.prompt_tokens - cached(done) > 5


def test_a_damaged_cache_file_is_removed_and_never_loaded(engines, folder, tiny_model_dir):
    engine = engines()
    engine.load(tiny_model_dir).result(120)
    messages = [{"role": "user", "content": LONG}]
    reply, _ = ask(engine, messages, "3")
    _saved(engine)
    engine.shutdown()
    (path,) = folder.glob("*/3.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut short, as by a full disk

    again = engines()
    again.load(tiny_model_dir).result(120)
    text, done = ask(again, turn(messages, reply, "And then?"), "3")
    assert cached(done) == 0 and text  # answered from scratch
    _saved(again)
    assert path.is_file() and path.stat().st_size > len(data) // 2  # replaced by a whole one

    # A file that loads but holds other tokens than it says: removed too.
    again.caches.drop()
    fingerprint = again._loaded.fingerprint
    held = again.submit(lambda: again.caches._load(fingerprint, "3")).result()
    assert held is not None and held.tokens  # loads, whole
    # The same file under a metadata that does not match the tokens it holds: removed.
    _rewrite_tokens(again, path, held.tokens[::-1][:-1])
    assert again.submit(lambda: again.caches._load(fingerprint, "3")).result() is None
    assert not path.exists()


def _rewrite_tokens(engine, path, tokens) -> None:
    def rewrite():
        import mlx.core as mx

        arrays, metadata = mx.load(str(path), return_metadata=True)
        key = next(k for k in metadata if k.endswith("tokens"))  # mlx-lm flattens its keys
        mx.save_safetensors(str(path), arrays, {**metadata, key: json.dumps(tokens)})

    engine.submit(rewrite).result(60)


def test_the_disk_budget_drops_the_least_recently_used(engines, folder, tiny_model_dir):
    engine = engines()
    engine.load(tiny_model_dir).result(120)
    sizes = []
    for key in ("1", "2", "3"):
        ask(engine, [{"role": "user", "content": f"{key} {LONG}"}], key)
        _saved(engine)
        sizes.append(next(folder.glob(f"*/{key}.safetensors")).stat().st_size)
        time.sleep(0.05)  # distinct times
    engine.caches.disk_bytes = sizes[1] + sizes[2] + 10
    ask(engine, [{"role": "user", "content": f"4 {LONG}"}], "4")
    _saved(engine)
    names = sorted(p.name for p in folder.glob("*/*.safetensors"))
    assert names == ["3.safetensors", "4.safetensors"], names
    assert engine.caches.disk_used() <= engine.caches.disk_bytes
    engine.caches.forget("3")  # a conversation deleted
    assert [p.name for p in folder.glob("*/*.safetensors")] == ["4.safetensors"]
    engine.caches.clear()
    assert engine.caches.disk_used() == 0


@pytest.mark.parametrize("action", ["clear", "forget"])
def test_clear_or_delete_as_a_reply_ends_leaves_no_file_behind(
    engines, folder, tiny_model_dir, action
):
    """Clear (Settings) or a chat deleted while its reply runs: the engine's thread runs them
    after the reply, and the reply's save, queued as it ends, comes after them: it must not
    bring the file back."""
    engine = engines()
    engine.load(tiny_model_dir).result(120)
    ask(engine, [{"role": "user", "content": f"1 {LONG}"}], "1")
    _saved(engine)
    assert list(folder.glob("*/1.safetensors")), "the first reply's cache was saved"
    busy = threading.Event()
    engine.submit(lambda: busy.wait(30))  # the thread is busy: what follows queues up
    events, stop = [], threading.Event()
    reply = engine.generate(
        [{"role": "user", "content": f"1 {LONG} and more"}], GREEDY, events.append, stop, None, "1"
    )
    gone = engine.submit(
        engine.caches.clear if action == "clear" else lambda: engine.caches.forget("1")
    )
    busy.set()
    reply.result(120)
    gone.result(60)
    _saved(engine)
    assert not list(folder.glob("*/*.safetensors")), "the queued save brought the file back"
    assert engine.caches.memory_used() == 0
    ask(engine, [{"role": "user", "content": f"2 {LONG}"}], "2")
    _saved(engine)
    assert [p.name for p in folder.glob("*/*.safetensors")] == ["2.safetensors"], "later ones save"


def test_a_quit_mid_save_leaves_no_half_file(folder, tiny_model_dir):
    """A process killed while it saves, again and again: what is left is a whole file or none,
    and the next start removes the partial one."""
    script = textwrap.dedent(
        """
        import sys, threading
        from pathlib import Path
        from desktop_chat.engine import MlxEngine
        from desktop_chat.params import GenerationParams
        from desktop_chat.prompt_caches import PromptCaches

        engine = MlxEngine(PromptCaches(Path(sys.argv[1]))).start()
        engine.load(sys.argv[2]).result(120)
        params = GenerationParams(temperature=0.0, max_tokens=8)
        messages = [{"role": "user", "content": "word " * 600}]
        engine.generate(messages, params, lambda e: None, threading.Event(), None, "1").result()
        held = engine.submit(lambda: engine.caches.take(engine._loaded.fingerprint, "1", [])).result()
        print("ready", flush=True)
        while True:
            engine.submit(lambda: engine.caches.save(held)).result()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(folder), str(tiny_model_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert list(folder.glob("*/*.safetensors"))  # it had saved
    pool = PromptCaches(folder)  # the next start
    assert not list(folder.glob(f"*/*{TEMPORARY}"))
    engine = MlxEngine(pool).start()
    try:
        engine.load(tiny_model_dir).result(120)
        (final,) = [p for p in folder.glob("*/1.safetensors")]
        held = engine.submit(lambda: pool.take(engine._loaded.fingerprint, "1", [1, 2, 3])).result()
        assert final.exists() or held is None
        if final.exists():  # whole: it loads and holds what it says
            assert held is not None and len(held.tokens) > 500
    finally:
        engine.shutdown()


def test_an_8_bit_kv_cache_answers_and_keeps_its_cache(tmp_path, tiny_model_dir) -> None:
    """``[app] kv_bits = 8``: the tiny model's heads (16 values) are too narrow for mlx's
    quantized groups, so it answers with the full cache rather than failing; a model whose
    heads divide by 32 or 64 gets the quantized one (tests/bench's rows measure it)."""
    from desktop_chat.engine import kv_group

    assert kv_group(tiny_model_dir) is None
    engine = MlxEngine(PromptCaches(tmp_path / "caches"), kv_bits=8).start()
    try:
        engine.load(tiny_model_dir).result(120)
        messages = [{"role": "user", "content": LONG}]
        reply, done = ask(engine, messages, "1")
        assert reply and done.finish_reason in ("stop", "length")
        _, again = ask(engine, turn(messages, reply, "And then?"), "1")
        assert cached(again) > done.usage.prompt_tokens - 5
    finally:
        engine.shutdown()


def test_the_kv_group_fits_the_models_heads(tmp_path) -> None:
    from desktop_chat.engine import kv_fraction, kv_group

    for hidden, heads, group in ((4096, 32, 64), (3072, 32, 32), (256, 16, None)):
        folder = tmp_path / f"m{hidden}"
        folder.mkdir()
        config = {"hidden_size": hidden, "num_attention_heads": heads, "num_hidden_layers": 2}
        (folder / "config.json").write_text(json.dumps(config))
        assert kv_group(folder) == group, hidden
    assert kv_fraction(None) == 1.0 and 0.5 < kv_fraction(8) < 0.55 and kv_fraction(4) < 0.3
