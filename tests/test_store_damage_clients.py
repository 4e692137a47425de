"""``llmchat`` (the real process, driven with pexpect) and the Python API over a damaged
database that still opens (pages in the middle of a real file overwritten with garbage): a
sentence, no traceback; what can still be read is kept, the damaged file is set aside and its
new name said; the chat goes on."""

from __future__ import annotations

import sqlite3
import warnings

import pexpect
import pytest

from desktop_chat import ChatManager
from desktop_chat.store import Store
from desktop_chat.store_files import StoreWarning
from tests.support.damaged_db import garble, unreadable_conversations, write_chats
from tests.support.llmchat import spawn

pytestmark = pytest.mark.slow
PROMPT = "prompt -> "


def _damaged_home(home, **columns) -> tuple[int, dict[int, int]]:
    """The app's database under ``home`` with two message pages garbled; the conversation the
    damage hit is given ``columns`` (made the latest, named for the API)."""
    path = home / "data" / "conversations.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = write_chats(path)
    probe = home / "probe.sqlite3"
    probe.write_bytes(path.read_bytes())
    garble(probe)
    (bad,) = unreadable_conversations(probe)
    probe.unlink()
    db = sqlite3.connect(path)
    with db:
        for name, value in columns.items():
            db.execute(f"UPDATE conversations SET {name} = ? WHERE id = ?", (value, bad))
    db.close()
    garble(path)
    return bad, counts


def _spawn(args, home):
    return spawn(args, home, timeout=90)


def _aside(home):
    (aside,) = [
        p
        for p in (home / "data").iterdir()
        if ".damaged-" in p.name and not p.name.endswith(("-wal", "-shm"))
    ]
    return aside


def test_llmchat_lists_a_damaged_history_and_says_where_the_damaged_file_went(_isolated_home):
    bad, counts = _damaged_home(_isolated_home)
    child = _spawn(["--list"], _isolated_home)
    child.expect(pexpect.EOF)
    assert child.wait() == 0
    seen = child.logfile_read.getvalue()
    assert "Traceback" not in seen
    assert f"the damaged file is kept as {_aside(_isolated_home)}" in seen
    listed = {
        int(line.split()[0]): int(line.split()[3])
        for line in seen.splitlines()
        if line.strip().endswith("[tiny]")
    }  # id, date, time, count "msgs" title [model]
    assert sorted(listed) == sorted(counts)
    assert 0 < listed[bad] < counts[bad], "the damaged chat's branch, all that can be read"
    assert all(listed[conv] == n for conv, n in counts.items() if conv != bad)
    assert unreadable_conversations(_isolated_home / "data" / "conversations.sqlite3") == []


def test_llmchat_continues_a_damaged_conversation_with_what_can_be_read(
    tiny_model_dir, _isolated_home
):
    bad, counts = _damaged_home(_isolated_home, updated=4_000_000_000.0)  # the latest
    child = _spawn(
        [str(tiny_model_dir), "--continue", "--temperature", "0", "--max-tokens", "24"],
        _isolated_home,
    )
    child.expect_exact(PROMPT)
    seen = child.logfile_read.getvalue()
    assert "Traceback" not in seen
    assert f"the damaged file is kept as {_aside(_isolated_home)}" in seen
    continuing = next(line for line in seen.splitlines() if line.startswith("Continuing"))
    shown = int(continuing.split("(")[1].split()[0])
    assert continuing.startswith(f"Continuing “Chat {bad - 1}”") and 0 < shown < counts[bad]
    child.sendline("What is the capital of France?")
    child.expect(r"\[\d+\.\d\d s · [\d.]+ tok/s · \d+ tokens\]")  # a reply, after that history
    child.expect_exact(PROMPT)
    child.sendline("Bye")
    child.expect("Goodbye!")
    child.expect(pexpect.EOF)
    assert child.wait() == 0
    assert "Traceback" not in child.logfile_read.getvalue()
    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    contents = [m.content for m in store.branch(bad)]
    assert len(contents) == shown + 2 and contents[-2] == "What is the capital of France?"
    assert store.integrity_ok()
    store.close()


def test_the_api_reads_a_damaged_chat_after_repairing_the_file_and_never_raises(
    mlx_server, _isolated_home
):
    bad, counts = _damaged_home(_isolated_home, external_id="api:alice")
    path = _isolated_home / "data" / "conversations.sqlite3"
    manager = ChatManager(
        base_url=mlx_server.base_url,
        model=mlx_server.model_id,
        temperature=0.0,
        max_tokens=24,
        store=path,
        system_prompt="",
    )
    with pytest.warns(StoreWarning, match="the damaged file is kept as"):
        chat = manager.get_chat("alice", stream=False)
    kept = len(chat.history)
    assert 0 < kept < counts[bad]
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)  # saved: nothing to warn about
        reply = chat.chat_response("What is the capital of France?")
    assert reply.success and "not_saved" not in reply.metadata
    manager.close()
    store = Store.open(path)
    assert len(store.branch(store.find_external("api:alice"))) == kept + 2
    store.close()


def test_llmchat_running_when_the_check_finds_damage_says_so_and_goes_on_saved(
    tiny_model_dir, _isolated_home
):
    """The file is damaged while llmchat waits at its prompt: the check after opening finds
    it (``CHECK_AFTER_S``), the repair is said after the next reply, and the chat is saved in
    the repaired copy."""
    from desktop_chat.store_repair import CHECK_AFTER_S

    path = _isolated_home / "data" / "conversations.sqlite3"
    path.parent.mkdir(parents=True)
    counts = write_chats(path)
    latest = max(counts)
    child = _spawn(
        [str(tiny_model_dir), "--continue", "--temperature", "0", "--max-tokens", "24"],
        _isolated_home,
    )
    child.expect_exact(PROMPT)
    assert f"Continuing “Chat {latest - 1}” ({counts[latest]} messages)" in (
        child.logfile_read.getvalue()
    )
    garble(path)
    (bad,) = unreadable_conversations(path)
    child.expect(pexpect.TIMEOUT, timeout=CHECK_AFTER_S + 3)  # the check runs meanwhile
    child.sendline("What is the capital of France?")
    child.expect_exact("the damaged file is kept as")
    child.expect_exact(PROMPT)
    child.sendline("Bye")
    child.expect(pexpect.EOF)
    assert child.wait() == 0
    assert "Traceback" not in child.logfile_read.getvalue()
    store = Store.open(path)
    contents = [m.content for m in store.branch(latest)]
    assert len(contents) == counts[latest] + 2 and contents[-2] == "What is the capital of France?"
    assert len(store.message_ids(bad)) < counts[bad] and store.integrity_ok()
    store.close()
