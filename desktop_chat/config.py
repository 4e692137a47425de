"""Settings: one TOML file, ``config.toml``; no secrets in it, ever.

Loading never raises for a bad file: it returns the settings it could use plus a list of
``ConfigError`` naming the file, line and key. A file that is not valid TOML leaves the app on
its defaults; a bad entry is skipped and the rest is used. The user's file is never rewritten.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_chat.errors import ConfigError
from desktop_chat.mcp_config import McpServerSettings, parse_servers
from desktop_chat.params import NAMES as PARAM_NAMES
from desktop_chat.params import GenerationParams
from desktop_chat.paths import AppPaths

_TOP_KEYS = {"default_model", "defaults", "providers", "aliases", "app", "discovery", "mcp"}

#: (name, port) of the servers people run locally, on their default ports.
KNOWN_LOCAL_SERVERS: tuple[tuple[str, int], ...] = (
    ("ollama", 11434),
    ("lm-studio", 1234),
    ("local-8080", 8080),  # mlx_lm.server and llama.cpp's server both default to 8080
    ("jan", 1337),
)
#: Seconds to wait for a reply's first token before saying so: a remote API answers in a few
#: seconds; a local server may first have to load the model from disk.
FIRST_TOKEN_TIMEOUT_S = 30.0
FIRST_TOKEN_TIMEOUT_LOCAL_S = 180.0
#: The context a local (MLX) model is given, in tokens: room for a long chat and a few files,
#: while the memory it costs stays small (Llama 3.2 3B: 1.75 GiB of KV cache at 16,384 tokens,
#: against 14 GiB at the 131,072 it was trained for). Never more than the model's own window.
LOCAL_CONTEXT_TOKENS = 16_384
#: Local conversations' prompt caches: on disk (reopening a long chat reads only what is new)
#: and in memory beside the one in use (switching chats swaps them), in GB.
PROMPT_CACHE_DISK_GB = 4.0
PROMPT_CACHE_MEMORY_GB = 2.0
#: Requests one reply may make that end asking for tools, before it must answer without them.
TOOL_ROUNDS = 8
_APP_KEYS = (
    "hotkey",
    "menu_bar_only",
    "debug_log",
    "first_token_timeout",
    "first_token_timeout_local",
    "local_context_tokens",
    "prompt_cache_disk_gb",
    "prompt_cache_memory_gb",
    "kv_bits",
    "tool_rounds",
    "mcp_at_launch",
    "image_max_side",
)
_PROVIDER_KEYS = {"base_url", "models", "key", "allow_insecure_key", "params", "image_max_side"}


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    name: str
    base_url: str
    models: tuple[str, ...] = ()
    params: GenerationParams = field(default_factory=GenerationParams)
    #: The keychain item that holds this provider's key.
    key: str = ""
    allow_insecure_key: bool = False
    #: Found on a local port, not set up by the user: it gets no key the user did not give it.
    discovered: bool = False
    #: ``image_max_side``: the longest side of an image sent to it (None: image_sizes.py's).
    image_max_side: int | None = None

    @property
    def key_name(self) -> str:
        return self.key or self.name


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    #: "provider:model" (or, once the local engine exists, a Hugging Face id or folder).
    target: str
    params: GenerationParams = field(default_factory=GenerationParams)


@dataclass(slots=True)
class Settings:
    default_model: str | None = None
    defaults: GenerationParams = field(default_factory=lambda: GenerationParams(temperature=0.7))
    providers: dict[str, ProviderSettings] = field(default_factory=dict)
    aliases: dict[str, Alias] = field(default_factory=dict)
    #: The quick prompt's global shortcut; None: the platform's default; "off": none.
    hotkey: str | None = None
    #: No Dock icon: the app lives in the menu bar only. None: not set by the user, so the
    #: bundle decides (its Info.plist's LSUIElement; a Dock icon when not in a bundle).
    menu_bar_only: bool | None = None
    #: The log also records message text, for a bug report (``[app] debug_log``).
    debug_log: bool = False
    #: ``[discovery]``: look for servers already running on this machine, and on which ports.
    discover_local_servers: bool = True
    #: ``[app] first_token_timeout`` / ``first_token_timeout_local`` (a server on this machine).
    first_token_timeout_s: float = FIRST_TOKEN_TIMEOUT_S
    first_token_timeout_local_s: float = FIRST_TOKEN_TIMEOUT_LOCAL_S
    local_servers: tuple[tuple[str, int], ...] = KNOWN_LOCAL_SERVERS
    #: ``[app] local_context_tokens``: the context a local model is loaded (and its memory
    #: checked) for; a longer conversation grows it as far as the memory allows.
    local_context_tokens: int = LOCAL_CONTEXT_TOKENS
    #: ``[app] prompt_cache_disk_gb`` / ``prompt_cache_memory_gb``: the prompt caches' budgets
    #: (0 on disk: none saved).
    prompt_cache_disk_gb: float = PROMPT_CACHE_DISK_GB
    prompt_cache_memory_gb: float = PROMPT_CACHE_MEMORY_GB
    #: ``[app] kv_bits = 8`` or ``4``: a quantized KV cache for long local chats when memory is
    #: tight (about a half or a quarter of the memory, slightly different replies). None: full.
    kv_bits: int | None = None
    #: ``[app] tool_rounds``: how many rounds of tool calls one reply may make (then it is
    #: asked to answer without tools).
    tool_rounds: int = TOOL_ROUNDS
    #: ``[app] image_max_side``: the longest side of an image sent to any provider without
    #: its own (None: each provider's figure, image_sizes.py).
    image_max_side: int | None = None
    #: ``[app] mcp_at_launch = true``: start the MCP servers when the app starts, not with
    #: the first message that could use their tools.
    mcp_at_launch: bool = False
    #: ``[mcp.servers.NAME]``: the MCP servers whose tools models may call (mcp_config.py).
    mcp_servers: dict[str, McpServerSettings] = field(default_factory=dict)

    def dock_hidden(self) -> bool:
        """Whether the app lives in the menu bar only: the user's choice, else the bundle's."""
        if self.menu_bar_only is not None:
            return self.menu_bar_only
        from desktop_chat.platform.dock import bundle_menu_bar_only

        return bundle_menu_bar_only()


@dataclass(slots=True)
class LoadedSettings:
    settings: Settings
    errors: list[ConfigError]
    #: Files that were read, in order.
    sources: list[Path]
    #: True when this load wrote the commented default file.
    created: bool = False


def default_config_text() -> str:
    return (Path(__file__).with_name("default_config.toml")).read_text(encoding="utf-8")


def load_settings(
    paths: AppPaths, *, write_default: bool = True, cwd: Path | None = None
) -> LoadedSettings:
    """Read ``config.toml`` (writing the commented default when there is none) and the older
    ``chat_config.toml`` beside it when present; with ``cwd`` (``llmchat``), also the
    ``chat_config.toml`` of that folder, where chatybot read it. What a file names first
    stays: config.toml, then the settings folder's chat_config.toml, then the folder's."""
    settings = Settings()
    result = LoadedSettings(settings, [], [])
    path = paths.config_file
    if not path.exists() and write_default:
        result.created = _write_default(path, result.errors)
    if path.exists():
        data = _read_toml(path, result.errors)
        if data is not None:
            result.sources.append(path)
            if _looks_legacy(data):
                _apply_legacy(settings, data, _Where(path), result.errors)
            else:
                _apply(settings, data, _Where(path), result.errors)
    legacy_files = [paths.legacy_config_file]
    if cwd is not None:
        legacy_files.append(cwd / "chat_config.toml")
    for legacy in legacy_files:
        if not legacy.is_file() or legacy.resolve() in {p.resolve() for p in result.sources}:
            continue
        data = _read_toml(legacy, result.errors)
        if data is not None:
            result.sources.append(legacy)
            _apply_legacy(settings, data, _Where(legacy), result.errors)
    return result


def load_file(path: Path) -> LoadedSettings:
    """Read one settings file of either shape, without writing anything."""
    settings = Settings()
    result = LoadedSettings(settings, [], [])
    data = _read_toml(path, result.errors)
    if data is not None:
        result.sources.append(path)
        apply = _apply_legacy if _looks_legacy(data) else _apply
        apply(settings, data, _Where(path), result.errors)
    return result


def _write_default(path: Path, errors: list[ConfigError]) -> bool:
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        errors.append(
            ConfigError(
                "is a file, not a folder: the settings in it cannot be read or saved.",
                path=str(folder),
                hint="Move that file elsewhere and restart; until then Desktop Chat runs on its "
                "defaults.",
            )
        )
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # "x" refuses to replace a file that appeared meanwhile: the user's file always wins.
        with path.open("x", encoding="utf-8") as f:
            f.write(default_config_text())
    except FileExistsError:
        return False
    except OSError as exc:
        errors.append(
            ConfigError(
                f"could not be created ({exc.strerror or exc}).",
                path=str(path),
                hint="Desktop Chat runs on its defaults; check the folder's permissions.",
            )
        )
        return False
    return True


_LINE_RE = re.compile(r"at line (\d+)")


def _read_toml(path: Path, errors: list[ConfigError]) -> dict[str, Any] | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        errors.append(ConfigError(f"could not be read ({exc.strerror or exc}).", path=str(path)))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        errors.append(ConfigError("is not UTF-8 text.", path=str(path), line=line, hint=_SAVE_HINT))
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _LINE_RE.search(message)
        detail = _LINE_RE.sub("", message).replace("(, column", "(column").strip()
        errors.append(
            ConfigError(
                f"is not valid TOML: {detail}",
                path=str(path),
                line=int(match.group(1)) if match else None,
                hint="Fix the line and restart; until then Desktop Chat runs on its defaults.",
            )
        )
        return None


_SAVE_HINT = "Save it as UTF-8 and restart; until then Desktop Chat runs on its defaults."


class _Where:
    """Finds the line of a key in the file's text, so errors can point at it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            self.lines = []

    def line_of(self, table: tuple[str, ...], key: str | None) -> int | None:
        current: tuple[str, ...] = ()
        header_line = None
        for number, raw in enumerate(self.lines, start=1):
            line = raw.strip()
            if line.startswith("["):
                name = line.strip("[]").split("#")[0].strip().strip("]")
                current = tuple(p.strip().strip('"') for p in name.split("."))
                if current == table:
                    header_line = number
                continue
            if key is None:
                continue
            if current == table and re.match(rf'^"?{re.escape(key)}"?\s*=', line):
                return number
            # Inline tables and dotted keys: `name = {...}` or `name.key = ...`.
            if (
                table
                and current == table[:-1]
                and re.match(rf'^"?{re.escape(table[-1])}"?\s*[.=]', line)
            ):
                return number
        if header_line is None and key is None and table:
            # `name = value` instead of a [name] table: point at that line.
            return self.line_of(table[:-1], table[-1])
        return header_line

    def error(
        self, message: str, table: tuple[str, ...], key: str | None, hint: str = ""
    ) -> ConfigError:
        dotted = ".".join((*table, key) if key else table) or None
        return ConfigError(
            message, path=str(self.path), line=self.line_of(table, key), key=dotted, hint=hint
        )


def _params(data: Any, where: _Where, table: tuple[str, ...], errors: list) -> GenerationParams:
    if not isinstance(data, dict):
        errors.append(where.error("must be a table of generation parameters.", table, None))
        return GenerationParams()
    good: dict[str, Any] = {}
    for key, value in data.items():
        try:
            GenerationParams.from_mapping({key: value})
        except KeyError:
            errors.append(
                where.error(
                    "is not a generation parameter.",
                    table,
                    key,
                    f"Known ones: {', '.join(PARAM_NAMES)}.",
                )
            )
        except (ValueError, TypeError) as exc:
            errors.append(where.error(f"is invalid: {exc}.", table, key))
        else:
            good[key] = value
    return GenerationParams.from_mapping(good)


def _string(value: Any, where: _Where, table, key, errors) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    errors.append(where.error(f"must be non-empty text, not {value!r}.", table, key))
    return None


def _apply(settings: Settings, data: dict, where: _Where, errors: list[ConfigError]) -> None:
    for key in data:
        if key not in _TOP_KEYS:
            errors.append(
                where.error(
                    "is not a setting Desktop Chat knows; it was ignored.",
                    (),
                    key,
                    "Known ones: default_model, [defaults], [providers.NAME], [aliases], [app], "
                    "[discovery], [mcp.servers.NAME].",
                )
            )
    if "default_model" in data:
        settings.default_model = _string(data["default_model"], where, (), "default_model", errors)
    if "defaults" in data:
        settings.defaults = _params(data["defaults"], where, ("defaults",), errors).over(
            settings.defaults
        )
    providers = data.get("providers", {})
    if not isinstance(providers, dict):
        errors.append(where.error("must be a table of [providers.NAME] tables.", (), "providers"))
        providers = {}
    for name, table in providers.items():
        provider = _provider(name, table, where, errors)
        if provider is not None:
            settings.providers[name] = provider
    _apply_app(settings, data.get("app", {}), where, errors)
    _apply_discovery(settings, data.get("discovery", {}), where, errors)
    if "mcp" in data:
        settings.mcp_servers = parse_servers(data["mcp"], where.error, errors)
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict):
        errors.append(where.error("must be a table of aliases.", (), "aliases"))
        aliases = {}
    for name, value in aliases.items():
        alias = _alias(name, value, where, errors)
        if alias is not None:
            settings.aliases[name] = alias


def _apply_app(settings: Settings, table: Any, where: _Where, errors: list) -> None:
    """``[app]``: hotkey = "ctrl+alt+space" (or "off"), menu_bar_only and debug_log = true/false,
    first_token_timeout(_local) = seconds."""
    if not isinstance(table, dict):
        errors.append(where.error("must be a table: [app].", (), "app"))
        return
    for key in table:
        if key not in _APP_KEYS:
            errors.append(
                where.error(
                    "is not an [app] setting; it was ignored.",
                    ("app",),
                    key,
                    f"Known ones: {', '.join(_APP_KEYS)}.",
                )
            )
    if "hotkey" in table:
        value = table["hotkey"]
        if not isinstance(value, str):
            errors.append(
                where.error('must be text, like "ctrl+alt+space" or "off".', ("app",), "hotkey")
            )
        elif value.strip().lower() in ("off", "none", ""):
            settings.hotkey = "off"
        else:
            from desktop_chat.platform.hotkey import parse

            try:
                settings.hotkey = parse(value).spec()
            except ValueError as exc:
                errors.append(where.error(f"is not a shortcut: {exc}", ("app",), "hotkey"))
    for key in ("menu_bar_only", "debug_log", "mcp_at_launch"):
        if key not in table:
            continue
        if isinstance(table[key], bool):
            setattr(settings, key, table[key])
        else:
            errors.append(where.error("must be true or false.", ("app",), key))
    for key in ("first_token_timeout", "first_token_timeout_local"):
        value = table.get(key)
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 3600:
            setattr(settings, f"{key}_s", float(value))
        else:
            errors.append(where.error("must be a number of seconds, like 30.", ("app",), key))
    value = table.get("local_context_tokens")
    if isinstance(value, int) and not isinstance(value, bool) and 512 <= value <= 1 << 20:
        settings.local_context_tokens = value
    elif value is not None:
        errors.append(
            where.error(
                "must be a number of tokens from 512 up, like 16384.",
                ("app",),
                "local_context_tokens",
            )
        )
    value = table.get("tool_rounds")
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100:
        settings.tool_rounds = value
    elif value is not None:
        errors.append(
            where.error("must be a number from 1 to 100, like 8.", ("app",), "tool_rounds")
        )
    settings.image_max_side = _image_side(table, where, ("app",), errors)
    _apply_caches(settings, table, where, errors)


def _image_side(table: dict, where: _Where, at: tuple[str, ...], errors: list) -> int | None:
    """``image_max_side`` in ``table`` (pixels, 256 to 8192), or None: not set, or said wrong
    (then the provider's default is used)."""
    from desktop_chat.image_sizes import HIGHEST, LOWEST

    value = table.get("image_max_side")
    if isinstance(value, int) and not isinstance(value, bool) and LOWEST <= value <= HIGHEST:
        return value
    if value is not None:
        errors.append(
            where.error(
                f"must be a number of pixels from {LOWEST} to {HIGHEST}, like 2048; each "
                "provider's own size is used meanwhile.",
                at,
                "image_max_side",
            )
        )
    return None


def _apply_caches(settings: Settings, table: dict, where: _Where, errors: list) -> None:
    """``[app]``: prompt_cache_disk_gb, prompt_cache_memory_gb (GB, 0 up) and kv_bits (4 or 8)."""
    for key in ("prompt_cache_disk_gb", "prompt_cache_memory_gb"):
        value = table.get(key)
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 4096:
            setattr(settings, key, float(value))
        else:
            errors.append(where.error("must be a number of gigabytes, like 4.", ("app",), key))
    value = table.get("kv_bits")
    if value in (4, 8) and not isinstance(value, bool):
        settings.kv_bits = value
    elif value is not None:
        errors.append(
            where.error("must be 8 or 4 (leave it out for a full KV cache).", ("app",), "kv_bits")
        )


def _apply_discovery(settings: Settings, table: Any, where: _Where, errors: list) -> None:
    """``[discovery]``: enabled = true/false, ports = { name = port, … } (replaces the list)."""
    at = ("discovery",)
    if not isinstance(table, dict):
        errors.append(where.error("must be a table: [discovery].", (), "discovery"))
        return
    for key in table:
        if key not in ("enabled", "ports"):
            errors.append(
                where.error(
                    "is not a [discovery] setting; it was ignored.",
                    at,
                    key,
                    "Known ones: enabled, ports.",
                )
            )
    if "enabled" in table:
        if isinstance(table["enabled"], bool):
            settings.discover_local_servers = table["enabled"]
        else:
            errors.append(where.error("must be true or false.", at, "enabled"))
    if "ports" in table:
        ports = table["ports"]
        good = isinstance(ports, dict) and all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports.values()
        )
        if good:
            settings.local_servers = tuple((str(name), port) for name, port in ports.items())
        else:
            errors.append(
                where.error("must be a table of name = port, like { ollama = 11434 }.", at, "ports")
            )


def _provider(name: str, table: Any, where: _Where, errors: list) -> ProviderSettings | None:
    at = ("providers", name)
    if not isinstance(table, dict):
        errors.append(where.error("must be a table with base_url, models, key.", at, None))
        return None
    for key in table:
        if key not in _PROVIDER_KEYS:
            errors.append(
                where.error(
                    "is not a provider setting; it was ignored.",
                    at,
                    key,
                    "Known ones: base_url, models, key, allow_insecure_key, image_max_side, "
                    "[params]."
                    + (
                        " API keys belong in the keychain, not in this file."
                        if "key" in key
                        else ""
                    ),
                )
            )
    if "base_url" not in table:
        errors.append(where.error("has no base_url; the provider was skipped.", at, None))
        return None
    base_url = _string(table["base_url"], where, at, "base_url", errors)
    if base_url is None:
        return None
    if not re.match(r"^https?://[^/\s]+", base_url):
        errors.append(
            where.error(
                f"must be an http(s) URL, not {base_url!r}; the provider was skipped.",
                at,
                "base_url",
            )
        )
        return None
    models: tuple[str, ...] = ()
    raw_models = table.get("models", [])
    if isinstance(raw_models, str):
        raw_models = [raw_models]
    if isinstance(raw_models, list) and all(isinstance(m, str) and m for m in raw_models):
        models = tuple(raw_models)
    else:
        errors.append(where.error("must be a list of model names.", at, "models"))
    key = table.get("key", "")
    if not isinstance(key, str):
        errors.append(where.error("must be the name of a keychain item.", at, "key"))
        key = ""
    insecure = table.get("allow_insecure_key", False)
    if not isinstance(insecure, bool):
        errors.append(where.error("must be true or false.", at, "allow_insecure_key"))
        insecure = False
    params = _params(table.get("params", {}), where, (*at, "params"), errors)
    side = _image_side(table, where, at, errors)
    return ProviderSettings(name, base_url, models, params, key, insecure, image_max_side=side)


def _alias(name: str, value: Any, where: _Where, errors: list) -> Alias | None:
    if isinstance(value, str):
        target = _string(value, where, ("aliases",), name, errors)
        return None if target is None else Alias(name, target)
    if isinstance(value, dict):
        at = ("aliases", name)
        if "model" not in value:
            errors.append(where.error('needs a model = "provider:model".', at, None))
            return None
        target = _string(value["model"], where, at, "model", errors)
        rest = {k: v for k, v in value.items() if k != "model"}
        params = _params(rest, where, at, errors)
        return None if target is None else Alias(name, target, params)
    errors.append(where.error('must be "provider:model" or a table.', ("aliases",), name))
    return None


# --- the older chatybot shape ------------------------------------------------------------
# One table per model alias: model name, base URL, temperature, top_k (and sometimes more);
# the first table is the default model.

_LEGACY_MODEL_KEYS = ("model", "model_name", "name")
_LEGACY_PARAM_KEYS = ("temperature", "top_k", "top_p", "max_tokens", "system_prompt")


def _looks_legacy(data: dict) -> bool:
    if not data or set(data) & _TOP_KEYS:
        return False
    return all(
        isinstance(v, dict) and any(k in v for k in _LEGACY_MODEL_KEYS) for v in data.values()
    )


def _apply_legacy(settings: Settings, data: dict, where: _Where, errors: list) -> None:
    first: str | None = None
    for alias, table in data.items():
        at = (alias,)
        if not isinstance(table, dict):
            errors.append(where.error("must be a table with model and base_url.", at, None))
            continue
        model_key = next((k for k in _LEGACY_MODEL_KEYS if k in table), None)
        if model_key is None or "base_url" not in table:
            errors.append(where.error("needs both model and base_url; skipped.", at, None))
            continue
        model = _string(table[model_key], where, at, model_key, errors)
        base_url = _string(table["base_url"], where, at, "base_url", errors)
        if model is None or base_url is None:
            continue
        if "api_key" in table:
            errors.append(
                where.error(
                    "is a plaintext API key; it was not used.",
                    at,
                    "api_key",
                    f"Store it in the keychain for provider '{alias}' (Settings → Providers) "
                    "and delete it from this file.",
                )
            )
        params = _params({k: table[k] for k in _LEGACY_PARAM_KEYS if k in table}, where, at, errors)
        # Each legacy alias is its own provider (its own URL and keychain item) and alias.
        settings.providers.setdefault(alias, ProviderSettings(alias, base_url, (model,), params))
        settings.aliases.setdefault(alias, Alias(alias, f"{alias}:{model}"))
        first = first or alias
    if first is not None and settings.default_model is None:
        settings.default_model = first
