"""A reasoning model's thinking in the store: kept with its reply in a column of its own (not
searched, never in the answer), brought up from every earlier schema, read back when a chat
reopens, carried by JSON export and import, and in Markdown only when asked for."""

from __future__ import annotations

import asyncio
import json

import pytest

from desktop_chat import history
from desktop_chat import store as store_module
from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.events import TextDelta
from desktop_chat.history import StoredChat
from desktop_chat.models import remote_choice
from desktop_chat.params import GenerationParams
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from desktop_chat.session import ChatSession
from desktop_chat.store import Store, StoreError
from desktop_chat.store_export import export_conversation, import_conversation, to_markdown

QUESTION = "What is the capital of France?"
THOUGHT = "The user asks about France. Its capital is Paris."
ANSWER = "The capital of France is Paris."


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "conversations.sqlite3")
    yield s
    s.close()


def _chat(store: Store, thought: str = "Pondering lighthouses first.") -> tuple[int, int]:
    conv = store.new_conversation("Capitals", model="tiny")
    q = store.add_message(conv, "user", QUESTION)
    a = store.add_message(
        conv,
        "assistant",
        ANSWER,
        parent_id=q,
        model="tiny",
        meta={"ttft_s": 0.1},
        reasoning=thought,
    )
    return conv, a


def test_thinking_has_its_own_column_and_is_not_searched(store):
    conv, a = _chat(store)
    reply = store.message(a)
    assert (reply.content, reply.reasoning, reply.meta) == (
        ANSWER,
        "Pondering lighthouses first.",
        {"ttft_s": 0.1},
    )
    assert store.search("lighthouses") == [], "thinking is not searched"
    assert [h.message_id for h in store.search("capital Paris")] == [a]
    # A progress save (the answer only) keeps the thinking; the final save may change it.
    store.update_message(a, "The capital", interrupted=True)
    assert store.message(a).reasoning == "Pondering lighthouses first."
    store.update_message(a, ANSWER, interrupted=False, reasoning="Lighthouses, then Paris.")
    assert store.branch(conv)[-1].reasoning == "Lighthouses, then Paris."
    assert store.message(store.branch(conv)[0].id).reasoning == "", "a question has none"


def test_every_earlier_schema_version_brings_its_replies_thinking_into_the_column(
    tmp_path, monkeypatch
):
    """A file left at each earlier version opens with the thinking column; a reply saved
    before it (its thinking in the meta, as the version before this one wrote it) has its
    thinking moved into the column, out of the meta, and still not searched."""
    migrations = store_module.MIGRATIONS
    latest = len(migrations)
    # Every version before the thinking column's (later ones wrote the column themselves).
    for version in range(1, migrations.index(store_module._v5) + 1):
        path = tmp_path / f"v{version}.sqlite3"
        monkeypatch.setattr(store_module, "MIGRATIONS", migrations[:version])
        old = Store.open(path)
        # Written with the columns that version had (what the older app would have written).
        write = old.db.execute
        conv = write(
            "INSERT INTO conversations (title, created, updated) VALUES ('Capitals', 1, 1)"
        ).lastrowid
        q = write(
            "INSERT INTO messages (conversation_id, role, content, created, updated)"
            " VALUES (?, 'user', ?, 1, 1)",
            (conv, QUESTION),
        ).lastrowid
        rows = [
            (ANSWER, {"reasoning": "Pondering lighthouses first.", "ttft_s": 0.1}),
            ("Paris.", {"ttft_s": 0.2, "note": 'says "reasoning" in passing'}),
            ("Rome.", {}),
        ]
        reply = (
            "INSERT INTO messages (conversation_id, parent_id, role, content, meta, created,"
            " updated) VALUES (?, ?, 'assistant', ?, ?, 1, 1)"
        )
        ids = [write(reply, (conv, q, text, json.dumps(meta))).lastrowid for text, meta in rows]
        old.db.execute("UPDATE conversations SET leaf_id = ? WHERE id = ?", (ids[0], conv))
        old.close()

        monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
        s = Store.open(path)
        assert s.version == latest and s.integrity_ok()
        thought, plain, empty = (s.message(i) for i in ids)
        assert thought.reasoning == "Pondering lighthouses first." and thought.meta == {
            "ttft_s": 0.1
        }
        assert plain.reasoning == "" and plain.meta["note"] == 'says "reasoning" in passing'
        assert empty.reasoning == "" and empty.meta == {}
        assert s.search("lighthouses") == [] and len(s.search("capital")) == 2
        # What the migrated file is given now is kept as well.
        new = s.add_message(conv, "assistant", "Lisbon.", parent_id=q, reasoning="Portugal.")
        assert s.message(new).reasoning == "Portugal."
        s.close()


def test_json_export_and_import_carry_the_thinking(store):
    conv, a = _chat(store)
    data = json.loads(json.dumps(export_conversation(store, conv)))
    reply = next(m for m in data["messages"] if m["id"] == a)
    assert reply["reasoning"] == "Pondering lighthouses first." and reply["content"] == ANSWER
    assert "reasoning" not in data["messages"][0], "a question has none"
    copy = import_conversation(store, data)
    assert [(m.content, m.reasoning) for m in store.branch(copy)] == [
        (QUESTION, ""),
        (ANSWER, "Pondering lighthouses first."),
    ]
    # An export written while thinking was kept in the meta imports into the column.
    reply.pop("reasoning")
    reply["meta"] = {"ttft_s": 0.1, "reasoning": "From the meta."}
    older = store.branch(import_conversation(store, data))[-1]
    assert older.reasoning == "From the meta." and older.meta == {"ttft_s": 0.1}
    reply["reasoning"] = ["not", "text"]
    with pytest.raises(StoreError, match="Message 2 of 2 has a “reasoning”") as caught:
        import_conversation(store, data)
    assert "Nothing was added" in caught.value.hint


def test_markdown_leaves_the_thinking_out_unless_asked(store):
    conv, _ = _chat(store, thought="First line of thought.\n\nSecond, with `code`.")
    plain = to_markdown("Capitals", store.branch(conv))
    assert "thought" not in plain and "Thinking" not in plain and ANSWER in plain
    full = to_markdown("Capitals", store.branch(conv), reasoning=True)
    assert (
        f"## tiny\n\n> **Thinking**\n>\n> First line of thought.\n>\n> Second, with `code`.\n\n"
        f"{ANSWER}\n" in full
    )
    assert full.count("Thinking") == 1, "the question has none"


# --- a real reasoning model behind the real mlx_lm.server -----------------------------------


def _session(store: Store, server) -> ChatSession:
    session = ChatSession(
        store, Settings(defaults=GenerationParams(temperature=0.0, max_tokens=80))
    )
    session.set_model(remote_choice(ProviderSettings("mlx", server.base_url), server.model_id))
    return session


def test_a_reply_from_a_thinking_model_reopens_with_its_thinking_and_figures(
    mlx_thinking_server, tmp_path, monkeypatch
):
    """The real server's thought and answer: saved while streaming with the answer only, at
    the end with the thinking in its column; the chat reopened from the file shows the same
    answer, thinking, reasoning tokens and time to the first answer token."""
    monkeypatch.setattr(history, "SAVE_EVERY_S", 0.0)  # a progress save at every piece
    path = tmp_path / "conversations.sqlite3"
    store = Store.open(path)
    session = _session(store, mlx_thinking_server)
    provider = OpenAICompatProvider(mlx_thinking_server.base_url, name="mlx")
    seen: list[tuple[str, str]] = []

    async def go():
        turn = session.send(QUESTION)
        async for event in turn.events(provider):
            if isinstance(event, TextDelta):
                row = store.message(store.branch(session.conversation_id)[-1].id)
                seen.append((row.content, row.reasoning))
        await provider.aclose()
        return turn

    turn = asyncio.run(go())
    store.close()
    assert seen and seen[-1] == (ANSWER, ""), "progress saves hold the answer alone"
    assert all(THOUGHT not in content for content, _ in seen)

    store = Store.open(path)
    reopened = StoredChat(store)
    reopened.open(store.latest().id)
    reply = reopened.conversation.messages[-1]
    assert reply.content == ANSWER and reply.meta["reasoning"] == THOUGHT == turn.reasoning
    usage = reply.meta["usage"]
    assert 0 < usage["reasoning_tokens"] < usage["completion_tokens"]
    assert usage == turn.finished.as_metadata()["usage"]
    assert 0 < reply.meta["ttft_s"] < reply.meta["answer_ttft_s"] == turn.finished.answer_ttft_s
    assert [h.role for h in store.search("asks")] == [], "the thought's words are not found"
    # The next turn from the reopened chat sends the answer alone.
    assert reopened.conversation.to_api()[-1] == {"role": "assistant", "content": ANSWER}
    store.close()
