"""The one turn pipeline, ``ChatSession``, against the real mlx_lm.server (and the scripted
server for an error mid-stream): what it sends, the reply each turn returns, and what the
store keeps."""

from __future__ import annotations

import asyncio

import pytest

from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.errors import StreamInterrupted
from desktop_chat.events import TextDelta
from desktop_chat.models import remote_choice
from desktop_chat.params import GenerationParams
from desktop_chat.personas import Persona
from desktop_chat.providers.openai_compat import OpenAICompatProvider
from desktop_chat.session import CODE_ONLY_PROMPT, ChatSession
from desktop_chat.store import Store
from tests.support.fake_openai import FakeOpenAI, Step

GREEDY = GenerationParams(temperature=0.0, max_tokens=24, seed=0)


def _choice(base_url: str, model: str, **params):
    provider = ProviderSettings("peer", base_url, params=GenerationParams(**params))
    return remote_choice(provider, model)


async def _run(turn, provider) -> list[str]:
    return [e.text async for e in turn.events(provider) if isinstance(e, TextDelta)]


def test_a_turn_returns_its_reply_and_the_store_keeps_both_messages(mlx_server, tmp_path):
    store = Store.open(tmp_path / "c.db")
    session = ChatSession(store, Settings(defaults=GREEDY))
    session.set_model(_choice(mlx_server.base_url, mlx_server.model_id))
    provider = OpenAICompatProvider(mlx_server.base_url, name="peer")

    async def go():
        first = session.send("What is the capital of France?")
        pieces = await _run(first, provider)
        second = session.send("And of Spain?")
        await _run(second, provider)
        await provider.aclose()
        return first, pieces, second

    first, pieces, second = asyncio.run(go())
    assert first.reply.content == "".join(pieces) and first.reply.content.startswith("The")
    assert first.meta["usage"]["completion_tokens"] > 3 and not first.reply.interrupted
    assert first.index == 1 and second.index == 3
    stored = [(m.role, m.content) for m in store.branch(session.conversation_id)]
    assert stored == [(m.role, m.content) for m in session.conversation.messages]
    assert [r for r, _ in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[3][1] == second.reply.content
    store.close()


def test_a_new_chat_mid_reply_leaves_the_reply_in_its_own_conversation(mlx_server, tmp_path):
    store = Store.open(tmp_path / "c.db")
    session = ChatSession(store, Settings(defaults=GREEDY.replace(max_tokens=64)))
    session.set_model(_choice(mlx_server.base_url, mlx_server.model_id))
    provider = OpenAICompatProvider(mlx_server.base_url, name="peer")

    async def go():
        turn = session.send("Tell me a story.")
        seen = 0
        async for event in turn.events(provider):
            if isinstance(event, TextDelta):
                seen += 1
                if seen == 2:
                    session.new()  # ⌘N while the reply streams
        await provider.aclose()
        return turn

    turn = asyncio.run(go())
    assert session.conversation.messages == [], "the new chat stays empty"
    home = turn.home.messages
    assert [m.role for m in home] == ["user", "assistant"] and home[1] is turn.reply
    (kept,) = [c for c in store.conversations() if c.title == "Tell me a story."]
    assert [m.content for m in store.branch(kept.id)][1] == turn.reply.content
    store.close()


def test_an_error_mid_stream_is_raised_and_the_partial_reply_kept(tmp_path):
    store = Store.open(tmp_path / "c.db")
    session = ChatSession(store)
    with FakeOpenAI() as server:
        server.script = [Step(pieces=["Half an ", "answer"], ending="error", error="boom")]
        session.set_model(_choice(server.base_url, "m"))
        provider = OpenAICompatProvider(server.base_url, name="peer")

        async def go():
            try:
                return await _run(session.send("hi"), provider)
            finally:
                await provider.aclose()

        with pytest.raises(StreamInterrupted):
            asyncio.run(go())
    reply = session.turn.reply
    assert reply.content == "Half an answer" and reply.interrupted
    assert session.turn.meta["interrupted"] and "boom" in session.turn.meta["error"]
    stored = store.branch(session.conversation_id)
    assert stored[-1].content == "Half an answer" and stored[-1].interrupted
    store.close()


def test_parameters_are_layered_once_for_every_client():
    session = ChatSession(
        settings=Settings(
            defaults=GenerationParams(temperature=0.9, max_tokens=100, system_prompt="Be kind.")
        )
    )
    session.set_model(_choice("http://127.0.0.1:9/v1", "m", temperature=0.5, top_p=0.8))
    assert session.params().temperature == 0.5, "the model's alias and provider over defaults"
    session.persona = Persona("Terse", "Be brief.", params=GenerationParams(temperature=0.2))
    assert session.params().temperature == 0.2 and session.params().top_p == 0.8
    assert session.params().system_prompt == "Be brief.", "the persona's prompt replaces"
    session.flags = GenerationParams(temperature=0.1)
    assert session.params().temperature == 0.1, "the caller's flags beat the persona"
    assert session.params().system_prompt == "Be brief."
    session.flags = GenerationParams(temperature=0.1, system_prompt="Answer in French.")
    assert session.params().system_prompt == "Answer in French.", "llmchat's --system wins"
    call = session.params(GenerationParams(max_tokens=7))
    assert call.max_tokens == 7 and call.temperature == 0.1, "one call's options on top"
    session.code_only = True
    assert session.params().system_prompt == f"Answer in French.\n\n{CODE_ONLY_PROMPT}"


def test_attached_files_join_one_message_and_an_edit_keeps_them(tmp_path):
    from desktop_chat.context import read_file

    note = tmp_path / "notes.txt"
    note.write_text("the plan is to ship on Friday")
    session = ChatSession()
    session.set_model(_choice("http://127.0.0.1:9/v1", "m"))
    session.files.add(read_file(note))
    session.send("Summarise").end()
    first = session.conversation.messages[0]
    assert first.content.startswith("Summarise\n\n--- notes.txt ---")
    assert first.meta["display"] == "Summarise" and first.meta["files"][0]["name"] == "notes.txt"
    assert not session.files.files, "the files joined that message only"
    session.send("Summarise in French", replace_from=0).end()
    (edited,) = session.conversation.messages
    assert edited.content.startswith("Summarise in French\n\n--- notes.txt ---")
    assert session.edit_text(0) == "Summarise in French"


@pytest.mark.parametrize(
    "step",
    [
        Step(reasoning=["The user greets. ", "Greet back."], pieces=["Hello!"]),
        # The template opened the thought: only its end arrives, after text shown as answer.
        Step(pieces=["The user greets.", "</think>", "Hello!"]),
    ],
    ids=["reasoning_content", "starts-inside-the-thought"],
)
def test_thinking_is_kept_apart_from_the_answer_and_never_sent_back(step, tmp_path):
    store = Store.open(tmp_path / "c.db")
    session = ChatSession(store)
    with FakeOpenAI() as server:
        server.script = [step, Step(pieces=["Fine."])]
        session.set_model(_choice(server.base_url, "m"))
        provider = OpenAICompatProvider(server.base_url, name="peer")

        async def go():
            first = session.send("hi")
            await _run(first, provider)
            await _run(session.send("how are you?"), provider)
            await provider.aclose()
            return first

        first = asyncio.run(go())
    assert first.reply.content == "Hello!" and first.text == "Hello!"
    assert first.reply.meta["reasoning"].startswith("The user greets.")
    stored = store.branch(session.conversation_id)[1]
    assert stored.content == "Hello!" and stored.reasoning == first.reasoning
    assert "reasoning" not in stored.meta, "kept in its own column"
    second_request = [r for r in server.requests if r["method"] == "POST"][1]["body"]
    assert [m["content"] for m in second_request["messages"]] == ["hi", "Hello!", "how are you?"]
    store.close()
