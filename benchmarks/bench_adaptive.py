"""Adaptive repeats against fixed ones: requests asked, wall time, and whether the verdicts agree.

Runs `pytest evals/` twice on the same cases and target, `--repeat N` then `--repeat MIN:N`, in a
throwaway project (this repository's evals/, the given cases, `[tool.llmops] min_pass_rate`), and
compares the two results.json files: samples asked (run.requests), wall time, and the per (case,
check) verdicts. With `--adaptive-only` the fixed run is skipped (the plugin states what fixed
repeats would have asked).

The figures in docs/statistics.md come from:

    .venv/bin/python benchmarks/bench_adaptive.py --target reference:llm --cases cases_llm \
        --repeat 3:10
    .venv/bin/python benchmarks/bench_adaptive.py --target reference:llm --cases cases_llm \
        --repeat 3:20 --min-pass-rate 0.8 --adaptive-only
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def run(root: Path, target: str, repeat: str, name: str) -> tuple[dict[str, Any], float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider",
         "--no-feedback", "--target", target, "--repeat", repeat,
         "--results", f"reports/{name}.json"],
        cwd=root, capture_output=True, text=True,
    )
    took = time.perf_counter() - start
    path = root / "reports" / f"{name}.json"
    if not path.is_file():
        sys.exit(f"{name}: no results (exit {proc.returncode}):\n{proc.stdout[-3000:]}"
                 f"{proc.stderr[-2000:]}")
    said = [x for x in proc.stdout.splitlines() if "adaptive repeats" in x]
    return json.loads(path.read_text()), took, said[0] if said else ""


def verdicts(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(s["case_id"], s["check"]): s["verdict"] for s in doc["stats"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="reference:llm")
    ap.add_argument("--cases", default="cases_llm")
    ap.add_argument("--repeat", default="3:10", help="MIN:MAX (the fixed run asks MAX)")
    ap.add_argument("--min-pass-rate", type=float, default=1.0)
    ap.add_argument("--adaptive-only", action="store_true")
    args = ap.parse_args()
    low, high = (int(x) for x in args.repeat.split(":"))
    with tempfile.TemporaryDirectory(prefix="bench-adaptive-") as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "evals", root / "evals",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(REPO / args.cases, root / "cases")
        (root / "pyproject.toml").write_text(
            f"[tool.llmops]\ncases = 'cases'\nmin_pass_rate = {args.min_pass_rate}\n"
            "max_latency_ms = 30000\n"
        )
        adaptive, t_adaptive, said = run(root, args.target, f"{low}:{high}", "adaptive")
        cases = adaptive["summary"]["cases"]
        print(f"target {args.target}, {cases} cases of {args.cases}, min_pass_rate "
              f"{args.min_pass_rate:g}")
        print(f"adaptive {low}:{high}: {adaptive['run']['requests']} requests in "
              f"{t_adaptive:.0f} s ({said.strip()})")
        print(f"  verdicts: {adaptive['summary']['verdicts']}")
        if args.adaptive_only:
            saved = 1 - adaptive["run"]["requests"] / (cases * high)
            print(f"  requests saved against fixed {high}: {saved:.0%}")
            return
        fixed, t_fixed, _ = run(root, args.target, str(high), "fixed")
        saved = 1 - adaptive["run"]["requests"] / fixed["run"]["requests"]
        print(f"fixed {high}: {fixed['run']['requests']} requests in {t_fixed:.0f} s")
        print(f"  verdicts: {fixed['summary']['verdicts']}")
        va, vf = verdicts(adaptive), verdicts(fixed)
        differ = sorted(k for k in va if va[k] != vf.get(k))
        print(f"requests saved: {saved:.0%}; verdicts differ on {len(differ)} of {len(va)} "
              "(case, check)" + (": " + ", ".join(f"{c} [{k}] {va[(c, k)]} vs {vf[(c, k)]}"
                                                  for c, k in differ[:10]) if differ else ""))


if __name__ == "__main__":
    main()
