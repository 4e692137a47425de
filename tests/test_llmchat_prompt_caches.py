"""``llmchat`` on a local model says, in a reply's figures, how much of the prompt the engine
had read already (issue 17): the real process, the tiny model, pexpect."""

from __future__ import annotations

import pytest

from tests.support.llmchat import PROMPT, spawn
from tests.test_llmchat import finish

pytestmark = pytest.mark.slow
FIGURES = (
    r"\[\d+\.\d\d s · [\d.]+ tok/s · \d+ tokens(?: · ([\d,]+) of ([\d,]+) prompt tokens cached)?\]"
)


def test_the_second_local_turn_says_its_prompt_came_from_the_cache(tiny_model_dir, _isolated_home):
    child = spawn([str(tiny_model_dir), "--temperature", "0", "--max-tokens", "24"], _isolated_home)
    child.expect_exact(PROMPT)
    child.sendline("What is the capital of France?")
    child.expect(FIGURES)
    assert child.match.group(1) is None, "nothing was read before the first question"
    child.expect_exact(PROMPT)
    child.sendline("Tell me a story.")
    child.expect(FIGURES)
    cached, prompt = (int(g.replace(",", "")) for g in child.match.groups())
    assert 0 < cached < prompt
    child.expect_exact(PROMPT)
    finish(child)
