"""``uv run python -m tests.bench [--runs N]``

Each row sets the product against a baseline measured in the same run, on the same machine:
- TTFT and tokens/s streaming through ``OpenAICompatProvider`` vs the raw ``AsyncOpenAI`` SDK,
  against the same real ``mlx_lm.server`` serving the tiny model, requests interleaved;
- the import time of ``desktop_chat`` (and its public API) vs a bare interpreter;
- the window (``tests/bench/ui_bench.py``): streaming lag and CPU vs naive ``setMarkdown``,
  per-token cost at 20 KB vs 1 KB, start to window shown vs a bare PySide6 window;
- the quick prompt (``tests/bench/hotkey_bench.py``): hotkey press to its input focused, under
  Xvfb, vs ``xdotool key`` alone;
- the store (``tests/bench/store_bench.py``): opening and switching 10,000-message
  conversations vs 40-message ones, FTS search over 100,000 messages vs a ``LIKE`` scan,
  opening a 100,000-message database vs an empty one (and a start's first reads with the
  damage check to come vs none, and that check's own time).
Figures are medians; ratios are product / baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from tests.support import tiny_model
from tests.support.servers import mlx_server

PROMPT = [{"role": "user", "content": "Tell me a story."}]
MAX_TOKENS = 48


async def raw_sdk(client, model: str) -> tuple[float, float]:
    start = time.perf_counter()
    first = last = None
    tokens = 0
    stream = await client.chat.completions.create(
        model=model,
        messages=PROMPT,
        stream=True,
        temperature=0.0,
        max_tokens=MAX_TOKENS,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.perf_counter()
            first = first or now
            last = now
    return first - start, (tokens - 1) / (last - first)


async def provider(p, model: str) -> tuple[float, float]:
    from desktop_chat.params import GenerationParams

    params = GenerationParams(temperature=0.0, max_tokens=MAX_TOKENS)
    final = None
    async for event in p.stream(PROMPT, model, params):
        final = event
    return final.ttft_s, final.tokens_per_s


def import_seconds(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--only", choices=["provider", "engine", "ui", "store", "hotkey"], help="one group of rows"
    )
    args = parser.parse_args()
    rows = []
    if args.only in (None, "hotkey"):
        from tests.bench.hotkey_bench import rows as hotkey_rows

        rows += hotkey_rows()
    if args.only == "hotkey":
        return _print(rows, args)
    if args.only in (None, "store"):
        from tests.bench.store_bench import rows as store_rows

        rows += store_rows()
    if args.only == "store":
        return _print(rows, args)
    if args.only in (None, "ui"):
        from tests.bench.ui_bench import rows as ui_rows

        rows += ui_rows()
    if args.only == "ui":
        return _print(rows, args)
    if args.only != "provider":
        from tests.bench.engine_bench import rows as engine_rows

        rows += engine_rows(runs=5)
    if args.only == "engine":
        return _print(rows, args)
    with mlx_server(tiny_model.build()) as server:

        async def measure():
            from openai import AsyncOpenAI

            from desktop_chat.providers.openai_compat import OpenAICompatProvider

            # One client each, kept across requests, as the app keeps one per provider.
            client = AsyncOpenAI(base_url=server.base_url, api_key="no-key", max_retries=0)
            ours_p = OpenAICompatProvider(server.base_url, name="bench")
            # Warm both paths (imports, connections, the server's first-request costs).
            await raw_sdk(client, server.model_id)
            await provider(ours_p, server.model_id)
            raw, ours = [], []
            for _ in range(args.runs):  # interleaved, so drift hits both alike
                raw.append(await raw_sdk(client, server.model_id))
                ours.append(await provider(ours_p, server.model_id))
            await client.close()
            await ours_p.aclose()
            return raw, ours

        raw, ours = asyncio.run(measure())
    raw_ttft = statistics.median(r[0] for r in raw) * 1000
    our_ttft = statistics.median(r[0] for r in ours) * 1000
    raw_tps = statistics.median(r[1] for r in raw)
    our_tps = statistics.median(r[1] for r in ours)
    rows.append(
        ("TTFT, ms (median)", our_ttft, raw_ttft, f"{our_ttft - raw_ttft:+.2f} ms", "added ≤ 5 ms")
    )
    rows.append(("tokens/s (median)", our_tps, raw_tps, f"{our_tps / raw_tps:.3f}×", "≥ 0.98×"))
    bare = import_seconds("pass", 7)
    ours_imp = import_seconds("import desktop_chat", 7)
    api_imp = import_seconds("import desktop_chat.api", 7)
    rows.append(
        ("import desktop_chat, s", ours_imp, bare, f"+{ours_imp - bare:.3f} s", "added ≤ 0.15 s")
    )
    rows.append(
        ("import desktop_chat.api, s", api_imp, bare, f"+{api_imp - bare:.3f} s", "(for reference)")
    )

    _print(rows, args)


def _print(rows, args) -> None:
    print(f"\n{'measure':<34}{'desktop_chat':>14}{'baseline':>12}{'difference':>14}   target")
    print("-" * 84)
    for name, mine, base, diff, target in rows:
        print(f"{name:<34}{mine:>14.3f}{base:>12.3f}{diff:>14}   {target}")
    print(
        "\nbaselines, measured in the same run: bare mlx_lm.stream_generate on the same random"
        " 4-layer 512-wide llama (engine rows); turn 1 of the same chat (TTFT rows); raw"
        f" AsyncOpenAI to the same mlx_lm.server ({args.runs} interleaved runs); bare"
        " `python -c pass` (imports)"
    )


if __name__ == "__main__":
    main()
