"""Monitoring performance: wrapper overhead per exchange, and summarising a million events.

    .venv/bin/python benchmarks/bench_monitoring.py [--events 1000000] [--calls 20000]
    .venv/bin/python benchmarks/bench_monitoring.py --only hosts [--hosts 20 --per-host 500000]

1. Overhead: a chatbot function that returns at once, called bare and monitored (real PII
   detector, both logs written, rotation on); the difference per call is the monitoring cost.
   Measured for plain prompts and for PII-bearing ones, sync and async.
2. Summary: a JSONL log of N realistic events (3 versions, errors, empty replies, PII, a week of
   timestamps, long redacted texts) is read and summarised in a fresh process (so its peak RSS is
   the summary's alone), as `llmops monitor summarize` does, then with `--html`.
3. Fleet (`--only hosts`): 20 hosts' logs of 500,000 events each (10 million, ~6.3 GB), read
   through a glob by DuckDB, summarised, exported to Parquet, and the Parquet summarised.
Targets: overhead < 0.5 ms per exchange; 1,000,000 events in < 3.5 s; 10,000,000 events in
< 60 s and < 1.5 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = [
    "How do I freeze my debit card? I think I lost it at the station this morning.",
    "Hi, my email is alice.martin42@example.com, can you send me my statement?",
    "My card number is 4111 1111 1111 1111 and it was declined at a shop.",
    "Please call me back on +44 20 7946 0123, I need help with a transfer.",
    "What is the interest rate on the savings account?",
]
REPLY = (
    "You can freeze your card at any time in the app: open Cards, choose the card and tap "
    "Freeze. If you need more help, call us on +1 800 555 0199."
)


def bench_overhead(calls: int, logs: Path) -> dict[str, float]:
    from llmops.config import load_config
    from llmops.monitoring import Monitor, monitored

    cfg = load_config(ROOT)
    monitor = Monitor.from_config(cfg, logs=logs)

    # Every prompt and reply is unique, as in real traffic: the detector's cache never helps.
    def bot(prompt: str) -> str:
        return REPLY + prompt[-8:]

    async def abot(prompt: str) -> str:
        return REPLY + prompt[-8:]

    results = {}
    wrapped = monitored(bot, version="v1", monitor=monitor)
    awrapped = monitored(abot, version="v1", monitor=monitor)
    for label, prompts in (("plain", [PROMPTS[0], PROMPTS[4]]), ("pii", PROMPTS[1:4])):
        for p in prompts:  # warm up: imports, file open
            wrapped(p + " warm-up")
        batch = [f"{prompts[i % len(prompts)]} #{label}{i:07d}" for i in range(calls)]
        t0 = time.perf_counter()
        for p in batch:
            bot(p)
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        for p in batch:
            wrapped(p)
        mon = time.perf_counter() - t0
        results[f"sync_{label}_ms"] = (mon - bare) / calls * 1000

    async def run_async() -> float:
        batch = [f"{PROMPTS[i % len(PROMPTS)]} #async{i:07d}" for i in range(calls)]
        t0 = time.perf_counter()
        for p in batch:
            await abot(p)
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        for p in batch:
            await awrapped(p)
        return (time.perf_counter() - t0 - bare) / calls * 1000

    results["async_mixed_ms"] = asyncio.run(run_async())

    # The detector alone, to show where the time goes.
    detector = monitor.detector
    t0 = time.perf_counter()
    for i in range(calls):
        detector.scan(f"{PROMPTS[i % len(PROMPTS)]} #scan{i:07d}")
        detector.scan(f"{REPLY} #scan{i:07d}")
    results["pii_scan_prompt_and_reply_ms"] = (time.perf_counter() - t0) / calls * 1000
    # A very long message (10,000 characters) costs in proportion: the scan is linear.
    long_text = (PROMPTS[0] + " ") * (10_000 // (len(PROMPTS[0]) + 1))
    n = max(1, calls // 100)
    t0 = time.perf_counter()
    for i in range(n):
        wrapped(f"{long_text} #{i:07d}")
    results["sync_10k_char_prompt_ms"] = (time.perf_counter() - t0) / n * 1000
    monitor.close()
    return results


def write_events(path: Path, n: int, seed: int = 7) -> int:
    """N events as the wrapper writes them, quickly (no detector): returns the file size."""
    from llmops.monitoring.events import to_json_line, utc_timestamp

    rng = random.Random(seed)
    start = time.time() - 7 * 86400
    step = 7 * 86400 / n
    versions = ["v1", "v2", "v3"]
    errors = ["timeout", "http_5xx", "rate_limited", "connection", "bad_response"]
    pii_sets = [
        ["EMAIL_ADDRESS"],
        ["CREDIT_CARD"],
        ["PHONE_NUMBER"],
        ["EMAIL_ADDRESS", "IBAN_CODE"],
    ]
    with open(path, "w", encoding="utf-8") as f:
        buf = []
        for i in range(n):
            r = rng.random()
            status = "error" if r < 0.02 else "empty" if r < 0.03 else "ok"
            latency = rng.lognormvariate(5.5, 0.6) if status != "error" else 30000.0
            pii = rng.choice(pii_sets) if rng.random() < 0.12 else []
            event = {
                "timestamp": utc_timestamp(start + i * step),
                "event_id": f"{rng.getrandbits(128):032x}",
                "conversation_id": f"{rng.getrandbits(128):032x}",
                "chatbot_version": versions[(i * 3) // n],
                "target": "reference",
                "latency_ms": round(latency, 3),
                "status": status,
                "error_type": rng.choice(errors) if status == "error" else None,
                "slow": latency >= 2000,
                "pii_types": pii,
                "pii_response_types": pii[:1] if pii and rng.random() < 0.05 else [],
                "prompt_redacted": PROMPTS[i % 5][: 40 + i % 40],
                "response_redacted": None
                if status == "error"
                else ("" if status == "empty" else REPLY),
                "prompt_chars": 80,
                "response_chars": len(REPLY),
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": versions[(i * 3) // n],
            }
            buf.append(to_json_line(event))
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
    return path.stat().st_size


CHILD = """
import sys, time, resource
t0 = time.perf_counter()
from pathlib import Path
import pandas
from llmops.monitoring.reading import read_events
from llmops.monitoring.duck import read_events_duckdb, expand
from llmops.monitoring.summary import summarize, to_text
t1 = time.perf_counter()
paths = expand(sys.argv[4:])
table = (read_events_duckdb if sys.argv[2] == "duckdb" else read_events)(paths)
t2 = time.perf_counter()
summary = summarize(table, by=["version", "window"])
text = to_text(summary)
t3 = time.perf_counter()
if sys.argv[1] == "html":
    from llmops.monitoring.report import write_html
    write_html(summary, paths[0].with_suffix(".html"))
t4 = time.perf_counter()
if sys.argv[3] != "-":
    table.export_parquet(Path(sys.argv[3]))
t5 = time.perf_counter()
use = resource.getrusage(resource.RUSAGE_SELF)
print(summary.events, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, use.ru_maxrss,
      use.ru_utime + use.ru_stime)
"""


def bench_summary(
    paths: list[Path], html: bool, engine: str = "pandas", parquet: Path | None = None
) -> dict[str, float]:
    """Read and summarise `paths` in a fresh process (globs allowed), as the CLI does."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, "html" if html else "text", engine,
         str(parquet) if parquet else "-", *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.split()
    wall = time.perf_counter() - t0
    events, imp, read, summ, rep, exp, rss_kb, cpu = out
    return {
        "cpu_s": float(cpu),  # all threads: what an idle machine's cores would spend
        "events": int(events),
        "wall_s": wall,
        "import_s": float(imp),
        "read_s": float(read),
        "summarize_s": float(summ),
        "html_s": float(rep),
        "export_s": float(exp),
        "peak_rss_mb": int(rss_kb) / 1024,
    }


def _write_host(args: tuple[Path, int, int]) -> int:
    path, n, seed = args
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_events(path, n, seed=seed)


def bench_hosts(root: Path, hosts: int, per_host: int) -> None:
    """Logs of many hosts (one file each, `hosts/hNN/monitoring.jsonl`), as a fleet writes
    them; summarised by DuckDB through a glob, then exported to Parquet and summarised again."""
    from concurrent.futures import ProcessPoolExecutor

    paths = [root / f"h{i:02d}" / "monitoring.jsonl" for i in range(hosts)]
    t0 = time.perf_counter()
    if not all(p.exists() for p in paths):
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(_write_host, [(p, per_host, i) for i, p in enumerate(paths)]))
    size = sum(p.stat().st_size for p in paths)
    print(f"{hosts} hosts x {per_host:,} events = {hosts * per_host:,} events, "
          f"{size / 1e9:.2f} GB of JSONL (written in {time.perf_counter() - t0:.0f} s)")
    glob = [str(root / "h*" / "monitoring.jsonl*")]
    parquet = root / "all.parquet"
    r = bench_summary(glob, False, "duckdb", parquet)
    print(f"duckdb summarize: {r['events']:,} events in {r['wall_s']:.1f} s wall (read "
          f"{r['read_s']:.1f}, figures {r['summarize_s']:.1f}), {r['cpu_s']:.1f} CPU s, peak "
          f"RSS {r['peak_rss_mb']:.0f} MB; then export to Parquet {r['export_s']:.1f} s "
          f"({parquet.stat().st_size / 1e6:.0f} MB) (load average now "
          f"{os.getloadavg()[0]:.1f})")
    r = bench_summary([parquet], False, "duckdb")
    print(f"duckdb summarize of the Parquet: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} CPU s, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--only", choices=("overhead", "summary", "hosts"))
    parser.add_argument("--engine", choices=("pandas", "duckdb", "both"), default="both")
    parser.add_argument("--hosts", type=int, default=20, help="files of the fleet benchmark")
    parser.add_argument("--per-host", type=int, default=500_000, help="events per file")
    parser.add_argument("--dir", type=Path, help="keep (and reuse) the fleet's logs here")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.only == "hosts":
        if args.dir:
            bench_hosts(args.dir, args.hosts, args.per_host)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                bench_hosts(Path(tmp), args.hosts, args.per_host)
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "summary":
            over = bench_overhead(args.calls, Path(tmp) / "logs")
            print(f"wrapper overhead per exchange ({args.calls:,} calls, PII scan + both logs):")
            for k, v in over.items():
                print(f"  {k:32s} {v:.3f} ms")
        if args.only == "overhead":
            return
        log = Path(tmp) / "monitoring.jsonl"
        t0 = time.perf_counter()
        size = write_events(log, args.events)
        took = time.perf_counter() - t0
        print(f"wrote {args.events:,} events, {size / 1e6:.0f} MB, in {took:.1f} s")
        engines = ("pandas", "duckdb") if args.engine == "both" else (args.engine,)
        for engine, html in [(e, h) for e in engines for h in (False, True)]:
            r = bench_summary([log], html, engine)
            label = f"{engine} summarize" + (" --html" if html else "")
            print(
                f"{label}: {r['events']:,} events in {r['wall_s']:.2f} s wall "
                f"(imports {r['import_s']:.2f}, read {r['read_s']:.2f}, "
                f"figures {r['summarize_s']:.2f}, html {r['html_s']:.2f}), "
                f"{r['cpu_s']:.1f} CPU s, peak RSS {r['peak_rss_mb']:.0f} MB "
                f"(load average {os.getloadavg()[0]:.1f})"
            )


if __name__ == "__main__":
    main()
