"""``llmchat`` and a reasoning model (the tiny thinking model behind the real mlx_lm.server):
the thinking printed dimmed on a terminal, marked in words where dimming cannot show, never in
the answer that /save writes; ``/think on|off`` and ``--no-think`` switch it; the figures line
gives the thinking tokens and the time to the first answer token."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from desktop_chat.cli.options import params_from, parser
from desktop_chat.cli.reply_view import DIM, RESET
from desktop_chat.params import GenerationParams
from desktop_chat.store import Store
from tests.support.settings import write_config
from tests.test_llmchat import PROMPT, finish, spawn

pytestmark = pytest.mark.slow
QUESTION = "What is the capital of France?"
THOUGHT = "The user asks about France. Its capital is Paris."
ANSWER = "The capital of France is Paris."
HELLO_THOUGHT = "A greeting. I will greet back."
HELLO = "Hello! How can I help you today?"
PLAIN_FIGURES = r"\[\d+\.\d\d s · [\d.]+ tok/s · \d+ tokens\]"
THOUGHT_FIGURES = (
    r"\[\d+\.\d\d s · [\d.]+ tok/s · (\d+) tokens \((\d+) thinking\)"
    r" · first token (\d+\.\d\d) s · first answer token (\d+\.\d\d) s\]"
)


def _configured(home, server) -> list[str]:
    write_config(home, f'[providers.think]\nbase_url = "{server.base_url}"\n')
    return [f"think:{server.model_id}", "--temperature", "0", "--max-tokens", "80"]


def _thought_figures(child) -> tuple[int, int, float, float]:
    child.expect(THOUGHT_FIGURES)
    tokens, thinking, first, answer = child.match.groups()
    assert 0 < int(thinking) < int(tokens) and float(first) <= float(answer)
    return int(tokens), int(thinking), float(first), float(answer)


def test_a_terminal_shows_the_thinking_dimmed_and_think_off_answers_at_once(
    mlx_thinking_server, _isolated_home, tmp_path
):
    child = spawn(
        _configured(_isolated_home, mlx_thinking_server), _isolated_home, TERM="xterm-256color"
    )
    child.expect_exact(PROMPT)
    child.sendline(QUESTION)
    child.expect_exact(f"{DIM}Thinking: {THOUGHT}{RESET}")
    child.expect_exact(ANSWER)
    _thought_figures(child)
    child.expect_exact(PROMPT)
    saved = tmp_path / "reply.md"
    child.sendline(f"/save {saved}")
    child.expect("Saved the last reply")
    assert saved.read_text() == ANSWER, "the answer alone, no thinking"
    child.sendline("/think")
    child.expect_exact("Thinking: the model's default. Usage: /think on|off")
    child.sendline("/think off")
    child.expect_exact("Thinking: off (for models whose chat template has the switch).")
    child.expect_exact(PROMPT)
    child.sendline("Say hello.")
    child.expect_exact(HELLO)
    assert "Thinking" not in child.before and DIM not in child.before
    child.expect(PLAIN_FIGURES)
    child.expect_exact(PROMPT)
    finish(child)

    store = Store.open(_isolated_home / "data" / "conversations.sqlite3")
    messages = store.branch(store.latest().id)
    assert [(m.content, m.reasoning) for m in messages] == [
        (QUESTION, ""),
        (ANSWER, THOUGHT),
        ("Say hello.", ""),
        (HELLO, ""),
    ]
    assert messages[1].meta["usage"]["reasoning_tokens"] > 0
    store.close()


def test_no_think_then_think_on_with_words_where_dimming_cannot_show(
    mlx_thinking_server, _isolated_home
):
    """A terminal without colour (TERM=dumb): "Thinking:" and "Answer:" mark the parts."""
    child = spawn([*_configured(_isolated_home, mlx_thinking_server), "--no-think"], _isolated_home)
    child.expect_exact(PROMPT)
    child.sendline(QUESTION)
    child.expect_exact(ANSWER)
    assert "Thinking" not in child.before
    child.expect(PLAIN_FIGURES)
    child.expect_exact(PROMPT)
    child.sendline("/think on")
    child.expect_exact("Thinking: on")
    child.expect_exact(PROMPT)
    child.sendline("Say hello.")
    child.expect_exact(f"Thinking: {HELLO_THOUGHT}")
    child.expect_exact(f"Answer: {HELLO}")
    _thought_figures(child)
    child.expect_exact(PROMPT)
    finish(child)
    assert "\x1b[" not in child.before


def test_piped_output_marks_the_thinking_in_words_without_escape_codes(
    mlx_thinking_server, _isolated_home
):
    """``llmchat MODEL < questions > answers``: not a terminal, so no escape code in the file."""
    env = {
        **os.environ,
        "DESKTOP_CHAT_HOME": str(_isolated_home),
        "LLMCHAT_CONFIG": str(_isolated_home / "none"),
        "TERM": "xterm-256color",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "desktop_chat.cli",
            *_configured(_isolated_home, mlx_thinking_server),
        ],
        input=f"{QUESTION}\nBye\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"Thinking: {THOUGHT}\n\nAnswer: {ANSWER}\n" in done.stdout
    assert re.search(THOUGHT_FIGURES, done.stdout)
    assert "\x1b" not in done.stdout and "Traceback" not in done.stderr


def test_think_and_no_think_flags_set_the_switch():
    def think(*flags: str):
        return params_from(parser().parse_args(["m", *flags]), {}, GenerationParams())[0].think

    assert (think(), think("--think"), think("--no-think")) == (None, True, False)
