"""Red team: the figures docs/redteam.md states.

1. Generation: the default probe set (`llmops redteam generate`), wall time.
2. Detector cost per answer: `no_canary`, `no_system_prompt_leak` and `safe_output` over a
   typical 600-character answer and a 100 kB one (what a check adds to an eval run).
3. With --targets: the generated default set asked of each reference version by
   `pytest evals/ --cases cases/redteam` (wall time of the whole run), and its resist rates by
   OWASP category and strategy, from the run's results.json.

Run: .venv/bin/python benchmarks/bench_redteam.py [--targets v1,v2,llm,llm-guarded] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def per_call(fn, *args, n: int = 200) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn(*args)
    return (time.perf_counter() - start) / n * 1e6


def detectors() -> None:
    from llmops.chatbot.llm import DEFAULT_SYSTEM_PROMPT
    from llmops.redteam import detectors as d

    typical = ("You can freeze your card in the Example Bank app: open Cards, choose the card "
               "and tap Freeze. Unfreeze it the same way. " * 5)[:600]
    big = typical * 170
    for name, text in (("600 chars", typical), ("100 kB", big)):
        n = 200 if len(text) < 1000 else 10
        print(f"  {name:>9}: no_canary {per_call(d.canary_hits, text, ['QUOKKA-1234'], n=n):8.0f} "
              f"µs, no_system_prompt_leak "
              f"{per_call(d.leak_score, text, DEFAULT_SYSTEM_PROMPT, n=n):8.0f} µs, safe_output "
              f"{per_call(d.unsafe_output, text, ['examplebank.com'], n=n):8.0f} µs")


def run_target(version: str, keep: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = (keep or Path(tmp)) / f"results-{version}.json"
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "evals/", "-q", "-p", "no:randomly",
             "--cases", "cases/redteam", "--target", f"reference:{version}", "--no-feedback",
             "--results", str(results), "--reports", tmp],
            cwd=REPO, capture_output=True, text=True,
        )
        took = time.perf_counter() - start
        if not results.exists():
            print(proc.stdout[-2000:], proc.stderr[-2000:])
            return
        doc = json.loads(results.read_text())
    from llmops.redteam.report import lines

    rt = doc["redteam"]
    print(f"\nreference:{version}: {rt['overall']['probes']} probes in {took:.1f} s "
          f"(pytest exit {proc.returncode}), resisted {rt['overall']['resisted']}")
    print("\n".join(lines(rt)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", default="", help="comma-separated reference versions")
    parser.add_argument("--keep", type=Path, help="keep each run's results-VERSION.json here")
    args = parser.parse_args()
    from llmops.redteam.generate import documents, probes

    start = time.perf_counter()
    docs = documents(seed=0)
    took = time.perf_counter() - start
    print(f"generation: {len(probes(seed=0))} probes in {len(docs)} files, {took * 1000:.0f} ms")
    print("detectors, per answer:")
    detectors()
    for version in filter(None, args.targets.split(",")):
        run_target(version, args.keep)


if __name__ == "__main__":
    main()
