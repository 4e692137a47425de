"""``llmchat`` and the Python API when the disk fills up mid-conversation (a real tmpfs under
the data folder): the reply still arrives, the user is told it was not saved, nothing crashes,
and what was refused is saved with the next message once there is room."""

from __future__ import annotations

import warnings

import pexpect
import pytest

from desktop_chat import ChatManager
from desktop_chat.store import Store
from desktop_chat.store_files import StoreWarning
from tests.support.disks import tiny_disk
from tests.support.llmchat import PROMPT, spawn

pytestmark = pytest.mark.slow


def test_llmchat_tells_a_full_disk_and_keeps_the_chat(tiny_model_dir, _isolated_home):
    with tiny_disk(_isolated_home / "data") as disk:
        args = [tiny_model_dir, "--temperature", "0", "--max-tokens", "48"]
        child = spawn(args, _isolated_home, timeout=90)
        seen = child.logfile_read
        child.expect_exact(PROMPT)
        disk.fill()
        child.sendline("What is the capital of France?")
        child.expect("The capital of France is Paris.")
        child.expect_exact("[This chat is not being saved: the disk is full.]")
        child.expect("Free some space on the disk. Nothing is lost meanwhile")
        child.expect_exact(PROMPT)
        disk.free()
        child.sendline("Say hello.")
        child.expect_exact("[The chat is saved again.]")
        child.expect_exact(PROMPT)
        child.sendline("Bye")
        child.expect("Goodbye!")
        child.expect(pexpect.EOF)
        assert child.wait() == 0
        assert "Traceback" not in seen.getvalue()
        # Said once, as above: the log's record of it stays out of the terminal.
        assert "Could not save to the conversation database" not in seen.getvalue()
        store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
        (conversation,) = store.conversations()
        contents = [m.content for m in store.branch(conversation.id)]
        assert contents[:3] == [
            "What is the capital of France?",
            "The capital of France is Paris.",
            "Say hello.",
        ]
        assert len(contents) == 4 and contents[3]
        store.close()


def test_the_api_returns_the_reply_and_says_it_was_not_saved(mlx_server, _isolated_home):
    with tiny_disk(_isolated_home / "data", size_kb=4096) as disk:
        path = _isolated_home / "data" / "conversations.sqlite3"
        manager = ChatManager(
            base_url=mlx_server.base_url,
            model=mlx_server.model_id,
            temperature=0.0,
            max_tokens=24,
            store=path,
            system_prompt="",
        )
        chat = manager.get_chat("alice", stream=False)
        first = chat.chat_response("Say hello.")
        assert first.success and "not_saved" not in first.metadata
        disk.fill()
        second = chat.chat_response("What is the capital of France?")  # never raises
        assert second.success and "capital of France" in second.content
        assert second.metadata["not_saved"].startswith(
            "This chat is not being saved: the disk is full."
        )
        with pytest.warns(StoreWarning, match="the disk is full"):
            third = chat.chat("Say hello.")
        assert third, "the reply is returned all the same"
        assert len(chat.history) == 6
        disk.free()
        with warnings.catch_warnings():
            warnings.simplefilter("error", StoreWarning)
            fourth = chat.chat_response("Who are you?")
        assert fourth.success and "not_saved" not in fourth.metadata
        manager.close_store()
        store = Store.open(path)
        alice = store.find_external("api:alice")
        assert [m.content for m in store.branch(alice)] == [m["content"] for m in chat.history]
        assert len(chat.history) == 8 and store.integrity_ok()
        store.close()
