"""Tools a model may call: what one is, what a call and its result are, and the box that runs them.

Plain data and one contract, shared by every tool's origin (a Python function the caller passed,
an MCP server's tool) and every client (the window, ``llmchat``, the Python API). Nothing runs
without ``approve`` saying so, except a tool marked ``always_allowed``; whatever goes wrong in a
call (an unknown name, arguments that are not JSON, a refusal, a timeout, the tool's own error)
becomes a ``ToolResult`` with ``is_error`` and a sentence the model can read, so a turn goes on.
Only Stop (``asyncio.CancelledError``) leaves a call without a result.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from desktop_chat.errors import DesktopChatError

Run = Callable[[dict[str, Any]], Awaitable[str]]


class ToolError(DesktopChatError):
    """A tool that cannot be offered or called as it stands (a bad function, bad arguments)."""


@dataclass(frozen=True)
class Tool:
    """One tool as the model sees it (``name``, ``description``, ``parameters``) and how to run it.

    ``server`` names the MCP server it comes from, None for a Python function. ``run`` takes the
    parsed arguments and returns the text the model reads. ``remote_name`` is the tool's own name
    on its server when ``name`` had to be qualified (two servers offering the same name).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    server: str | None
    run: Run = field(repr=False, compare=False)
    always_allowed: bool = False
    remote_name: str | None = None

    @property
    def label(self) -> str:
        """How a person sees it on an approval card: "server · tool", or the function's name."""
        own = self.remote_name or self.name
        return own if self.server is None else f"{self.server} · {own}"

    def to_api(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(frozen=True)
class ToolCall:
    """A call as the model sent it: ``arguments`` is the raw JSON text, parsed only on demand."""

    id: str
    name: str
    arguments: str

    def parsed(self) -> dict[str, Any]:
        """The arguments as a dict; empty text is no arguments. Raises ``ToolError``."""
        if not self.arguments.strip():
            return {}
        try:
            value = json.loads(self.arguments)
        except json.JSONDecodeError as exc:
            raise ToolError(
                f"The arguments for '{self.name}' are not valid JSON ({exc.msg} at character "
                f"{exc.pos}).",
                "Send the arguments as one JSON object.",
            ) from exc
        if not isinstance(value, dict):
            raise ToolError(
                f"The arguments for '{self.name}' are a JSON {type(value).__name__}, "
                "not an object.",
                "Send the arguments as one JSON object.",
            )
        return value

    def to_api(self) -> dict[str, Any]:
        """The entry in an assistant message's ``tool_calls``, for sending history back."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class ToolResult:
    """What a call gave back: the text the model reads, whether it is an error, how long it took."""

    call_id: str
    name: str
    content: str
    is_error: bool = False
    seconds: float = 0.0
    #: How long the call waited for the user's approval: not the tool's time, nor the reply's.
    waited_s: float = 0.0

    def to_api(self) -> dict[str, Any]:
        """The ``tool`` message that answers the call in the next request."""
        return {"role": "tool", "tool_call_id": self.call_id, "content": self.content}


class Approval(enum.Enum):
    ONCE = "once"
    ALWAYS = "always"
    DENY = "deny"


#: Asked before each call that is not always allowed: the tool and its parsed arguments.
Approve = Callable[[Tool, dict[str, Any]], Awaitable[Approval]]

DENIED = "The user denied this call. Do not call this tool again for this request unless asked."


class Toolbox:
    """The tools offered in a turn, by name, and the one way to call them.

    ``on_always`` is told of a tool the user chose to always allow, so the app can remember it
    (per server and tool, in config.toml); the toolbox itself remembers it for its lifetime.
    """

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        *,
        on_always: Callable[[Tool], None] | None = None,
    ) -> None:
        self._tools: dict[str, Tool] = {}
        self.on_always = on_always
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ToolError(f"Two tools are named '{tool.name}'.", "Give one of them another name.")
        self._tools[tool.name] = tool

    def remove(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def allow_always(self, name: str, allowed: bool = True) -> None:
        """Mark (or unmark, on a revoke) a tool as needing no approval."""
        tool = self._tools.get(name)
        if tool is not None:
            self._tools[name] = replace(tool, always_allowed=allowed)

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def to_api(self) -> list[dict[str, Any]]:
        """The OpenAI ``tools`` list (empty when there are none: then send no ``tools`` at all)."""
        return [tool.to_api() for tool in self._tools.values()]

    async def call(
        self,
        call: ToolCall,
        approve: Approve,
        # Not the caller's asyncio.timeout: it must bound the run alone, not the approval.
        timeout: float | None = 60.0,  # noqa: ASYNC109
    ) -> ToolResult:
        """Run one call after approval; every failure is a result, only Stop propagates.

        ``timeout`` bounds the tool's run, not the time the user takes to approve it.
        """
        started, waited = time.monotonic(), 0.0

        def result(content: str, is_error: bool = False) -> ToolResult:
            seconds = time.monotonic() - started
            return ToolResult(call.id, call.name, content, is_error, seconds, waited)

        tool = self._tools.get(call.name)
        if tool is None:
            offered = ", ".join(self._tools) or "none"
            return result(f"There is no tool named '{call.name}'. Tools offered: {offered}.", True)
        try:
            arguments = call.parsed()
        except ToolError as exc:
            return result(str(exc), True)
        if not tool.always_allowed:
            answer = await approve(tool, arguments)
            started, waited = time.monotonic(), time.monotonic() - started
            if answer is Approval.DENY:
                return result(DENIED, True)
            if answer is Approval.ALWAYS:
                self.allow_always(tool.name)
                if self.on_always is not None:
                    self.on_always(tool)
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                content = await tool.run(arguments)
        except TimeoutError:
            return result(
                f"The tool '{tool.label}' did not answer within {timeout:g} seconds "
                "and was stopped.",
                True,
            )
        except DesktopChatError as exc:
            return result(f"The tool '{tool.label}' failed: {exc}", True)
        except Exception as exc:  # the tool's own failure is the model's to read, not a crash
            return result(f"The tool '{tool.label}' failed: {type(exc).__name__}: {exc}", True)
        return result(content)


# --- Python functions as tools ---------------------------------------------------------------

_ARGS_HEADERS = {"Args", "Arguments", "Parameters", "Params"}
_SECTION = re.compile(r"[A-Z][a-z]+(?: [A-Z]?[a-z]+)?:")
_GOOGLE_PARAM = re.compile(r"\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)")
_SPHINX_PARAM = re.compile(r":param\s+(?:[^:]+\s+)?(\w+)\s*:\s*(.*)")


def _docstring(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The description (the text before any section) and each parameter's own words.

    Reads the two common forms: Google's ``Args:`` block and Sphinx's ``:param name: text``.
    """
    description: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None  # None: still the description; "args"; "sphinx"; "other"
    current: str | None = None
    item_indent = -1
    for line in (inspect.getdoc(fn) or "").splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if match := _SPHINX_PARAM.fullmatch(stripped):
            section, current = "sphinx", match.group(1)
            params[current] = match.group(2)
        elif stripped.startswith(":") or (indent == 0 and _SECTION.fullmatch(stripped)):
            section = "args" if stripped[:-1] in _ARGS_HEADERS else "other"
            current, item_indent = None, -1
        elif section is None:
            description.append(line)
        elif (
            section == "args"
            and (match := _GOOGLE_PARAM.fullmatch(stripped))
            and (item_indent < 0 or indent <= item_indent)
        ):
            current, item_indent = match.group(1), indent
            params[current] = match.group(2)
        elif section in ("args", "sphinx") and current and stripped:
            params[current] = f"{params[current]} {stripped}".strip()
    return "\n".join(description).strip(), params


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    from pydantic_core import to_jsonable_python

    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)


def function_tool(fn: Callable[..., Any], *, name: str | None = None) -> Tool:
    """A Tool from a Python function: its name, docstring, and signature's type hints.

    The parameters' JSON schema and the validation of the model's arguments are pydantic's
    (a model built from the signature), so a wrong type becomes an error the model reads.
    A plain function runs on a worker thread so it cannot block the loop; an async one is awaited.
    Its return value is the text the model reads (anything not a string is sent as JSON).
    """
    import typing

    from pydantic import ConfigDict, Field, ValidationError, create_model

    if not callable(fn):
        raise ToolError(f"{fn!r} is not a function.", "Pass functions (or Tools) as tools=.")
    tool_name = name or getattr(fn, "__name__", "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tool_name):
        raise ToolError(
            f"'{tool_name}' cannot be a tool's name.",
            "Use letters, digits, '_' or '-' (64 at most), or pass name=.",
        )
    description, param_docs = _docstring(fn)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ToolError(
            f"The type hints of '{tool_name}' cannot be read: {exc}.",
            "Use types importable where the function is defined.",
        ) from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue  # a model can only send named arguments the schema lists
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolError(
                f"'{tool_name}' has a positional-only parameter '{param.name}'.",
                "A model sends arguments by name: drop the '/'.",
            )
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (
            annotation,
            Field(default, description=param_docs.get(param.name)),
        )
    try:
        model = create_model(  # type: ignore[call-overload]
            f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )
        schema = model.model_json_schema()
    except Exception as exc:
        raise ToolError(
            f"The parameters of '{tool_name}' cannot be described as JSON: {exc}.",
            "Use JSON-like types (str, int, float, bool, list, dict, Literal, pydantic models).",
        ) from exc
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})

    async def run(arguments: dict[str, Any]) -> str:
        try:
            parsed = model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ToolError(f"The arguments do not fit: {problems}.") from None
        kwargs = {key: getattr(parsed, key) for key in fields}
        if inspect.iscoroutinefunction(fn):
            value = await fn(**kwargs)
        else:
            value = await asyncio.to_thread(fn, **kwargs)
            if inspect.isawaitable(value):
                value = await value
        return _to_text(value)

    return Tool(
        name=tool_name,
        description=description or tool_name,
        parameters=schema,
        server=None,
        run=run,
    )
