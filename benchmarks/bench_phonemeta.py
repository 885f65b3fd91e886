"""Benchmark llmops.pii.phonemeta.valid against phonenumbers (phone._valid's exact path).

    .venv/bin/python benchmarks/bench_phonemeta.py
    .venv/bin/python benchmarks/bench_phonemeta.py --corpus tests/data/pii/corpus.jsonl -n 500
    .venv/bin/python benchmarks/bench_phonemeta.py --generate 20000   # and generated texts

Two sets of calls:
- the detector's own: every `phone._valid(candidate, region)` call the detector makes on the
  corpus (recorded by wrapping `phone._valid`, pure-Python build);
- example-based: phonenumbers' example numbers of every type for the default regions, written
  nationally, internationally, in E.164 and with dots and dashes, plus random digit strings.

For each it prints the calls, the share the fast path leaves to phonenumbers (UNKNOWN), the
disagreements with phonenumbers (must be 0), and microseconds per call, fast vs phonenumbers.
Last, the detector's microseconds per text on the corpus with phone._valid as it is (phonemeta
first) and with phonenumbers alone (patched in this process only).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

# The recording wraps phone._valid, a module global: only the pure-Python build looks it up.
os.environ["LLMOPS_PII_PURE"] = "1"

import phonenumbers
from phonenumbers import PhoneNumberFormat

from llmops.pii import Detector, phone
from llmops.pii.detector import clear_caches
from llmops.pii.phone import library_valid as slow  # phonenumbers' own answer
from llmops.pii.phonemeta import UNKNOWN, Verdict, valid
from llmops.pii.quality import load_corpus

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "pii" / "corpus.jsonl"
Call = tuple[str, str]


def corpus_texts(path: Path, limit: int) -> list[str]:
    return [t for i, (t, _) in enumerate(load_corpus(path)) if not limit or i < limit]


def generated_texts(n: int) -> list[str]:
    """Texts of the committed corpus's generator with bench_pii.py's seed (not the corpus's)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import make_pii_corpus
    from bench_pii import BENCH_SEED

    return [str(r["text"]) for r in make_pii_corpus.generate(n, seed=BENCH_SEED, profile="dense")]


def detector_calls(texts: list[str]) -> list[Call]:
    """The (candidate, region) calls the detector makes to phone._valid on `texts`."""
    calls: list[Call] = []
    original = phone._valid

    def recording(candidate: str, region: str) -> str | None:
        calls.append((candidate, region))
        return original(candidate, region)

    phone._valid = recording  # type: ignore[assignment]
    try:
        detector = Detector()
        for text in texts:
            detector._detect(text)
    finally:
        phone._valid = original
    return calls


def example_calls(seed: int) -> list[Call]:
    rng = random.Random(seed)
    formats = (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164)
    calls: list[Call] = []
    for region in phone.DEFAULT_REGIONS:
        for kind in phonenumbers.PhoneNumberType.values():
            num = phonenumbers.example_number_for_type(region, kind)
            if num is None:
                continue
            for fmt in formats:
                text = phonenumbers.format_number(num, fmt)
                calls += [(text, region), (text.replace(" ", "-"), region)]
                calls.append((text.replace(" ", "."), region))
        for _ in range(100):
            digits = "".join(rng.choices("0123456789", k=rng.randint(7, 15)))
            calls.append((digits, region))
    return calls


def per_call(fn: Callable[[str, str], object], calls: list[Call], repeat: int) -> float:
    """Best microseconds per call over `repeat` passes."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for candidate, region in calls:
            fn(candidate, region)
        best = min(best, time.perf_counter() - t0)
    return best / max(len(calls), 1) * 1e6


def report(name: str, calls: list[Call], repeat: int) -> int:
    unique = list(dict.fromkeys(calls))
    fast: list[Verdict] = [valid(c, r) for c, r in unique]
    exact = [slow(c, r) for c, r in unique]
    unknown = sum(1 for f in fast if f is UNKNOWN)
    wrong = [
        (call, f, e)
        for call, f, e in zip(unique, fast, exact, strict=True)
        if f is not UNKNOWN and f != e
    ]
    for call, f, e in wrong[:10]:
        print(f"  DISAGREE {call!r}: fast {f!r}, phonenumbers {e!r}")
    known = [call for call, f in zip(unique, fast, strict=True) if f is not UNKNOWN]
    t_fast = per_call(valid, unique, repeat)
    t_known = per_call(valid, known, repeat)
    t_slow = per_call(slow, unique, max(1, repeat // 2))
    # phone._valid uncached: the fast path, and phonenumbers where it says UNKNOWN.
    t_combined = per_call(phone._valid.__wrapped__, unique, repeat)
    valid_share = sum(1 for e in exact if e) / max(len(unique), 1)
    print(f"{name}:")
    print(f"  calls {len(calls)}, distinct {len(unique)}, VALID {valid_share:.1%}")
    print(f"  fall back to phonenumbers (UNKNOWN): {unknown} ({unknown / max(len(unique), 1):.2%})")
    print(f"  disagreements: {len(wrong)}")
    print(f"  us/call: fast path {t_fast:.2f} (on calls it answers {t_known:.2f})")
    print(f"  us/call: fast path + fallback {t_combined:.2f}, phonenumbers {t_slow:.2f}", end="")
    print(f" (x{t_slow / t_combined:.1f})")
    return len(wrong)


def detector_per_text(name: str, texts: list[str], repeat: int) -> None:
    """Microseconds per text of the detector (no per-text cache) on the corpus, with phone._valid
    as it is (phonemeta first) and with phonenumbers alone (patched here, phone.py untouched)."""
    original = phone._valid
    library_only = lru_cache(maxsize=4096)(slow)
    results = {}
    for how, fn in (("phonenumbers alone", library_only), ("with phonemeta", original)):
        phone._valid = fn  # type: ignore[assignment]
        try:
            detect = Detector()._detect
            best = float("inf")
            for _ in range(repeat):
                clear_caches()
                t0 = time.perf_counter()
                for text in texts:
                    detect(text)
                best = min(best, time.perf_counter() - t0)
            results[how] = best / len(texts) * 1e6
        finally:
            phone._valid = original
    print(f"detector on {name}, {len(texts)} texts, us/text:")
    for how, us in results.items():
        print(f"  {how}: {us:.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("-n", type=int, default=0, help="texts of the corpus (0: all)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--generate", type=int, default=0, metavar="N", help="also N generated texts (20000)"
    )
    args = ap.parse_args(argv)
    texts = corpus_texts(args.corpus, args.n)
    wrong = report(f"detector calls on {args.corpus.name}", detector_calls(texts), args.repeat)
    wrong += report("example-based, default regions", example_calls(args.seed), args.repeat)
    if args.generate:
        more = generated_texts(args.generate)
        wrong += report(
            f"detector calls on {args.generate} generated texts", detector_calls(more), args.repeat
        )
    detector_per_text(args.corpus.name, texts, max(1, args.repeat // 2))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
