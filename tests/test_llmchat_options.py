"""Where llmchat's generation parameters come from, in order."""

from __future__ import annotations

from desktop_chat.cli.options import params_from, parser, read_user_config
from desktop_chat.params import GenerationParams


def test_flags_beat_model_settings_beat_user_file_beat_app_defaults_beat_built_ins(tmp_path):
    user_file = tmp_path / ".llmchat_config"
    user_file.write_text('temperature = 0.3\nsystem = "From the user file."\n')
    user, problem = read_user_config(user_file)
    assert problem is None
    app = GenerationParams(temperature=0.5, max_tokens=100, seed=7)

    flags, base = params_from(parser().parse_args(["m"]), user, app)
    assert flags == GenerationParams()
    assert (base.temperature, base.max_tokens, base.top_p, base.seed) == (0.3, 100, 0.9, 7)
    assert base.system_prompt == "From the user file."
    model = GenerationParams(temperature=0.0)
    assert flags.over(model).over(base).temperature == 0.0

    flags, base = params_from(
        parser().parse_args(["m", "--temperature", "1.1", "--system", "S"]), user, app
    )
    effective = flags.over(model).over(base)
    assert effective.temperature == 1.1 and effective.system_prompt == "S"

    _, base = params_from(parser().parse_args(["m"]), {}, GenerationParams())
    assert (base.temperature, base.max_tokens, base.top_p) == (0.7, 512, 0.9)


def test_a_broken_user_file_is_reported_not_fatal(tmp_path):
    bad = tmp_path / ".llmchat_config"
    bad.write_text("temperature = = 1")
    values, problem = read_user_config(bad)
    assert values == {} and str(bad) in problem and "defaults" in problem
