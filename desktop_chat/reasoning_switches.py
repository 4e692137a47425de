"""Which of a reasoning model's switches do something for it: Think on/off (``enable_thinking``
through its chat template) and the effort (``reasoning_effort``). The window offers only these:
a switch that changes nothing is not shown at all.

The rule, one for every client:

- A local MLX model: what its tokenizer and chat template say, read when it loads
  (``engine.ModelInfo.thinks`` and ``takes_effort``).
- A server's model: Think when the server templates the conversation itself (OpenAI's own API
  refuses ``chat_template_kwargs``) and either the model's name is of a family whose template
  takes ``enable_thinking`` (Qwen3, GLM-4.5 and later, SmolLM3, Hunyuan), or the server has
  sent this model's thinking before and its name is not of a family that always thinks
  (DeepSeek-R1, QwQ, Magistral, Qwen3's 2507 releases) nor one whose thinking is set by effort.
  Effort when the name is of OpenAI's reasoning families (o1, o3, o4, gpt-5, gpt-oss).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from desktop_chat.keys import OPENAI_HOSTS
from desktop_chat.model_names import model_name

#: The efforts offered (``params.EFFORTS`` holds more; these are the ones every such model takes).
EFFORT_LEVELS = ("low", "medium", "high")

# Matched against the model's name, lower case, without its organisation ("Qwen/Qwen3-8B").
_EFFORT = re.compile(r"^o[134](-|$)|^gpt-5|gpt-oss")
_THINK = re.compile(r"qwen3|glm-4\.[5-9]|smollm3|hunyuan")
_ALWAYS_THINKS = re.compile(r"deepseek-r1|qwq|magistral|2507")


@dataclass(frozen=True, slots=True)
class Switches:
    #: Think on or off does something.
    think: bool = False
    #: The effort (``EFFORT_LEVELS``) does something.
    effort: bool = False

    def __bool__(self) -> bool:
        return self.think or self.effort


NONE = Switches()


def _name(model: str) -> str:
    return model_name(model).rsplit("/", 1)[-1].lower()


def local_switches(thinks: bool, takes_effort: bool) -> Switches:
    """A loaded local model's, from what its tokenizer and template say."""
    return Switches(think=thinks, effort=takes_effort)


def remote_switches(base_url: str, model: str, reasoned: bool = False) -> Switches:
    """A server's model's: by its name, or (``reasoned``) by the thinking it has sent before."""
    name = _name(model)
    effort = bool(_EFFORT.search(name))
    templates = (urlsplit(base_url).hostname or "").lower() not in OPENAI_HOSTS
    always = bool(_ALWAYS_THINKS.search(name))
    known = bool(_THINK.search(name)) and not always
    think = templates and (known or (reasoned and not always and not effort))
    return Switches(think=think, effort=effort)
