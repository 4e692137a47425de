"""Generation parameters: what the user chose, layered over provider and app defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# Valid ranges follow the OpenAI API; servers that accept wider ranges still accept these.
_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "top_k": (0, 100_000),
    "max_tokens": (1, 10_000_000),
    "frequency_penalty": (-2.0, 2.0),
    "presence_penalty": (-2.0, 2.0),
}
#: What OpenAI's reasoning models (and gpt-oss's chat template) take as ``reasoning_effort``.
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling settings; ``None`` means "leave it to the next layer, or to the server"."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = field(default=())
    system_prompt: str | None = None
    #: Thinking on or off, for a model whose chat template takes ``enable_thinking`` (sent
    #: to servers as ``chat_template_kwargs``); None leaves it to the model.
    think: bool | None = None
    #: How hard a reasoning model thinks: one of ``EFFORTS``; None leaves it to the model.
    reasoning_effort: str | None = None

    def __post_init__(self) -> None:
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            integral = name in ("top_k", "max_tokens")
            if isinstance(value, bool) or not isinstance(value, int if integral else (int, float)):
                kind = "a whole number" if integral else "a number"
                raise ValueError(f"{name} must be {kind}, not {value!r}")
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low:g} and {high:g}, not {value!r}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ValueError(f"seed must be a whole number, not {self.seed!r}")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif not all(isinstance(s, str) for s in self.stop):
            raise ValueError(f"stop must be a list of strings, not {self.stop!r}")
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        if self.system_prompt is not None and not isinstance(self.system_prompt, str):
            raise ValueError(f"system_prompt must be text, not {self.system_prompt!r}")
        if self.think is not None and not isinstance(self.think, bool):
            raise ValueError(f"think must be true or false, not {self.think!r}")
        if self.reasoning_effort is not None and self.reasoning_effort not in EFFORTS:
            raise ValueError(
                f"reasoning_effort must be one of {', '.join(EFFORTS)}, not "
                f"{self.reasoning_effort!r}"
            )

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> GenerationParams:
        """Build from a settings table; unknown names raise ``KeyError`` naming the key."""
        names = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise KeyError(key)
        return cls(**data)

    def over(self, base: GenerationParams) -> GenerationParams:
        """These parameters layered over ``base``: set values win."""
        merged = {}
        for f in dataclasses.fields(self):
            mine = getattr(self, f.name)
            merged[f.name] = mine if mine not in (None, ()) else getattr(base, f.name)
        return GenerationParams(**merged)

    def replace(self, **changes: Any) -> GenerationParams:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Only what is set, ready for settings files and request metadata."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value not in (None, ()):
                out[f.name] = list(value) if f.name == "stop" else value
        return out


#: Every parameter's name, in order: what settings tables, ``LLMConfig`` and a call's options
#: accept (derived, so a new parameter is known everywhere at once).
NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(GenerationParams))
#: The switches for a reasoning model's thinking.
REASONING: tuple[str, ...] = ("think", "reasoning_effort")
#: The sampling ones: all but the system prompt and the thinking switches, which clients
#: keep apart.
SAMPLING: tuple[str, ...] = tuple(n for n in NAMES if n != "system_prompt" and n not in REASONING)
