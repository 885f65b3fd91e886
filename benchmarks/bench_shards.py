"""Sharded evals: what one CI runner spends on its shard, against the whole run on one runner.

N cases against an HTTP chatbot with a fixed latency: the unsharded `pytest evals/`, then each of
S shards (`--shard I/S`) one after the other, as S runners would run them side by side (this
machine has 2 cores shared with other work: running them at once here would measure the
contention, not the runners). For each: wall time, CPU time (user + system) and the requests the
server counted. Then `llmops results merge` of the S results: wall time, CPU and peak memory.

Run: .venv/bin/python benchmarks/bench_shards.py [--cases 1000] [--shards 3] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evalbench import make_project


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall s, CPU s (user + system) and peak RSS (MB) of one child process, and its output."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(out[-3000:])
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=100)
    ap.add_argument("--concurrency", type=int, default=16)
    a = ap.parse_args()
    from llmops.chatbot.server import create_app, serve_in_thread

    app = create_app("v1", latency_ms=a.latency_ms)
    evals = [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider",
             "--no-feedback", "--model", "v1"]
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(app) as url:
        root = make_project(Path(tmp) / "proj", a.cases, url, concurrency=a.concurrency)
        for args in (["init", "-q"], ["add", "-A"],
                     ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "cases"]):
            subprocess.run(["git", *args], cwd=root, check=True)
        print(f"{a.cases} cases, {a.latency_ms:.0f} ms bot, concurrency {a.concurrency}")
        before = sum(app.state.counts.values())
        wall, cpu, _, _ = timed([*evals, "--target", url, "--reports", "reports/full"], root)
        asked = sum(app.state.counts.values()) - before
        print(f"  unsharded: wall {wall:.1f} s, CPU {cpu:.1f} s, {asked} requests")
        walls = []
        for i in range(1, a.shards + 1):
            before = sum(app.state.counts.values())
            wall, cpu, _, _ = timed([*evals, "--target", url, "--shard", f"{i}/{a.shards}",
                                     "--reports", f"reports/s{i}"], root)
            asked = sum(app.state.counts.values()) - before
            walls.append(wall)
            print(f"  shard {i}/{a.shards}: wall {wall:.1f} s, CPU {cpu:.1f} s, {asked} requests")
        files = [str(root / "reports" / f"s{i}" / "results.json") for i in range(1, a.shards + 1)]
        out_path = root / "reports" / "merged.json"
        wall, cpu, rss, _ = timed([sys.executable, "-m", "llmops", "results", "merge", *files,
                                   "-o", str(out_path)], root)
        size = sum(Path(f).stat().st_size for f in files) / 1e6
        checks = json.loads(out_path.read_text())["summary"]["checks"]
        print(f"  merge of {a.shards} files ({size:.1f} MB, {checks} checks): wall {wall:.2f} s, "
              f"CPU {cpu:.2f} s, peak RSS {rss} MB")
        print(f"  slowest shard + merge: {max(walls) + wall:.1f} s")


if __name__ == "__main__":
    main()
