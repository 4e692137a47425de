"""Personas (named system prompts, optionally with a model and parameters) and prompt
templates (reusable instructions with a placeholder). A few good ones are built in; the
user's own live in the conversation store, so the window and ``llmchat`` share them."""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop_chat.params import GenerationParams
from desktop_chat.store import Store

#: In a template, where the selected text (or what is in the composer) goes.
SELECTION = "{selection}"


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    system_prompt: str = ""
    #: A model to switch to when the persona is chosen ("provider:model", an alias, a folder).
    model: str | None = None
    params: GenerationParams = field(default_factory=GenerationParams)
    built_in: bool = False


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    text: str
    built_in: bool = False

    def fill(self, selection: str) -> str:
        """The template with the selection in its place (or after it, if it has none)."""
        if SELECTION in self.text:
            return self.text.replace(SELECTION, selection)
        return f"{self.text}\n\n{selection}".strip()


DEFAULT = Persona("Default", built_in=True)
BUILT_IN_PERSONAS = (
    DEFAULT,
    Persona(
        "Concise",
        "Answer in as few words as the question allows. No preamble, no summary at the end.",
        built_in=True,
    ),
    Persona(
        "Code reviewer",
        "You are a senior engineer reviewing code. Point out bugs first, "
        "then risky patterns, then style, each with the line it concerns and a fix.",
        params=GenerationParams(temperature=0.2),
        built_in=True,
    ),
    Persona(
        "Writing editor",
        "You are a careful editor. Improve clarity and flow, keep the "
        "author's voice, and list the changes you made.",
        built_in=True,
    ),
    Persona(
        "Patient teacher",
        "Explain step by step, with a small example, and check "
        "understanding with one question at the end.",
        built_in=True,
    ),
)
BUILT_IN_TEMPLATES = (
    Template(
        "Summarise", "Summarise the following in five bullet points:\n\n{selection}", built_in=True
    ),
    Template(
        "Explain this code",
        "Explain what this code does, step by step, and any surprising behaviour:\n\n{selection}",
        built_in=True,
    ),
    Template(
        "Find bugs",
        "Find the bugs in this code. For each: the line, what goes wrong, "
        "and the fix.\n\n{selection}",
        built_in=True,
    ),
    Template(
        "Summarise the attached files",
        "Summarise the attached files: what each one is for, and how they relate.",
        built_in=True,
    ),
)


def _persona(name: str, data: dict) -> Persona:
    return Persona(
        name,
        data.get("system_prompt", ""),
        data.get("model") or None,
        GenerationParams.from_mapping(data.get("params", {})),
    )


class Library:
    """Built-in and user personas and templates; a user entry with a built-in's name wins."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def personas(self) -> list[Persona]:
        mine = {name: _persona(name, data) for name, data in self.store.library_items("persona")}
        built = [mine.pop(p.name, p) for p in BUILT_IN_PERSONAS]
        return built + list(mine.values())

    def persona(self, name: str | None) -> Persona:
        return next((p for p in self.personas() if p.name == name), DEFAULT)

    def save_persona(self, persona: Persona) -> None:
        data = {
            "system_prompt": persona.system_prompt,
            "model": persona.model,
            "params": persona.params.to_dict(),
        }
        self._save("persona", persona.name, data)

    def templates(self) -> list[Template]:
        mine = {
            name: Template(name, data["text"])
            for name, data in self.store.library_items("template")
        }
        built = [mine.pop(t.name, t) for t in BUILT_IN_TEMPLATES]
        return built + list(mine.values())

    def save_template(self, template: Template) -> None:
        self._save("template", template.name, {"text": template.text})

    def delete(self, kind: str, name: str) -> None:
        """A user entry goes; a built-in one comes back as it was. A refused write raises
        ``StoreError``, as every store write does."""
        self.store.delete_library_item(kind, name)

    def _save(self, kind: str, name: str, data: dict) -> None:
        if not name.strip():
            raise ValueError("Give it a name.")
        self.store.save_library_item(kind, name.strip(), data)
