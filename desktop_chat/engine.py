"""The local MLX engine: one worker thread owns the model.

Since mlx 0.31.2 streams are thread-local and lazy arrays belong to the thread that made them,
so loading, generating and unloading all run on the one thread that ``serve()`` runs on — a
plain thread here (terminal chat, Python API) or a QThread in the window. Others talk to it
only through ``submit()``, which returns a ``concurrent.futures.Future``: the pattern of
``mlx_lm.server``. This is the only module that imports ``mlx`` or ``mlx_lm``, and only lazily.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from desktop_chat import hub, vision_engine
from desktop_chat.config import LOCAL_CONTEXT_TOKENS, Settings
from desktop_chat.errors import DesktopChatError, ImagesNotSupported, ProviderError
from desktop_chat.events import (
    Event,
    ReasoningDelta,
    ReplyClock,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from desktop_chat.model_names import model_name
from desktop_chat.params import GenerationParams
from desktop_chat.prompt_caches import (
    FOLDER,
    Held,
    PromptCaches,
    common_prefix,
    model_fingerprint,
)
from desktop_chat.reasoning import DROPPED, THOUGHT_MARKERS, ReplyParser, opens_thought, piece_kind
from desktop_chat.stop_strings import StopMatcher
from desktop_chat.tool_call_text import ToolCallText

log = logging.getLogger(__name__)


class ModelTooLarge(DesktopChatError):
    """The model would not fit in memory; refused before Metal could abort the process."""


class GenerationStopped(Exception):
    """Raised inside the worker to abandon a prefill when the user pressed Stop."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    path: str
    #: The context held now, memory-checked: it grows when a conversation needs more.
    context_length: int
    weights_bytes: int
    load_s: float
    #: The model's own window (``max_position_embeddings``): the context never goes past it.
    window: int
    #: Thinking can be switched: the tokenizer marks thoughts (mlx-lm's ``has_thinking``)
    #: and the chat template reads ``enable_thinking`` (a Python one may take it too).
    thinks: bool = False
    #: The chat template reads ``reasoning_effort`` (gpt-oss's does).
    takes_effort: bool = False
    #: A vision model (``hub.is_vision_folder``), run by mlx-vlm: it sees a message's images.
    vision: bool = False
    #: It can call tools: mlx-lm knows its tool-call format (``has_tool_calling``, a parser)
    #: and its chat template renders ``tools``. A model without is offered none.
    tools: bool = False


@dataclass(slots=True)
class _Loaded:
    info: ModelInfo
    model: Any
    tokenizer: Any
    cache: Any = None
    #: The tokens whose keys and values ``cache`` holds, in order.
    cache_tokens: list[int] = field(default_factory=list)
    #: What its prompt caches are matched by (``prompt_caches.model_fingerprint``).
    fingerprint: str = ""
    #: Said once that its KV cache cannot be quantized (``[app] kv_bits``).
    kv_warned: bool = False
    #: A vision model's mlx-vlm processor (``tokenizer`` is its tokenizer); its ``cache`` is
    #: then mlx-vlm's own (``vision_engine.new_cache``), not one of ``caches``.
    processor: Any = None


def _metal_working_set() -> int | None:
    """Metal's recommended working set: about two thirds of a Mac's RAM, which the GPU shares.
    None off the Mac (mlx's CPU build reports no such figure)."""
    import mlx.core as mx

    info: dict = {}
    if hasattr(mx, "device_info"):  # mlx >= 0.29; before it, only mx.metal.device_info
        info = mx.device_info()
    elif mx.metal.is_available():
        info = mx.metal.device_info()
    limit = info.get("max_recommended_working_set_size")
    return int(limit) if limit else None


def memory_limit_bytes() -> int:
    """What this machine can give a model: Metal's recommended working set, else the RAM."""
    return _metal_working_set() or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


#: The group size of a quantized KV cache (mlx-lm's default): one 16-bit scale and bias each.
KV_GROUP = 64


def kv_group(model_dir: Path) -> int | None:
    """The group size a quantized KV cache can use for this model: each group lies within one
    head's values, so the head size must divide by it (64, mlx-lm's default, else 32)."""
    text = hub.text_config(model_dir)
    heads = int(text.get("num_attention_heads", 1))
    head_dim = int(text.get("head_dim") or text.get("hidden_size", 0) // max(heads, 1))
    return next((g for g in (KV_GROUP, 32) if head_dim and head_dim % g == 0), None)


def kv_fraction(kv_bits: int | None) -> float:
    """A quantized KV cache's size against the 16-bit one: its bits, and a scale and a bias
    per group (8 bits: 0.53; 4 bits: 0.28)."""
    return 1.0 if kv_bits is None else (kv_bits + 32 / KV_GROUP) / 16


def estimate_bytes(
    model_dir: Path, context_length: int, kv_bits: int | None = None
) -> tuple[int, int]:
    """(weights, KV cache at ``context_length``) in bytes, from the files and config.json;
    ``kv_bits``: the cache quantized (``[app] kv_bits``)."""
    weights = hub.weights_bytes(model_dir)
    text = hub.text_config(model_dir)
    layers = int(text.get("num_hidden_layers", 0))
    heads = int(text.get("num_attention_heads", 1))
    kv_heads = int(text.get("num_key_value_heads") or heads)
    head_dim = int(text.get("head_dim") or text.get("hidden_size", 0) // max(heads, 1))
    kv = 2 * layers * kv_heads * head_dim * context_length * 2  # keys + values, 16-bit
    return weights, int(kv * kv_fraction(kv_bits))


def _context_length(model_dir: Path) -> int:
    """The model's own window; 4,096 tokens when its config does not say."""
    return hub.context_length(model_dir) or 4096


def working_context(model_dir: Path, wanted: int | None = None) -> int:
    """The context the engine loads this model for: ``wanted`` (``[app] local_context_tokens``),
    never more than the model was trained for. A longer conversation grows it (``grown_context``);
    what still does not fit loses its oldest turns, so the KV cache never outgrows it."""
    return min(_context_length(model_dir), wanted or LOCAL_CONTEXT_TOKENS)


def check_fits(model_dir: Path, context: int, kv_bits: int | None = None) -> tuple[int, int]:
    """(weights, KV cache) in bytes; ``ModelTooLarge`` with the numbers when the two would not
    fit in what this machine can give, before Metal could abort the process."""
    weights, kv = estimate_bytes(model_dir, context, kv_bits)
    limit = memory_limit_bytes()
    if weights + kv > limit:
        gib = 1024**3
        mac = _metal_working_set() is not None
        where = "this Mac" if mac else "this machine"
        figure = "Metal's recommended working set" if mac else "its RAM"
        shorter = f", or a shorter context ([app] local_context_tokens, now {context})"
        raise ModelTooLarge(
            f"{model_dir.name} needs about {(weights + kv) / gib:.1f} GB "
            f"({weights / gib:.1f} GB of weights + {kv / gib:.1f} GB for a {context:,}-token "
            f"context), but {where} can give it {limit / gib:.1f} GB ({figure}).",
            "Choose a smaller or more quantized model (4-bit)"
            + (shorter if kv > limit / 4 else "")
            + ".",
        )
    return weights, kv


def most_context(model_dir: Path, kv_bits: int | None = None) -> int:
    """The longest context whose KV cache fits beside the weights in what this machine can give
    (the figure ``check_fits`` compares with), never past the model's window."""
    weights, per_token = estimate_bytes(model_dir, 1, kv_bits)
    window = _context_length(model_dir)
    if per_token <= 0:
        return window
    return max(0, min(window, (memory_limit_bytes() - weights) // per_token))


def grown_context(model_dir: Path, held: int, needed: int, kv_bits: int | None = None) -> int:
    """The context to hold for a conversation that needs ``needed`` tokens (its prompt and the
    reply) while ``held`` are held: ``needed`` once the memory check passes for it, else the
    most the model's window and the memory allow; never less than ``held``, which was checked
    already. The weights stay loaded: only the KV cache's size changes."""
    if needed <= held:
        return held
    try:
        wanted = working_context(model_dir, needed)
        try:
            check_fits(model_dir, wanted, kv_bits)
        except ModelTooLarge:
            wanted = min(wanted, most_context(model_dir, kv_bits))
    except (OSError, ValueError):  # its folder changed since it loaded: keep what was checked
        return held
    return max(held, wanted)


def engine_for(settings: Settings) -> MlxEngine:
    """An engine (not started) whose prompt caches follow ``settings``: kept in the app's cache
    folder, within ``[app] prompt_cache_disk_gb`` and ``prompt_cache_memory_gb``."""
    from desktop_chat.paths import app_paths

    gib = 1 << 30
    disk = settings.prompt_cache_disk_gb
    folder = app_paths().cache_dir / FOLDER if disk > 0 else None
    caches = PromptCaches(folder, int(settings.prompt_cache_memory_gb * gib), int(disk * gib))
    return MlxEngine(caches, settings.kv_bits)


class MlxEngine:
    """A job queue served by one thread; every mlx call happens on that thread."""

    def __init__(self, caches: PromptCaches | None = None, kv_bits: int | None = None) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], Future] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._owner: int | None = None
        self._loaded: _Loaded | None = None
        #: Each conversation's prompt cache, in memory and (given a folder) on disk.
        self.caches = caches if caches is not None else PromptCaches(None)
        #: The memory the pool may hold beyond the loaded context, as the caller set it.
        self._pool_bytes = self.caches.memory_bytes
        #: ``[app] kv_bits``: the KV cache quantized to 8 or 4 bits (counted so by the check).
        self.kv_bits = kv_bits

    # --- the thread ----------------------------------------------------------------------

    def start(self) -> MlxEngine:
        """Serve on a thread of our own (the window hosts ``serve()`` on a QThread instead)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve, name="mlx-engine", daemon=True)
            self._thread.start()
        return self

    def serve(self) -> None:
        """Run jobs until ``shutdown()``; call from the thread that is to own the model."""
        self._owner = threading.get_ident()
        while (job := self._jobs.get()) is not None:
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # forwarded to the caller, never lost in the thread
                future.set_exception(exc)
        self._unload()
        self._release_streams()

    @staticmethod
    def _release_streams() -> None:
        """Free this thread's MLX streams before it ends. Left to thread teardown, their worker
        threads are destroyed still joinable and the process aborts at exit ("terminate called
        without an active exception") about one run in five; see ml-explore/mlx#3395."""
        mx = sys.modules.get("mlx.core")
        if mx is None:
            return
        mx.synchronize()
        if hasattr(mx, "clear_streams"):  # mlx >= 0.31.2
            mx.clear_streams()

    def submit(self, fn: Callable[[], Any]) -> Future:
        future: Future = Future()
        self._jobs.put((fn, future))
        return future

    def shutdown(self, wait: bool = True) -> None:
        """Free the model on its own thread and stop serving."""
        self._jobs.put(None)
        if wait and self._thread is not None:
            self._thread.join()
            self._thread = None

    def _check_thread(self) -> None:
        assert threading.get_ident() == self._owner, "mlx work must run on the engine thread"

    # --- jobs (these run on the engine thread) -------------------------------------------

    @property
    def info(self) -> ModelInfo | None:
        return None if self._loaded is None else self._loaded.info

    def load(self, model_dir: str | Path, context_length: int | None = None) -> Future:
        return self.submit(lambda: self._load(Path(model_dir), context_length))

    def unload(self) -> Future:
        return self.submit(self._unload)

    def active_memory(self) -> Future:
        def read() -> int:
            import mlx.core as mx

            return mx.get_active_memory()

        return self.submit(read)

    def _load(self, model_dir: Path, context_length: int | None) -> ModelInfo:
        self._check_thread()
        if not hub.is_model_folder(model_dir):
            raise ProviderError(
                f"{model_dir} is not a model folder (it has no config.json).",
                "Pick a folder that holds an MLX model, or a Hugging Face id.",
            )
        context = working_context(model_dir, context_length)
        loaded = self._loaded
        if loaded is not None and loaded.info.path == str(model_dir):
            # Its weights are in memory already: a longer context (a setting raised) needs only
            # a fresh memory check, which refuses it with the numbers and keeps what is held.
            if context > loaded.info.context_length:
                check_fits(model_dir, context, self.kv_bits)
                loaded.info = replace(loaded.info, context_length=context)
            return loaded.info
        weights, _kv = check_fits(model_dir, context, self.kv_bits)
        self._unload()
        start = time.perf_counter()
        vision, processor = hub.is_vision_folder(model_dir), None
        try:
            if vision:  # by mlx-vlm, the [vision] extra; without it, a sentence says so
                model, processor = vision_engine.load(model_dir)
                tokenizer = vision_engine.tokenizer_of(processor)
            else:
                from mlx_lm import load

                model, tokenizer = load(str(model_dir))
        except DesktopChatError:
            raise
        except Exception as exc:  # damaged safetensors, a missing tokenizer, an unknown arch
            raise ProviderError(
                f"{model_dir.name} could not be loaded ({type(exc).__name__}: {exc}).",
                "Its files may be damaged or incomplete: delete the model and download it "
                "again, or pick another.",
            ) from exc
        # A downloaded model by its repo's name, not its snapshot folder's hash.
        name, took = model_name(str(model_dir)), time.perf_counter() - start
        info = ModelInfo(
            name,
            str(model_dir),
            context,
            weights,
            took,
            _context_length(model_dir),
            *_reasoning_switches(tokenizer),
            vision=vision,
            tools=not vision and _uses_tools(tokenizer),
        )
        fingerprint = model_fingerprint(model_dir, self.kv_bits)
        self._loaded = _Loaded(info, model, tokenizer, fingerprint=fingerprint, processor=processor)
        # Other conversations' caches sit beside the one in use: within what the memory check
        # leaves over the weights and the context held, and within the setting.
        _weights, kv = estimate_bytes(model_dir, context, self.kv_bits)
        spare = max(0, memory_limit_bytes() - weights - kv)
        self.caches.memory_bytes = min(self._pool_bytes, spare)
        return info

    def _unload(self) -> None:
        if self._loaded is None:
            return
        import mlx.core as mx

        self._loaded = None
        self.caches.drop()  # computed by the model that goes: on disk they stay
        gc.collect()
        mx.clear_cache()

    def generate(
        self,
        messages: Sequence[dict[str, str]],
        params: GenerationParams,
        on_event: Callable[[Event], None],
        stop: threading.Event,
        context_tokens: int | None = None,
        cache_key: str | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Future:
        """Stream a reply to ``on_event`` (called on the engine thread), ending with a
        ``Finished`` that carries what only a local engine can tell (cached prompt tokens,
        dropped turns and why, the context held, prompt speed, peak memory); the future holds
        None or the error. Setting ``stop`` ends it within a token or prefill step. The context
        held grows to ``context_tokens`` (``[app] local_context_tokens``) and to what the
        conversation needs, as far as the memory check allows (``grown_context``).
        ``cache_key``: the conversation, whose prompt cache is reused and kept (``caches``).
        ``tools`` (the OpenAI ``tools`` list) go to a tool model's chat template; a reply that
        calls them ends with a ``ToolCallRequest`` and finish_reason "tool_calls". A model
        without tools (``ModelInfo.tools``) is not offered them."""
        return self.submit(
            lambda: self._generate(
                list(messages), params, on_event, stop, context_tokens, cache_key, tools
            )
        )

    def _hold(self, needed: int) -> None:
        """Hold ``needed`` tokens of context if the model's window and the memory allow, else
        the most they allow: checked here, on the engine thread, before the prefill."""
        loaded = self._loaded
        held = loaded.info.context_length
        context = grown_context(Path(loaded.info.path), held, needed, self.kv_bits)
        if context != held:
            log.info(
                "context of %s grown from %d to %d tokens (%d needed)",
                loaded.info.name,
                held,
                context,
                needed,
            )
            loaded.info = replace(loaded.info, context_length=context)

    def _prompt_tokens(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        floor: int = 0,
        template_args: dict[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
    ) -> tuple[list[int], int, str, vision_engine.Prompt | None]:
        """Template the conversation (with ``template_args``: the thinking switches; and the
        ``tools`` offered), hold the context it needs (``_hold``), then drop the oldest turns
        (never the system prompt, never the newest message) until it fits the context held
        with room for the reply.
        Returns the tokens, how many turns were dropped, the prompt's text, and for a vision
        model the prompt its processor made (images included: a dropped turn's go with it)."""
        loaded = self._loaded
        tokenizer = loaded.tokenizer
        budget = None
        vision = None
        dropped = 0
        args = dict(template_args or {})
        while True:
            try:
                if loaded.processor is not None:
                    vision = vision_engine.prompt(loaded.model, loaded.processor, messages, args)
                    text = vision.text
                else:
                    offered = {"tools": tools} if tools else {}
                    text = tokenizer.apply_chat_template(
                        messages, add_generation_prompt=True, tokenize=False, **args, **offered
                    )
            except TypeError:
                # A template written in Python (mlx-lm's chat_templates) that does not take a
                # thinking switch: the reply is asked for without it.
                if not args:
                    raise
                log.info("%s's chat template does not take %s", loaded.info.name, sorted(args))
                args = {}
                continue
            if vision is not None:  # each image counted as the image tokens it became
                tokens = vision.tokens
            else:
                tokens = tokenizer.encode(text, add_special_tokens=False)
            if budget is None:  # the whole conversation, before anything is left out
                self._hold(max(floor, len(tokens) + max_tokens))
                budget = loaded.info.context_length - max_tokens
            turns = [i for i, m in enumerate(messages) if m["role"] != "system"]
            if len(tokens) <= budget or len(turns) <= 1:
                break
            del messages[turns[0]]
            dropped += 1
        if len(tokens) > budget:
            where = "the model's window" if self._limit() == "window" else "the memory"
            raise ProviderError(
                f"The message is {len(tokens):,} tokens; {where} holds {max(budget, 0):,} "
                f"beside a {max_tokens:,}-token reply.",
                "Shorten the message or its attached files, or lower max_tokens.",
            )
        return tokens, dropped, text, vision

    def _quantized_kv(self) -> dict[str, int]:
        """``stream_generate``'s switches for a quantized KV cache, from its first token; none
        for a model whose heads are too narrow to quantize (mlx groups 32 or 64 values), which
        then keeps the full cache (said once in the log)."""
        if self.kv_bits is None:
            return {}
        group = kv_group(Path(self._loaded.info.path))
        if group is None:
            if not self._loaded.kv_warned:
                log.warning("%s: heads too narrow for a quantized KV cache", self._loaded.info.name)
                self._loaded.kv_warned = True
            return {}
        return {"kv_bits": self.kv_bits, "kv_group_size": group, "quantized_kv_start": 0}

    def _limit(self) -> str:
        """What keeps the context from growing: the model's own window, or the memory."""
        info = self._loaded.info
        return "window" if info.context_length >= info.window else "memory"

    def _generate(
        self,
        messages,
        params: GenerationParams,
        on_event,
        stop,
        context_tokens: int | None = None,
        cache_key: str | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        self._check_thread()
        if self._loaded is None:
            raise ProviderError("No local model is loaded.", "Choose a model to load first.")
        import mlx.core as mx
        from mlx_lm import stream_generate
        from mlx_lm.models.cache import can_trim_prompt_cache, make_prompt_cache, trim_prompt_cache
        from mlx_lm.sample_utils import make_logits_processors, make_sampler

        loaded = self._loaded
        if loaded.processor is None and vision_engine.image_urls(messages):
            # Refused before anything is read: only a vision model can answer this.
            raise ImagesNotSupported(
                f"{loaded.info.name} cannot see images: it is a text-only model.",
                "Choose a vision model (the model menu marks the ones that see images) and ask "
                "again, or send the message without its images.",
            )
        max_tokens = params.max_tokens or 512
        if params.system_prompt and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": params.system_prompt})
        floor = min(context_tokens or 0, loaded.info.window)
        offered = list(tools or ()) if loaded.info.tools else []
        if loaded.processor is None:
            messages = _template_messages(messages)
        tokens, dropped, prompt, vision = self._prompt_tokens(
            messages, max_tokens, floor, _template_args(params), offered
        )

        # Reuse the conversation's cache (in memory, else on disk) for the longest common
        # prefix; feed only the rest. Always feed at least one token, so the model has logits
        # to sample the first reply token from. A vision model's cache is mlx-vlm's own, which
        # finds the common prefix itself.
        common = 0
        if vision is None:
            held = self.caches.take(loaded.fingerprint, cache_key, tokens)
            loaded.cache, loaded.cache_tokens = (
                (None, []) if held is None else (held.cache, held.tokens)
            )
            if loaded.cache is None or not can_trim_prompt_cache(loaded.cache):
                loaded.cache, loaded.cache_tokens = make_prompt_cache(loaded.model), []
            common = min(common_prefix(loaded.cache_tokens, tokens), len(tokens) - 1)
            if len(loaded.cache_tokens) > common:
                trim_prompt_cache(loaded.cache, len(loaded.cache_tokens) - common)
            loaded.cache_tokens = loaded.cache_tokens[:common]
        elif loaded.cache is None:
            loaded.cache = vision_engine.new_cache()

        if params.seed is not None:
            mx.random.seed(params.seed)
        sampler = make_sampler(
            temp=params.temperature if params.temperature is not None else 0.7,
            top_p=params.top_p or 0.0,
            top_k=params.top_k or 0,
        )
        processors = make_logits_processors(
            presence_penalty=params.presence_penalty or None,
            frequency_penalty=params.frequency_penalty or None,
        )

        def progress(_done: int, _total: int) -> None:
            if stop.is_set():
                raise GenerationStopped

        clock = ReplyClock()
        generated: list[int] = []
        # Thinking apart from the answer; stop strings end the answer only, so a thought that
        # happens to contain one is not cut short of its answer.
        parser = _reply_parser(loaded.tokenizer, prompt)
        matcher = StopMatcher(params.stop)
        # Tool calls apart from the answer, when tools were offered: never shown as its text.
        tokenizer = loaded.tokenizer
        calls = (
            ToolCallText(tokenizer.tool_call_start, tokenizer.tool_call_end) if offered else None
        )
        thought_tokens = answer_tokens = 0

        def send(events: list[Event]) -> None:
            nonlocal thought_tokens, answer_tokens
            for event in events:
                if isinstance(event, TextDelta):
                    text = event.text if calls is None else calls.feed(event.text)
                    # Only the tail is searched; a stop string and what follows never show.
                    if text and (shown := matcher.feed(text)):
                        on_event(TextDelta(shown))
                    continue
                if isinstance(event, ReasoningDelta) and event.was_answer:
                    matcher.discard()  # what it held was thinking
                    clock.answer_was_thought()
                    thought_tokens, answer_tokens = thought_tokens + answer_tokens, 0
                on_event(event)

        generation = {
            "max_tokens": max_tokens,
            "sampler": sampler,
            "logits_processors": processors,
            **self._quantized_kv(),
        }
        if vision is None:
            responses = stream_generate(
                loaded.model,
                loaded.tokenizer,
                tokens[common:],
                prompt_cache=loaded.cache,
                prompt_progress_callback=progress,
                **generation,
            )
        else:  # mlx-vlm reads the whole prompt in one go: Stop is seen at its first token
            responses = vision_engine.stream(
                loaded.model, loaded.processor, vision, loaded.cache, **generation
            )
        finish = None
        last = None
        broke = False
        try:
            for response in responses:
                last = response
                generated.append(response.token)
                thinking = parser.thinking
                events = parser.text(response.text)
                kind = piece_kind(events, thinking or parser.thinking)
                if kind == "reasoning":
                    thought_tokens += 1
                elif kind == "answer":
                    answer_tokens += 1
                if response.text:
                    clock.tick(kind)
                send(events)
                if matcher.stopped:
                    finish, broke = "stop", True
                    break
                if stop.is_set():
                    finish, broke = "cancelled", True
                    break
                finish = response.finish_reason
        except GenerationStopped:
            # A prefill abandoned half-way leaves the cache in an unknown state: start afresh.
            loaded.cache, loaded.cache_tokens = None, []
            return
        except Exception:
            loaded.cache, loaded.cache_tokens = None, []
            raise
        if not matcher.stopped:
            send(parser.close())
            if calls is not None and (rest := calls.close()) and (shown := matcher.feed(rest)):
                on_event(TextDelta(shown))
        if held := matcher.flush():  # the start of a stop string that never completed
            on_event(TextDelta(held))
        requested = (
            _tool_calls(tokenizer, calls, offered) if calls and finish != "cancelled" else ()
        )
        if requested:
            on_event(ToolCallRequest(requested))
            finish = "tool_calls"
        completion = len(generated)
        if vision is not None:
            common = last.cached_tokens if last is not None else 0
            # mlx-vlm's final result repeats the last token: its own count is the right one.
            completion = last.generation_tokens if last is not None else 0
            if broke:  # mlx-vlm records the cache's tokens only at the end: start afresh
                loaded.cache = None
        else:
            offset = loaded.cache[0].offset if loaded.cache else 0
            loaded.cache_tokens = (tokens + generated)[:offset]
            held = Held(loaded.cache, loaded.cache_tokens, loaded.fingerprint, cache_key)
            self.caches.keep(held)
            if cache_key is not None:  # saved after the reply has ended, before the next job
                self.submit(lambda: self.caches.save(held))
        extra = {
            "prompt_tps": last.prompt_tps if last is not None else 0.0,
            "peak_memory_gb": last.peak_memory if last is not None else 0.0,
            "cached_prompt_tokens": common,
            "dropped_messages": dropped,
            "context_tokens": loaded.info.context_length,
        }
        if dropped:
            extra["context_limit"] = self._limit()
        usage = Usage(len(tokens), completion, reasoning_tokens=thought_tokens or None)
        name = loaded.info.name
        on_event(
            clock.finish(finish_reason=finish, usage=usage, model=name, provider="mlx", extra=extra)
        )


def _template_args(params: GenerationParams) -> dict[str, Any]:
    """The thinking switches, as chat templates take them (only those set: a template that
    does not know them ignores them; mlx-lm renames ``enable_thinking`` where it must)."""
    args: dict[str, Any] = {}
    if params.think is not None:
        args["enable_thinking"] = params.think
    if params.reasoning_effort is not None:
        args["reasoning_effort"] = params.reasoning_effort  # gpt-oss's template reads it
    return args


def _uses_tools(tokenizer: Any) -> bool:
    """Whether this tokenizer's model can call tools: mlx-lm found its tool-call format (from
    its template or tokenizer_config's ``tool_parser_type``) and its template, when it is text,
    renders the ``tools`` it is given (a Python one, mlx-lm's ``chat_templates``, is trusted)."""
    if not getattr(tokenizer, "has_tool_calling", False) or tokenizer.tool_parser is None:
        return False
    template = getattr(tokenizer, "chat_template", None)
    return not isinstance(template, str) or "tools" in template


def _template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as chat templates take them: a call's arguments as a dict, not the JSON
    text the OpenAI form carries (templates write ``arguments | tojson``), as mlx_lm.server
    hands them over; arguments that are not JSON stay text."""
    out = []
    for message in messages:
        if message.get("role") == "assistant" and message.get("tool_calls"):
            message = {**message, "tool_calls": [_parsed_call(c) for c in message["tool_calls"]]}
        out.append(message)
    return out


def _parsed_call(call: dict[str, Any]) -> dict[str, Any]:
    function = dict(call.get("function") or {})
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        with contextlib.suppress(ValueError):  # not JSON: the template gets the text
            function["arguments"] = json.loads(arguments) if arguments.strip() else {}
    return {**call, "function": function}


def _tool_calls(tokenizer: Any, calls: ToolCallText, tools: list[dict[str, Any]]) -> tuple:
    """The calls a reply wrote, read by mlx-lm's parser for the model (``tool_parser``), as
    ``tools.ToolCall``s with new ids and the arguments as JSON text. A call it cannot read
    (cut short by the token limit, bad JSON) is left out and said in the log, as
    mlx_lm.server does."""
    from desktop_chat.tools import ToolCall

    out = []
    for text in calls.calls:
        try:
            parsed = tokenizer.tool_parser(text, tools)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("a tool call could not be read (%s: %s): %r", type(exc).__name__, exc, text)
            continue
        for call in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(call, dict) or not call.get("name"):
                log.warning("a tool call without a name: %r", text)
                continue
            arguments = call.get("arguments", {})
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False)
            call_id = call.get("id") or f"call_{uuid.uuid4().hex[:12]}"
            out.append(ToolCall(str(call_id), str(call["name"]), arguments))
    return tuple(out)


def _reasoning_switches(tokenizer: Any) -> tuple[bool, bool]:
    """(thinking can be switched, effort can be set) for this tokenizer: what the window's
    Think switch offers. A template in Python (mlx-lm's ``chat_templates``) has no text to
    read: its thinking markers alone say it thinks."""
    template = getattr(tokenizer, "chat_template", None)
    text = template if isinstance(template, str) else None
    thinks = bool(getattr(tokenizer, "has_thinking", False)) and (
        text is None or "enable_thinking" in text
    )
    return thinks, text is not None and "reasoning_effort" in text


def _reply_parser(tokenizer: Any, prompt: str) -> ReplyParser:
    """The parser for this model's replies: every known thought marker and the tokenizer's own
    (``TokenizerWrapper.think_start``/``think_end``), its structural markers dropped, starting
    inside the thought when the templated prompt opened one."""
    pairs, dropped = THOUGHT_MARKERS, DROPPED
    if getattr(tokenizer, "has_thinking", False):
        own = (tokenizer.think_start, tokenizer.think_end)
        pairs = (own, *(p for p in pairs if p != own))
    extra = tuple(m for m in getattr(tokenizer, "structural_markers", ()) if m not in dropped)
    return ReplyParser(opens_thought(prompt, pairs), pairs, dropped + extra)
