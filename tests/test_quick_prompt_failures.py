"""The quick prompt when no model can answer: the question goes back into its input (and its
draft) with its files, and the line under the answer says "failed" and why, never "stopped"."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop_chat.drafts import QUICK, Drafts
from tests.support.gui import running_window, wait_for
from tests.support.settings import write_config


def test_a_question_no_model_could_take_comes_back_with_its_files(
    qapp, qtbot, _isolated_home, tmp_path, monkeypatch
):
    from desktop_chat.gui.quick_prompt import quick_prompt_for

    # Another machine over plain http with a key: refused before anything is sent.
    write_config(
        _isolated_home,
        'default_model = "lan:m"\n[providers.lan]\n'
        'base_url = "http://192.0.2.7:11434/v1"\nmodels = ["m"]\n',
    )
    monkeypatch.setenv("LAN_API_KEY", "sk-lan-0123456789abcdef")
    notes = tmp_path / "notes.md"
    notes.write_text("Meeting notes.")
    with running_window(qapp) as (loop, window):
        quick = quick_prompt_for(window)

        async def scenario():
            await window.controller.refresh()
            quick.present()
            from desktop_chat.context import read_file

            quick.files.add(read_file(notes))
            qtbot.keyClicks(quick.input, "Summarise my notes")
            qtbot.keyClick(quick.input, Qt.Key.Key_Return)
            await wait_for(lambda: quick.task is not None and quick.task.done(), what="the try")

        loop.run_until_complete(scenario())
        assert quick.input.toPlainText() == "Summarise my notes", "the question is given back"
        assert [f.name for f in quick.files.files] == ["notes.md"], "with its file"
        assert "failed" in quick.reply.stats.text() and "stopped" not in quick.reply.stats.text()
        assert "allow_insecure_key" in quick.reply.text, "the reason, with what to do"
        quick.drafts.save_now()
        assert Drafts(window.controller.store).get(QUICK) == "Summarise my notes"
        assert window.controller.store.conversations() == [], "no half conversation"
        quick.hide()
