"""Personas and prompt templates: built in, the user's own kept in the store, chosen per
conversation in the window, applied to what is sent."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop_chat.params import GenerationParams
from desktop_chat.personas import DEFAULT, Library, Persona, Template
from desktop_chat.store import Store
from tests.support.fake_openai import Step, as_provider
from tests.support.gui import reply_done, running_window, screenshot, type_and_send, wait_for


def test_library_has_built_ins_and_keeps_the_users_own(tmp_path):
    store = Store.open(tmp_path / "c.sqlite3")
    lib = Library(store)
    assert [p.name for p in lib.personas()][:2] == ["Default", "Concise"]
    assert {t.name for t in lib.templates()} >= {"Summarise", "Explain this code", "Find bugs"}
    lib.save_persona(
        Persona("Pirate", "Talk like a pirate.", "fake:m", GenerationParams(temperature=1.1))
    )
    lib.save_persona(Persona("Concise", "Even shorter."))  # a built-in, changed
    again = Library(Store.open(tmp_path / "c.sqlite3"))
    pirate = again.persona("Pirate")
    assert pirate.model == "fake:m" and pirate.params.temperature == 1.1
    assert again.persona("Concise").system_prompt == "Even shorter."
    again.delete("persona", "Concise")  # reset to the built-in
    assert again.persona("Concise").system_prompt.startswith("Answer in as few words")
    assert again.persona("nobody") is DEFAULT
    with pytest.raises(ValueError, match="name"):
        lib.save_template(Template(" ", "x"))
    summarise = next(t for t in lib.templates() if t.name == "Summarise")
    assert summarise.fill("some text").endswith("some text")
    assert Template("Plain", "Translate to French").fill("hello") == "Translate to French\n\nhello"
    store.close()


@pytest.fixture
def fake(_isolated_home):
    """The scripted provider with a second model, for a persona to switch to."""
    with as_provider(_isolated_home, ("m", "big")) as server:
        yield server


def test_a_persona_per_conversation_and_templates_in_the_composer(qapp, qtbot, fake):
    fake.script = [Step(pieces=["Short."]), Step(pieces=["Arr."])]
    with running_window(qapp) as (loop, window):
        controller = window.controller

        async def scenario():
            await controller.refresh()
            await controller.set_persona("Concise")
            assert window.persona_button.text().startswith("Persona: Concise")
            type_and_send(qtbot, window, "What is Python?")
            await wait_for(lambda: reply_done(window))
            first = controller.conversation_id
            # A persona of the user's own, with its own model.
            window.persona_button.manage()
            dialog = window.persona_button.dialog
            dialog._new()
            qtbot.keyClicks(dialog.name, "Pirate")
            qtbot.keyClicks(dialog.text, "Talk like a pirate.")
            qtbot.keyClicks(dialog.model, "fake:big")
            dialog.temperature.setValue(1.2)
            assert dialog.save()
            screenshot(dialog, "personas")
            dialog.accept()
            window.new_chat()
            await controller.set_persona("Pirate")
            assert controller.choice.model == "big"
            type_and_send(qtbot, window, "Hello")
            await wait_for(lambda: reply_done(window))
            await controller.open_conversation(first)
            assert controller.persona.name == "Concise"
            assert window.persona_button.text().startswith("Persona: Concise")

        loop.run_until_complete(scenario())
        concise, pirate = (r["body"] for r in fake.requests if r["method"] == "POST")
        assert concise["messages"][0]["content"].startswith("Answer in as few words")
        assert pirate["messages"][0] == {"role": "system", "content": "Talk like a pirate."}
        assert pirate["model"] == "big" and pirate["temperature"] == 1.2
        # Templates: around the selection, or around what is in the composer.
        edit = window.composer.edit
        edit.setPlainText("def f(): return 1/0")
        explain = next(t for t in controller.templates() if t.name == "Find bugs")
        window.templates_button.use(explain)
        assert edit.toPlainText().startswith("Find the bugs in this code.")
        assert edit.toPlainText().endswith("def f(): return 1/0")
        edit.setPlainText("keep this. summarise this part")
        cursor = edit.textCursor()
        cursor.setPosition(11)
        cursor.movePosition(cursor.MoveOperation.End, cursor.MoveMode.KeepAnchor)
        edit.setTextCursor(cursor)
        window.templates_button.use(
            next(t for t in controller.templates() if t.name == "Summarise")
        )
        assert edit.toPlainText().endswith("\n\nsummarise this part")
        qtbot.keyClick(edit, Qt.Key.Key_Escape)  # nothing streaming: the text stays
        assert edit.toPlainText().startswith("Summarise")
