"""Feedback store and eval-failure ingestion: how long the common writes take.

Run: .venv/bin/python benchmarks/bench_feedback.py   (prints numbers; asserts nothing)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmops.feedback import from_results, records
from llmops.feedback.ingest import import_file
from llmops.feedback.store import FeedbackStore
from llmops.pii import get_detector


def timed(label: str, fn, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    ms = (time.perf_counter() - start) * 1000 / repeat
    print(f"{label:<58} {ms:9.2f} ms")
    return ms


def results_doc(n: int, commit: str) -> dict:
    rows = [
        {
            "case_id": f"case-{i}",
            "check": ("no_pii", "contains_any", "not_empty", "refuses")[i % 4],
            "outcome": "failed",
            "message": "expected any of ['freeze']",
            "prompt": "How do I freeze my card? My email is jane@example.org",
            "response_excerpt": "Please call us at +1 415 555 2671 or write to jane@example.org.",
            "latency_ms": 120.0,
            "error_type": None,
            "suite": "cards",
        }
        for i in range(n)
    ]
    return {"run": {"git_commit": commit, "chatbot_version": "v2"}, "results": rows}


def main() -> None:
    import_s = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import llmops.feedback"],
        capture_output=True,
        text=True,
    ).stderr.splitlines()[-1]
    print(f"import llmops.feedback (cumulative us): {import_s.split('|')[1].strip()}")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        redact = get_detector().redact
        redact("warm up the detector: jane@example.org")
        for existing in (0, 1_000, 10_000):
            path = d / f"store-{existing}.jsonl"
            store = FeedbackStore(path)
            store.append(
                records.normalise({"prompt": f"q {i} " + "x" * 300, "rating": 1}, redact=str)
                for i in range(existing)
            )
            size_kb = path.stat().st_size // 1024 if path.exists() else 0
            counter = iter(range(10**9))
            timed(
                f"append 1 record to a store of {existing} ({size_kb} KB)",
                lambda store=store, counter=counter: store.append(
                    [records.normalise({"prompt": f"new {next(counter)}", "rating": 1}, redact=str)]
                ),
                repeat=20,
            )
        path = d / "fb.jsonl"
        timed(
            "from_results: 200 failed checks, new (redacts 400 texts)",
            lambda: from_results(results_doc(200, "c1"), path),
        )
        timed(
            "from_results: the same 200 again (all duplicates)",
            lambda: from_results(results_doc(200, "c1"), path),
        )
        src = d / "in.jsonl"
        src.write_text(
            "".join(
                f'{{"prompt": "question {i} from jane@example.org", "rating": "down"}}\n'
                for i in range(5_000)
            )
        )
        timed(
            "import 5000 JSONL records (validate, redact, store)",
            lambda: import_file(src, FeedbackStore(d / "imp.jsonl"), redact=redact),
        )


if __name__ == "__main__":
    main()
