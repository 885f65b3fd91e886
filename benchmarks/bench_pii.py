"""Benchmark the PII detector: precision, recall and F1 per entity type, and throughput, on a
synthetic labeled corpus; Presidio's figures on the same corpus side by side when it is installed
(`pip install -e ".[bench]"`; it runs offline, see benchmarks/presidio_anchor.py).

    .venv/bin/python benchmarks/bench_pii.py                  # 20,000 texts, fresh seed
    .venv/bin/python benchmarks/bench_pii.py -n 3000 --no-presidio
    .venv/bin/python benchmarks/bench_pii.py --corpus tests/data/pii/corpus.jsonl --markdown
    .venv/bin/python benchmarks/bench_pii.py --third-party ../presidio-research

The default corpus is generated with the committed corpus's generator, another seed and its
held-out templates (phrasings the tests and the committed corpus do not use). `--third-party`
also scores both detectors on labelled data nobody here wrote: a checkout of
microsoft/presidio-research at the commit named in llmops/pii/quality.py (MIT licence).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_pii_corpus  # noqa: E402
import presidio_anchor  # noqa: E402

from llmops.pii import ALL_TYPES, BACKEND, Detector  # noqa: E402
from llmops.pii.detector import clear_caches  # noqa: E402
from llmops.pii.quality import (  # noqa: E402
    THIRD_PARTY_TYPES,
    Score,
    Span,
    evaluate,
    load_corpus,
    load_third_party,
    micro,
)

Corpus = list[tuple[str, list[Span]]]
BENCH_SEED = 424242
PRESIDIO_THRESHOLDS = (0.0, 0.3, 0.5)


def corpus_from(args: argparse.Namespace, profile: str = "dense") -> Corpus:
    if args.corpus:
        return list(load_corpus(args.corpus))
    records = make_pii_corpus.generate(args.n, seed=args.seed, profile=profile, held_out=True)
    return [
        (str(r["text"]), [(s["type"], s["start"], s["end"]) for s in r["spans"]])  # type: ignore
        for r in records
    ]


def size_mb(texts: list[str]) -> float:
    return sum(len(t.encode("utf-8")) for t in texts) / 1e6


def timed(fn: Callable[[str], object], texts: list[str]) -> Callable[[], float]:
    """A timed pass of fn over texts, after a short warm-up. Our caches are cleared before each
    pass: no pass profits from values seen in an earlier one."""
    for t in texts[:50]:
        fn(t)

    def run() -> float:
        clear_caches()
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        return time.perf_counter() - t0

    return run


def race(passes: list[Callable[[], float]], repeat: int) -> list[float]:
    """Best seconds of each pass over `repeat` rounds. A round runs the passes back to back, so
    that a slow spell of a shared machine weighs on both detectors alike."""
    best = [float("inf")] * len(passes)
    for _ in range(repeat):
        for i, run in enumerate(passes):
            best[i] = min(best[i], run())
    return best


def ours(corpus: Corpus) -> dict[str, Score]:
    d = Detector()
    return evaluate(corpus, lambda t: [(f.type, f.start, f.end) for f in d.scan(t)])


_PRESIDIO: list[Callable[[str], presidio_anchor.Scored]] = []


def presidio_predict() -> Callable[[str], presidio_anchor.Scored]:
    if not _PRESIDIO:
        t0 = time.perf_counter()
        _PRESIDIO.append(presidio_anchor.build())
        print(f"presidio start-up: {time.perf_counter() - t0:.1f} s (not counted)", file=sys.stderr)
    return _PRESIDIO[0]


def presidio_sample(args: argparse.Namespace, corpus: Corpus) -> Corpus:
    if args.presidio_sample and args.presidio_sample < len(corpus):
        return random.Random(1).sample(corpus, args.presidio_sample)
    return corpus


def presidio_scores(sample: Corpus, types: frozenset[str] | None = None) -> dict[str, Score]:
    """Presidio's scores on its sample, at the score threshold that suits it best, by type."""
    predict = presidio_predict()
    found = [predict(t) for t, _ in sample]
    shared = set(presidio_anchor.SHARED.values()) & set(types or ALL_TYPES)
    best: dict[str, Score] = {}
    for thr in PRESIDIO_THRESHOLDS:
        it = iter(found)
        scores = evaluate(
            sample,
            lambda _t, it=it, thr=thr: [s[:3] for s in next(it) if s[3] >= thr],
            types=shared,
        )
        for kind, score in scores.items():
            if kind not in best or score.f1 > best[kind].f1:
                best[kind] = score
    return best


def print_speeds(texts: list[str], sample: list[str] | None, repeat: int, what: str = "") -> None:
    """Race our pass over `texts` and Presidio's over `sample` (if any; see `race`), and print
    both MB/s and the ratio."""
    passes = [timed(Detector()._normal_hits, texts)]  # the normaliser and the pass, uncached
    if sample is not None:
        passes.append(timed(presidio_predict(), sample))
    seconds = race(passes, repeat)
    ours_mbs = size_mb(texts) / seconds[0]
    print(f"ours:     {ours_mbs:7.2f} MB/s  {len(texts) / seconds[0]:9.0f} texts/s  {what}")
    if sample is None:
        print("presidio: not installed (pip install -e '.[bench]') or --no-presidio")
        return
    p_mbs = size_mb(sample) / seconds[1]
    p_rate = len(sample) / seconds[1]
    print(f"presidio: {p_mbs:7.3f} MB/s  {p_rate:9.0f} texts/s  ({len(sample)} texts)")
    print(f"speed-up: {ours_mbs / p_mbs:7.0f}x  (best of {repeat} rounds each, raced)")


def hostile(repeat: int) -> list[tuple[str, list[tuple[float, float]]]]:
    """Seconds to scan hostile inputs of 0.5, 1 and 2 MB: linear time doubles with the size."""
    rng = random.Random(5)
    kinds: dict[str, Callable[[int], str]] = {
        "digits and separators": lambda n: "".join(rng.choices("0123456789 -./()", k=n)),
        "a@ repeated": lambda n: "a@" * (n // 2),
        "unicode run": lambda n: "é中😀" * (n // 3),
        "phone-like runs": lambda n: "call 020 7946 0958 " * (n // 19),
        "key prefixes": lambda n: "sk-eyJAKIA-----BEGIN " * (n // 21),
        "markup and references": lambda n: "<b>1</b>**2**&#64;%40 " * (n // 23),
        "format chars, fullwidth": lambda n: "\u200b\uff11\u00ad\u0661 " * (n // 5),
        "digit words": lambda n: "one two, three " * (n // 15),
        "spelled e-mails": lambda n: "a at b dot c " * (n // 13),
    }
    rows = []
    for name, make in kinds.items():
        cells = []
        for mb in (0.5, 1.0, 2.0):
            text = make(int(mb * 1e6))
            d = Detector()
            seconds = race([timed(d._normal_hits, [text])], repeat)[0]
            cells.append((mb, seconds))
        rows.append((name, cells))
    return rows


def fmt(score: Score | None) -> str:
    if score is None:
        return f"{'-':>6} {'-':>6} {'-':>6}"
    return f"{score.precision:6.3f} {score.recall:6.3f} {score.f1:6.3f}"


def third_party(args: argparse.Namespace) -> None:
    """Both detectors on the third-party labelled data, side by side."""
    corpus = load_third_party(args.third_party)
    n_spans = sum(len(s) for _, s in corpus)
    print(f"third-party: {len(corpus)} texts of microsoft/presidio-research, {n_spans} labelled "
          f"values of {len(THIRD_PARTY_TYPES)} types")  # fmt: skip
    d = Detector()
    mine = evaluate(
        corpus, lambda t: [(f.type, f.start, f.end) for f in d.scan(t)], types=THIRD_PARTY_TYPES
    )
    with_presidio = not args.no_presidio and presidio_anchor.available()
    theirs = presidio_scores(corpus, THIRD_PARTY_TYPES) if with_presidio else None
    print_table(mine, theirs, args.markdown, sorted(THIRD_PARTY_TYPES))
    print()


def print_table(
    scores: dict[str, Score], theirs: dict[str, Score] | None, md: bool, kinds: list[str]
) -> None:
    head = ("type", "ours P", "R", "F1", "Presidio P", "R", "F1")
    if md:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        cols = ("ours P", "R", "F1", "P", "R", "F1")
        print(f"{'type':18} " + " ".join(f"{c:>6}" for c in cols) + "  (Presidio)")
    for kind in kinds:
        mine = scores.get(kind)
        other = theirs.get(kind) if theirs else None
        if md:
            cells = [f"{x:.3f}" for x in (mine.precision, mine.recall, mine.f1)] if mine else []
            cells += (
                [f"{x:.3f}" for x in (other.precision, other.recall, other.f1)]
                if other
                else ["-"] * 3
            )
            print(f"| {kind} | " + " | ".join(cells) + " |")
        else:
            print(f"{kind:18} {fmt(mine)}   {fmt(other)}")
    m = micro({k: v for k, v in scores.items() if k in kinds})
    print(f"{'micro (all types)':18} {fmt(m)}")
    if theirs:
        shared = set(presidio_anchor.SHARED.values()) & set(kinds)
        mine_shared = micro({k: v for k, v in scores.items() if k in shared})
        print(f"{'micro (shared)':18} {fmt(mine_shared)}   {fmt(micro(theirs))}")
        print(
            "Presidio's scores are at its best score threshold per type, of "
            + ", ".join(str(t) for t in PRESIDIO_THRESHOLDS)
        )


def report(args: argparse.Namespace) -> int:
    if args.third_party:
        third_party(args)
    corpus = corpus_from(args)
    texts = [t for t, _ in corpus]
    mb = size_mb(texts)
    n_spans = sum(len(s) for _, s in corpus)
    print(f"corpus: {len(corpus)} texts, {mb:.2f} MB, {n_spans} labeled spans")
    scores = ours(corpus)
    with_presidio = not args.no_presidio and presidio_anchor.available()
    sample = presidio_sample(args, corpus) if with_presidio else None
    theirs = presidio_scores(sample) if sample is not None else None

    print_table(scores, theirs, args.markdown, sorted(ALL_TYPES))
    print()
    p_texts = [t for t, _ in sample] if sample is not None else None
    print_speeds(texts, p_texts, args.repeat, f"({BACKEND})")

    if not args.corpus and not args.no_answers:
        answers = corpus_from(args, profile="answers")[: max(1000, args.n // 4)]
        a_texts = [t for t, _ in answers]
        a_mb = size_mb(a_texts)
        print()
        print(
            f"chatbot-like answers ({len(a_texts)} texts, {a_mb:.2f} MB, "
            f"{a_mb * 1e6 / len(a_texts):.0f} bytes each, an entity in ~30%):"
        )
        a_sample = [t for t, _ in presidio_sample(args, answers)] if with_presidio else None
        print_speeds(a_texts, a_sample, args.repeat)

    if not args.no_hostile:
        print()
        print("hostile inputs (seconds to scan 0.5 / 1 / 2 MB; linear time doubles each step):")
        for name, cells in hostile(args.repeat):
            cols = "  ".join(f"{s:6.3f}" for _, s in cells)
            print(f"  {name:22} {cols}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=20000, help="texts to generate (default 20000)")
    p.add_argument("--seed", type=int, default=BENCH_SEED, help="generator seed")
    p.add_argument("--corpus", type=Path, help="a JSONL corpus instead of a generated one")
    p.add_argument("--repeat", type=int, default=3, help="timing passes; the best counts")
    p.add_argument("--no-presidio", action="store_true", help="skip Presidio")
    p.add_argument("--presidio-sample", type=int, default=0, help="Presidio on N texts only")
    p.add_argument("--no-hostile", action="store_true", help="skip the hostile-input timings")
    p.add_argument("--no-answers", action="store_true", help="skip the chatbot-answer timings")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument(
        "--third-party", type=Path, help="a checkout of microsoft/presidio-research: score it too"
    )
    return report(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
