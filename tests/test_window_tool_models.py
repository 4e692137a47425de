"""The model picker says which local models can call tools (issue 18): read from the model's
files, a real tiny tool model against the plain tiny model."""

from __future__ import annotations

from desktop_chat.gui.model_picker import TOOLS_MARK, ModelPicker
from desktop_chat.models import local_choice


def test_the_picker_marks_the_local_models_that_use_tools(
    qapp, tiny_model_dir, tiny_tool_model_dir
):
    tools, plain = local_choice(tiny_tool_model_dir), local_choice(tiny_model_dir)
    assert (tools.tools, plain.tools) == (True, False)
    picker = ModelPicker()
    picker.set_choices([tools, plain])
    shown = {a.data(): a.text() for a in picker.menu_.actions() if a.data()}
    assert shown[tools.key].endswith(TOOLS_MARK), shown
    assert TOOLS_MARK not in shown[plain.key], shown
