"""A conversation's own options (its Think choice), kept with it in the store: a schema
migration from every earlier version, what a turn is asked with (the caller's call over the
conversation's choice over the persona's default), kept when the chat reopens."""

from __future__ import annotations

import sqlite3

import pytest

from desktop_chat import store as store_module
from desktop_chat.config import ProviderSettings, Settings
from desktop_chat.models import remote_choice
from desktop_chat.params import GenerationParams
from desktop_chat.personas import Library, Persona
from desktop_chat.session import ChatSession
from desktop_chat.store import Store

CHOICE = remote_choice(ProviderSettings("tiny", "http://127.0.0.1:9/v1"), "qwen3-8b")


def test_every_earlier_schema_version_gains_conversation_settings(tmp_path, monkeypatch):
    """A file left at each earlier version opens with the settings column ({} for each
    conversation it holds), and a conversation's options are kept and changed one by one."""
    migrations = store_module.MIGRATIONS
    latest = len(migrations)
    for version in range(1, latest):
        path = tmp_path / f"v{version}.sqlite3"
        monkeypatch.setattr(store_module, "MIGRATIONS", migrations[:version])
        old = Store.open(path)
        conv = old.db.execute(
            "INSERT INTO conversations (title, created, updated) VALUES ('Capitals', 1, 1)"
        ).lastrowid
        old.close()
        monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
        s = Store.open(path)
        assert s.version == latest and s.integrity_ok()
        assert s.conversation_settings(conv) == {}
        s.update_conversation_settings(conv, think=False, reasoning_effort="low")
        s.update_conversation_settings(conv, reasoning_effort=None)  # None: removed
        assert s.conversation_settings(conv) == {"think": False}
        assert s.conversation(conv).updated == 1, "an option is no change of the chat's place"
        s.close()
        with sqlite3.connect(path) as raw:  # the column the issue names, JSON, never NULL
            column = next(
                c for c in raw.execute("PRAGMA table_info(conversations)") if c[1] == "settings"
            )
            assert column[2] == "TEXT" and column[3] == 1 and column[4] == "'{}'"


def test_the_conversations_think_choice_sits_between_the_caller_and_the_persona(tmp_path):
    store = Store.open(tmp_path / "c.sqlite3")
    session = ChatSession(store, Settings(defaults=GenerationParams(think=True)))
    session.set_model(CHOICE)
    assert session.params().think is True, "the defaults, when nothing else says"
    session.persona = Persona("Quick", params=GenerationParams(think=False))
    assert session.params().think is False, "the persona's default over the defaults"
    session.set_options(think=True, reasoning_effort="high")
    assert session.params().think is True and session.params().reasoning_effort == "high"
    session.flags = GenerationParams(think=False)  # llmchat's --no-think, an LLMConfig's
    assert session.params().think is False, "the caller's flags over the conversation's"
    session.flags = GenerationParams()
    assert session.params(GenerationParams(think=False)).think is False, "one call over all"
    session.set_options(think=None)
    assert session.params().think is False, "None: the persona's again"
    with pytest.raises(ValueError, match="reasoning_effort"):
        session.set_options(reasoning_effort="enormous")
    store.close()


def test_the_choice_survives_reopening_and_a_new_chat_takes_the_personas(tmp_path):
    """Chosen in a new chat (no row yet), kept once its first message is; reopened, the
    conversation answers as chosen; a new chat starts from the persona's default again."""
    path = tmp_path / "c.sqlite3"
    store = Store.open(path)
    Library(store).save_persona(Persona("Deliberate", params=GenerationParams(think=True)))
    session = ChatSession(store)
    session.set_model(CHOICE)
    session.persona = session.library.persona("Deliberate")
    session.set_options(think=False)
    turn = session.send("What is the capital of France?")
    assert turn.params.think is False
    cid = session.conversation_id
    turn.end()
    store.idle()
    store.close()

    store = Store.open(path)
    assert store.conversation_settings(cid) == {"think": False}
    again = ChatSession(store)
    again.set_model(CHOICE)
    again.persona = again.library.persona("Deliberate")
    assert again.params().think is True, "before it is opened: the persona's default"
    again.open(cid)
    assert again.options == {"think": False} and again.params().think is False
    again.set_options(think=True)  # a stored conversation: written at once
    assert store.conversation_settings(cid) == {"think": True}
    again.new()
    again.persona = again.library.persona("Deliberate")
    assert again.options == {} and again.params().think is True
    store.update_conversation_settings(cid, think="maybe", colour="blue")  # by hand, or later
    again.open(cid)
    assert again.options == {"colour": "blue"}, "an option this app cannot read is left aside"
    assert again.params().think is True
    store.close()
