"""LLM backend performance: the figures docs/llm.md states (needs the llm extra).

1. Model load time: SmolLM2-135M-Instruct (Q4_1 GGUF) loaded by llama.cpp, fresh each time.
2. Generation speed: tokens/s (overall and decoding) and time to the first token (the prompt,
   ~150 tokens, evaluated), at 1 and 2 llama.cpp threads.
3. The LLM eval run's ask phase (the cases of cases_llm/ against the `llm` version, in process):
   wall time and latency p50/p95 for each engine layout (threads per instance x instances) at
   concurrency 1, 2 and 4: the fastest is what `llm.yaml` sets.
4. The whole `pytest evals/ --target reference:llm --cases cases_llm` run at concurrency 1, 2, 4.

The machine's 2 cores are shared: every figure is the best of `--repeat` runs.

Run: .venv/bin/python benchmarks/bench_llm.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT = "Explain step by step how to set up online banking."


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def bench_load(repeat: int) -> None:
    from llama_cpp import Llama

    from llmops.chatbot.llm import model_path

    path = model_path()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        model = Llama(model_path=str(path), n_ctx=2048, n_threads=1, verbose=False)
        times.append(time.perf_counter() - start)
        del model
    size = path.stat().st_size / 1e6
    print(f"model load ({path.name}, {size:.0f} MB): best {min(times) * 1000:.0f} ms, "
          f"median {statistics.median(times) * 1000:.0f} ms over {repeat}", flush=True)


def bench_tokens(repeat: int) -> None:
    from llmops.chatbot import Chatbot, load_version

    spec = load_version("llm")
    for threads in (1, 2):
        llm = dataclasses.replace(spec.llm, n_threads=threads, max_tokens=128)
        bot = Chatbot(dataclasses.replace(spec, llm=llm))
        bot.reply("Hello")  # load and warm up
        best = None
        for i in range(repeat):
            bot.reply(f"{PROMPT} ({i})")  # a new prompt each time: no cached prefix but the system
            gen = bot.llm.last
            decode_s = gen.seconds - (gen.first_token_s or 0)
            decode = (gen.completion_tokens - 1) / decode_s if decode_s > 0 else 0.0
            ttft = (gen.first_token_s or 0.0) * 1000
            row = (gen.tokens_per_s, decode, ttft, gen.completion_tokens, gen.seconds)
            best = row if best is None or row[0] > best[0] else best
        tps, decode, ttft, n, secs = best
        print(f"generation, {threads} thread(s): {tps:.0f} tokens/s overall ({n} tokens in "
              f"{secs:.2f} s), decoding {decode:.0f} tokens/s, first token after "
              f"{ttft:.0f} ms", flush=True)


async def _ask_phase(spec, cases, concurrency: int) -> tuple[float, list[float], int]:
    from llmops.chatbot import Chatbot
    from llmops.runner import RetryPolicy, ask_all
    from llmops.targets import Reply, Target

    bot = Chatbot(spec)
    await bot.areply("Hello")  # the model is loaded before the clock starts, as in a real run

    class InProcess(Target):
        name = f"reference:{spec.name}"

        async def ask(self, messages):
            return Reply(await bot.areply(messages))

    start = time.perf_counter()
    got = await ask_all(InProcess(), [(c.id, list(c.messages)) for c in cases],
                        concurrency=concurrency, policy=RetryPolicy(retries=0, timeout_s=120))
    wall = time.perf_counter() - start
    latencies = [e.latency_ms for e in got.values() if e.latency_ms is not None]
    return wall, latencies, sum(not e.ok for e in got.values())


def bench_eval_layouts(repeat: int, quick: bool) -> None:
    from llmops.cases import load_cases
    from llmops.chatbot import load_version

    cases = load_cases([REPO / "cases_llm"]).cases
    spec = load_version("llm")
    layouts = [(1, 1), (2, 1), (1, 2)] if not quick else [(1, 1), (2, 1)]
    print(f"\nask phase of the LLM eval run ({len(cases)} cases of cases_llm/, in process), "
          f"best of {repeat}:")
    print("threads x instances  concurrency   wall s   p50 ms   p95 ms")
    for threads, instances in layouts:
        llm = dataclasses.replace(spec.llm, n_threads=threads, instances=instances)
        variant = dataclasses.replace(spec, llm=llm)
        for conc in (1, 2, 4):
            runs = [asyncio.run(_ask_phase(variant, cases, conc)) for _ in range(repeat)]
            wall, lat, failed = min(runs, key=lambda r: r[0])
            print(f"{threads:>7} x {instances:<9}  {conc:>11}  {wall:>7.1f}  "
                  f"{percentile(lat, 0.5):>7.0f}  {percentile(lat, 0.95):>7.0f}"
                  + (f"  ({failed} failed)" if failed else ""), flush=True)


def bench_pytest(repeat: int) -> None:
    print(f"\nwhole `pytest evals/ --target reference:llm --cases cases_llm`, best of {repeat}:")
    print("concurrency   wall s  ask s  (results: checks passed/failed)")
    for conc in (1, 2, 4):
        best = None
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                out = subprocess.run(
                    [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider",
                     "--target", "reference:llm", "--cases", "cases_llm", "--no-feedback",
                     "--concurrency", str(conc), "--reports", tmp],
                    cwd=REPO, capture_output=True, text=True,
                )
                wall = time.perf_counter() - start
            if out.returncode not in (0, 1):
                sys.exit(f"pytest failed ({out.returncode}):\n{out.stdout[-2000:]}")
            asked = next((ln for ln in out.stdout.splitlines() if "asked in" in ln), "")
            tail = out.stdout.strip().splitlines()[-1]
            if best is None or wall < best[0]:
                best = (wall, asked.split("asked in")[-1].strip(), tail)
        print(f"{conc:>11}  {best[0]:>7.1f}  {best[1]:<6} ({best[2]})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer layouts, one repeat")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", choices=("load", "tokens", "layouts", "pytest"))
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        sys.exit('the llm extra is not installed: pip install -e ".[llm]"')
    steps = {
        "load": lambda: bench_load(max(3, repeat)),
        "tokens": lambda: bench_tokens(repeat),
        "layouts": lambda: bench_eval_layouts(repeat, args.quick),
        "pytest": lambda: bench_pytest(repeat),
    }
    for name, step in steps.items():
        if args.only in (None, name):
            step()


if __name__ == "__main__":
    main()
