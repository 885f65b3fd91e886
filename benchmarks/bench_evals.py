"""Eval-run performance (issue 18, goals 2, 3 and 5): the figures docs/benchmarks.md states.

Every run is `pytest evals/` in a throw-away project against benchmarks/stub_server.py (its own
process, a fixed latency), with every report on (report.html, junit.xml, results.json); each
case has the four safe defaults and one expectation: five checks. The stub counts the requests,
so each figure also checks that every case was asked exactly once.

1. After the last answer: 1,000 cases at 100 ms, concurrency 16; from the stub's last answer to
   the end of the process, per check (target <= 0.3 ms).
2. Scale: 10,000 cases (50,000 checks) start and collect (`--collect-only`, target <= 3 s);
   1,000 cases at 100 ms, concurrency 16, whole run within 1.15x the ideal 6.25 s plus the
   start-up of a 1-case run.
3. Memory: 10,000 cases at 0 ms with every report, peak RSS (target <= 300 MB).
4. The runner alone against an in-process 0 ms target (overhead per case).

    .venv/bin/python benchmarks/bench_evals.py [--quick] [--repeat 3] [--python PATH]

--python picks the interpreter whose llmops runs (default: a venv of the core install, as in
bench_startup.py); figures are medians of --repeat runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evalbench import (
    core_venv,
    load,
    make_project,
    median,
    pytest_cmd,
    run,
    stub_server,
    verdict,
)

TARGETS = {"after_ms_per_check": 0.3, "collect_10k_s": 3.0, "ratio": 1.15, "rss_mb": 300.0}


def _checks(out: str) -> int:
    m = re.search(r"(\d+) passed", out)
    return int(m.group(1)) if m else 0


def _asked_once(stats: dict, n: int, what: str) -> None:
    if stats["answered"] != n or stats["asked_more_than_once"]:
        raise SystemExit(f"{what}: the stub answered {stats['answered']} requests for {n} "
                         f"cases ({stats['asked_more_than_once']} prompts more than once)")


def bench_ask(python: str, n: int, latency_ms: float, conc: int, repeat: int) -> dict:
    """Whole-run wall time and what happens after the last answer."""
    walls, afters, startups = [], [], []
    checks = 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp, stub_server(latency_ms) as stub:
            one = make_project(Path(tmp) / "one", 1, stub.url, concurrency=conc)
            run(pytest_cmd(python), make_project(Path(tmp) / "warm", 1, stub.url))  # warm-up
            startups.append(run(pytest_cmd(python), one, ok=(0,)).wall_s)
            before = stub.stats()["answered"]
            root = make_project(Path(tmp) / "many", n, stub.url, concurrency=conc)
            r = run(pytest_cmd(python), root, ok=(0,))
            stats = stub.stats()
            stats["answered"] -= before
            _asked_once(stats, n, f"{n} cases")
            checks = _checks(r.stdout) - 1  # less the case-file test
            walls.append(r.wall_s)
            afters.append(r.ended_at - stats["last_answer_at"])
    ideal = n * latency_ms / 1000 / conc
    res = {"wall": median(walls), "after": median(afters), "startup": median(startups),
           "checks": checks, "ideal": ideal}
    print(f"{n} cases x {latency_ms:g} ms, concurrency {conc}: whole run {res['wall']:.2f} s "
          f"(ideal {ideal:.2f} s, 1-case start-up {res['startup']:.2f} s); after the last answer "
          f"{res['after']:.2f} s for {checks} checks = "
          f"{res['after'] / checks * 1000:.3f} ms per check (medians of {repeat})")
    return res


def bench_collect(python: str, n: int, repeat: int) -> float:
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp), n, "http://127.0.0.1:9/v1")
        run(pytest_cmd(python, "--collect-only"), root, ok=(0,))  # warm-up
        for _ in range(repeat):
            r = run(pytest_cmd(python, "--collect-only"), root, ok=(0,))
            walls.append(r.wall_s)
    items = re.search(r"(\d+) tests? collected", r.stdout)
    print(f"start-up + collection of {n} cases ({items.group(1) if items else '?'} checks): "
          f"median {median(walls):.2f} s of {repeat}")
    return median(walls)


def bench_memory(python: str, n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, stub_server(0) as stub:
        root = make_project(Path(tmp), n, stub.url, concurrency=16)
        rss = Path(tmp) / "rss"
        r = run(["/usr/bin/time", "-f", "%M", "-o", str(rss), *pytest_cmd(python)], root,
                ok=(0,))
        _asked_once(stub.stats(), n, f"{n} cases (memory)")
        peak = int(rss.read_text().split()[-1]) / 1024
        sizes = {p.name: p.stat().st_size / 1e6 for p in (root / "reports").iterdir()
                 if p.is_file()}
    print(f"{n} cases at 0 ms with every report: peak RSS {peak:.0f} MB, whole run "
          f"{r.wall_s:.1f} s; " + ", ".join(f"{k} {v:.1f} MB" for k, v in sorted(sizes.items())))
    return peak


def bench_runner(n: int) -> None:
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
    print(f"runner overhead per case against an in-process 0 ms target: {per:.3f} ms ({n} cases)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--python", default="core",
                    help="interpreter whose llmops runs; `core` (default): a venv of the core "
                    "install, llmops reinstalled from this work tree")
    ap.add_argument("--only", choices=["ask", "collect", "memory", "runner"])
    a = ap.parse_args()
    a.python = str(core_venv()) if a.python == "core" else os.path.abspath(a.python)
    big, mid = (2000, 200) if a.quick else (10_000, 1000)
    print(f"load average at start: {load():.2f}")
    ok = True
    if a.only in (None, "ask"):
        res = bench_ask(a.python, mid, 100, 16, a.repeat)
        ok &= verdict("per check after the last answer", res["after"] / res["checks"] * 1000,
                      TARGETS["after_ms_per_check"], "ms")
        ok &= verdict(f"{mid} cases at 100 ms, concurrency 16, beyond start-up, x ideal",
                      (res["wall"] - res["startup"]) / res["ideal"], TARGETS["ratio"], "x")
    if a.only in (None, "collect"):
        ok &= verdict(f"start and collect {big} cases", bench_collect(a.python, big, a.repeat),
                      TARGETS["collect_10k_s"])
    if a.only in (None, "memory"):
        ok &= verdict(f"peak RSS of {big} cases with every report", bench_memory(a.python, big),
                      TARGETS["rss_mb"], "MB")
    if a.only in (None, "runner"):
        bench_runner(10_000)
    print(f"load average at end: {load():.2f}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
