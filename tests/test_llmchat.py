"""The real ``llmchat`` process, driven with pexpect: locally on MLX and through mlx_lm.server."""

from __future__ import annotations

from pathlib import Path

import pexpect
import pytest

from tests.support.llmchat import PROMPT, spawn
from tests.support.settings import write_config

pytestmark = pytest.mark.slow


def finish(child):
    child.sendline("Bye")
    child.expect("Goodbye!")
    child.expect(pexpect.EOF)
    status = child.wait()  # wait, not close(): close() kills a process still tearing down
    assert status == 0, f"exit {status}, signal {child.signalstatus}"


def test_missing_model_prints_usage_and_exits_2(_isolated_home):
    child = spawn([], _isolated_home)
    child.expect("usage: llmchat")
    child.expect(pexpect.EOF)
    assert child.wait() == 2


def test_local_mlx_chat_session(tiny_model_dir, _isolated_home, tmp_path):
    child = spawn([str(tiny_model_dir), "--temperature", "0", "--max-tokens", "64"], _isolated_home)
    child.expect(f"Loading model {tiny_model_dir}")
    child.expect("Model loaded successfully!")
    child.expect_exact(PROMPT)
    child.sendline("   What is the capital of France?   ")
    child.expect("The capital of France is Paris.")
    child.expect(r"\[\d+\.\d\d s · [\d.]+ tok/s · \d+ tokens\]")
    child.expect_exact(PROMPT)
    child.sendline("")  # ignored: straight back to the prompt
    child.expect_exact(PROMPT)
    # A file joins the next prompt only.
    note = tmp_path / "note.txt"
    note.write_text("hello from a file " * 3)
    child.sendline(f"/file {note}")
    child.expect("note.txt \\(54 characters\\) will join your next prompt.")
    child.sendline("/showfile")
    child.expect("hello from a file")
    child.sendline(f"/file {tmp_path}")
    child.expect("is a folder")
    child.sendline("/nonsense")
    child.expect("Unknown command /nonsense")
    child.sendline("/codeonly")
    child.expect("Code-only answers: on.")
    child.sendline("/codeoff")
    child.expect("Code-only answers: off.")
    # Save the last reply; over an existing file only when the user says so.
    saved = tmp_path / "reply.md"
    child.sendline(f"/save {saved}")
    child.expect("Saved the last reply")
    assert saved.read_text() == "The capital of France is Paris."
    saved.write_text("my own notes")
    child.sendline(f"/save {saved}")
    child.expect_exact(f"{saved} already exists. Replace it? [y/N] ")
    child.sendline("n")
    child.expect("nothing saved")
    assert saved.read_text() == "my own notes"
    child.sendline(f"/save {saved}")
    child.expect_exact("Replace it? [y/N] ")
    child.sendline("y")
    child.expect("Saved the last reply")
    finish(child)
    assert saved.read_text() == "The capital of France is Paris."
    assert sorted(p.name for p in saved.parent.iterdir() if p != _isolated_home) == [
        "note.txt",
        "reply.md",
    ]  # no leftovers


def test_ctrl_c_stops_a_reply_and_at_the_prompt_exits_cleanly(_isolated_home):
    # The tiny model answers in milliseconds; a slow scripted stream leaves time to press Ctrl+C.
    from tests.support.fake_openai import FakeOpenAI, Step

    with FakeOpenAI() as fake:
        fake.script = [
            Step(pieces=["Once upon a time "] + ["and then "] * 400, delay_s=0.02),
            Step(pieces=["Still ", "here."]),
        ]
        write_config(_isolated_home, f'[providers.slow]\nbase_url = "{fake.base_url}"\n')
        child = spawn(["slow:story"], _isolated_home)
        child.expect_exact(PROMPT)
        child.sendline("Tell me a long story.")
        child.expect("Once upon a time")
        child.sendintr()
        child.expect_exact("[stopped]")
        child.expect_exact(PROMPT)
        assert fake.disconnected.wait(5), "Ctrl+C should close the stream"
        child.sendline("Are you there?")
        child.expect("Still here.")
        # The stopped story stayed in the history, marked as partial, and went with the next turn.
        sent = fake.requests[-1]["body"]["messages"]
        assert sent[1]["role"] == "assistant" and sent[1]["content"].startswith("Once upon a time")
        child.expect_exact(PROMPT)
        child.sendintr()
        child.expect("Goodbye!")
        child.expect(pexpect.EOF)
        assert child.wait() == 0


def test_remote_chat_through_mlx_lm_server_with_an_alias(mlx_server, _isolated_home):
    write_config(
        _isolated_home,
        f'[providers.tiny]\nbase_url = "{mlx_server.base_url}"\nmodels = ["{mlx_server.model_id}"]\n'
        f'[aliases.small]\nmodel = "tiny:{mlx_server.model_id}"\ntemperature = 0.0\n',
    )
    child = spawn(["small", "--max-tokens", "64"], _isolated_home)
    child.expect("Model loaded successfully!")
    child.expect_exact(PROMPT)
    child.sendline("What is the capital of France?")
    child.expect("The capital of France is Paris.")
    child.expect("tok/s")
    child.expect_exact(PROMPT)
    child.sendline("/listmodels")
    child.expect("small -> tiny:")
    finish(child)


def test_a_failed_generation_is_reported_and_the_loop_goes_on(_isolated_home):
    from tests.support.servers import free_port

    write_config(
        _isolated_home, f'[providers.gone]\nbase_url = "http://127.0.0.1:{free_port()}/v1"\n'
    )
    child = spawn(["gone:some-model"], _isolated_home)
    child.expect_exact(PROMPT)
    child.sendline("hello?")
    child.expect("failed: Could not connect to gone")
    child.expect_exact(PROMPT)
    finish(child)


def test_a_hugging_face_id_is_downloaded_with_progress_then_chats(
    tiny_model_dir, _isolated_home, tmp_path
):
    from tests.support.fake_hub import FakeHub, Repo

    with FakeHub() as hub:
        hub.repos["mlx-community/tiny-chat"] = Repo(tiny_model_dir)
        env = {
            "HF_ENDPOINT": hub.endpoint,
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_DISABLE_XET": "1",
        }
        child = spawn(["mlx-community/tiny-chat", "--temperature", "0"], _isolated_home, **env)
        child.expect("Loading model mlx-community/tiny-chat...")
        child.expect(r"MB \(100%\)")
        child.expect("Model loaded successfully!")
        child.expect_exact(PROMPT)
        child.sendline("What is the capital of France?")
        child.expect("The capital of France is Paris.")
        finish(child)

        child = spawn(["mlx-community/no-such-model"], _isolated_home, **env)
        child.expect("Error: There is no model called mlx-community/no-such-model")
        child.expect(pexpect.EOF)
        assert "Traceback" not in child.before
        assert child.wait() == 1


def test_no_history_and_the_logging_transcript(_isolated_home):
    from tests.support.fake_openai import FakeOpenAI, Step

    with FakeOpenAI() as fake:
        fake.script = [
            Step(pieces=["First ", "answer."]),
            Step(pieces=["Second ", "answer."]),
            Step(pieces=["Third."]),
        ]
        write_config(_isolated_home, f'[providers.fake]\nbase_url = "{fake.base_url}"\n')
        child = spawn(["fake:m", "--no-history", "--system", "Be brief."], _isolated_home)
        child.expect_exact(PROMPT)
        child.sendline("/logging start")
        child.expect(r"Logging to (\S+\.md)")
        log_path = child.match.group(1)
        child.sendline("one")
        child.expect("First answer.")
        child.expect_exact(PROMPT)
        child.sendline("two")
        child.expect("Second answer.")
        child.expect_exact(PROMPT)
        child.sendline("/logging end")
        child.expect("Stopped logging")
        child.sendline("/model fake:other-model")
        child.expect("Now chatting with fake:other-model")
        child.sendline("three")
        child.expect("Third.")
        child.sendline("/model nowhere:x")
        child.expect("Error: Cannot tell which provider")
        child.expect_exact(PROMPT)
        finish(child)
    assert fake.requests[-1]["body"]["model"] == "other-model"
    second = fake.requests[-2]["body"]["messages"]
    assert second == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "two"},
    ]
    transcript = Path(log_path).read_text(encoding="utf-8")
    assert (
        "## user\n\none" in transcript
        and "First answer." in transcript
        and "Second answer." in transcript
    )
    assert log_path.startswith(str(_isolated_home)), "the transcript lives in the app's folder"


def test_code_only_asks_with_the_same_instruction_as_the_window(_isolated_home):
    from desktop_chat.session import CODE_ONLY_PROMPT
    from tests.support.fake_openai import FakeOpenAI, Step

    with FakeOpenAI() as fake:
        fake.script = [Step(pieces=["```python\nprint(1)\n```"]), Step(pieces=["One."])]
        write_config(_isolated_home, f'[providers.fake]\nbase_url = "{fake.base_url}"\n')
        child = spawn(["fake:m", "--system", "Be brief."], _isolated_home)
        child.expect_exact(PROMPT)
        child.sendline("/codeonly")
        child.sendline("Print one.")
        child.expect("print")
        child.expect_exact(PROMPT)
        child.sendline("/codeoff")
        child.sendline("Say one.")
        child.expect("One.")
        finish(child)
    systems = [r["body"]["messages"][0]["content"] for r in fake.requests]
    assert systems == [f"Be brief.\n\n{CODE_ONLY_PROMPT}", "Be brief."]


def test_a_model_on_a_discovered_local_server_needs_no_settings(mlx_server, _isolated_home):
    """mlx_lm.server on a port discovery knows is found and used by its model name alone."""
    from desktop_chat.providers.discovery import SERVERS_VARIABLE

    # The fixture's server runs on a port of the test's own; discovery is told to look there.
    env = {SERVERS_VARIABLE: f"local-test={mlx_server.port}"}
    child = spawn([mlx_server.model_id, "--temperature", "0"], _isolated_home, **env)
    child.expect("Model loaded successfully!")
    child.expect_exact(PROMPT)
    child.sendline("What is the capital of France?")
    child.expect("The capital of France is Paris.")
    finish(child)


def test_conversations_are_saved_listed_and_continued(tiny_model_dir, _isolated_home):
    from desktop_chat.store import Store

    child = spawn([str(tiny_model_dir), "--temperature", "0"], _isolated_home)
    child.expect_exact(PROMPT)
    child.sendline("What is the capital of France?")
    child.expect("The capital of France is Paris.")
    child.expect_exact(PROMPT)
    finish(child)
    # A conversation made in the window is in the same store.
    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    window_chat = store.new_conversation("From the window", model="tiny")
    store.add_message(window_chat, "user", "Hello from the window")
    store.close()

    child = spawn(["--list"], _isolated_home)
    child.expect(r"\d+ msgs  From the window  \[tiny\]")
    child.expect(r"2 msgs  What is the capital of France\?")
    child.expect(pexpect.EOF)
    assert child.wait() == 0

    # --continue: the last conversation written to, with its model.
    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    first = next(c for c in store.conversations() if c.title.startswith("What is"))
    store.add_message(first.id, "user", "Say hello.", parent_id=store.branch_ids(first.id)[-1])
    store.add_message(
        first.id,
        "assistant",
        "Hello! How can I help you today?",
        parent_id=store.branch_ids(first.id)[-1],
    )
    store.close()
    child = spawn(["--continue", "--temperature", "0"], _isolated_home)
    child.expect("Continuing “What is the capital of France\\?” \\(4 messages\\)")
    child.expect(f"Loading model {tiny_model_dir}")
    child.expect_exact(PROMPT)
    child.sendline("Who are you?")
    child.expect_exact(PROMPT)
    finish(child)
    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    contents = [m.content for m in store.branch(first.id)]
    assert contents[:5] == [
        "What is the capital of France?",
        "The capital of France is Paris.",
        "Say hello.",
        "Hello! How can I help you today?",
        "Who are you?",
    ]
    assert len(contents) == 6 and contents[5]  # the reply, saved
    assert store.integrity_ok()
    store.close()
