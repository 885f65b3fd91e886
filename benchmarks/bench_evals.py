"""Eval-run performance: the figures docs/benchmarks.md states.

1. 1,000 cases against an HTTP chatbot with a fixed 100 ms latency at concurrency 16
   (ideal 6.25 s): wall time of the ask phase and of the whole `pytest evals/` run.
2. Start-up and collection of 10,000 cases (`pytest evals/ --collect-only`).
3. Per-case overhead against a 0 ms target: the runner alone (in process), and the whole pytest
   run per case (collection, asking, checks, reports) with a `python:` target that answers at once.

Run: .venv/bin/python benchmarks/bench_evals.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_project(root: Path, n_cases: int) -> Path:
    shutil.copytree(REPO / "evals", root / "evals", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "pyproject.toml").write_text(
        "[tool.llmops]\ncases = 'cases'\ntimeout_s = 30\nmax_latency_ms = 5000\n"
    )
    (root / "cases").mkdir()
    lines = ["suite: bench", "cases:"]
    for i in range(n_cases):
        lines += [f"  - id: case-{i:05d}", f"    prompt: How do I freeze my card? ({i})",
                  "    expect: {contains_any: [freeze, lock]}"]
    (root / "cases" / "bench.yaml").write_text("\n".join(lines) + "\n")
    (root / "zero.py").write_text("def reply(messages):\n    return 'Freeze it in the app.'\n")
    return root


def pytest_run(root: Path, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider",
         "--no-feedback", *args],
        cwd=root, capture_output=True, text=True,
    )
    took = time.perf_counter() - start
    if out.returncode not in (0, 1):
        raise SystemExit(out.stdout[-3000:] + out.stderr[-3000:])
    return took, out.stdout


def bench_http(n: int, latency_ms: float, concurrency: int) -> None:
    from llmops.chatbot.server import create_app, serve_in_thread

    ideal = n * latency_ms / 1000 / concurrency
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(
        create_app("v1", latency_ms=latency_ms)
    ) as url:
        root = make_project(Path(tmp), n)
        took, out = pytest_run(root, "--target", url, "--concurrency", str(concurrency))
        asked = float(re.search(r"asked in ([\d.]+) s", out).group(1))
        print(f"{n} cases x {latency_ms:.0f} ms at concurrency {concurrency}: ideal {ideal:.2f} s, "
              f"ask phase {asked:.2f} s ({asked / ideal:.2f}x ideal), whole run {took:.2f} s")


def bench_collect(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp), n)
        took, out = pytest_run(root, "--collect-only")
        items = re.search(r"(\d+) tests? collected", out)
        print(f"start-up + collection of {n} cases ({items.group(1) if items else '?'} checks): "
              f"{took:.2f} s")


def bench_overhead(n: int) -> None:
    from llmops.runner import RetryPolicy, ask_all
    from llmops.targets import Reply, Target

    class Zero(Target):
        name = "zero"

        async def ask(self, messages: list[dict[str, str]]) -> Reply:
            return Reply("ok")

    reqs = [(i, [{"role": "user", "content": f"q{i}"}]) for i in range(n)]
    start = time.perf_counter()
    asyncio.run(ask_all(Zero(), reqs, concurrency=16, policy=RetryPolicy()))
    per = (time.perf_counter() - start) / n * 1000
    print(f"runner overhead per case against a 0 ms target: {per:.3f} ms ({n} cases)")
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp), 1000)
        base, _ = pytest_run(root, "--collect-only")
        took, out = pytest_run(root, "--target", "python:zero:reply")
        checks = int(re.search(r"(\d+) passed", out).group(1))
        print(f"whole pytest run against a 0 ms target, beyond collection: {took - base:.2f} s for "
              f"1000 cases = {(took - base):.2f} ms per case, "
              f"{(took - base) / checks * 1000:.3f} ms per check ({checks} checks)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    a = ap.parse_args()
    bench_http(200 if a.quick else 1000, 100, 16)
    bench_collect(1000 if a.quick else 10_000)
    bench_overhead(2000 if a.quick else 10_000)


if __name__ == "__main__":
    main()
