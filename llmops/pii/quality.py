"""Measuring the detector against a labeled corpus: precision, recall and F1 per entity type.

Corpus: JSONL, one {"text": ..., "spans": [{"type", "start", "end"}, ...]} a line. A predicted
span matches a labeled one of the same type when they overlap by at least half of their union
(so "+44 (0)20 7946 0958" against "44 (0)20 7946 0958" matches; a 4-digit piece of a card does
not). Each label matches at most one prediction.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from llmops.errors import InputError

Span = tuple[str, int, int]  # type, start, end


@dataclass(frozen=True, slots=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_corpus(path: str | Path) -> Iterator[tuple[str, list[Span]]]:
    """(text, labeled spans) for each line of a JSONL corpus; bad lines name file and line."""
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                text = rec["text"]
                spans = [(s["type"], int(s["start"]), int(s["end"])) for s in rec["spans"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}:{lineno}: not a corpus record: {exc}") from exc
            yield text, spans


def overlaps(a: Span, b: Span) -> bool:
    if a[0] != b[0]:
        return False
    inter = min(a[2], b[2]) - max(a[1], b[1])
    union = max(a[2], b[2]) - min(a[1], b[1])
    return inter > 0 and 2 * inter >= union


def compare(gold: list[Span], pred: list[Span]) -> tuple[Counter[str], Counter[str], Counter[str]]:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    used = [False] * len(gold)
    for p in pred:
        for i, g in enumerate(gold):
            if not used[i] and overlaps(g, p):
                used[i] = True
                tp[p[0]] += 1
                break
        else:
            fp[p[0]] += 1
    for i, g in enumerate(gold):
        if not used[i]:
            fn[g[0]] += 1
    return tp, fp, fn


def evaluate(
    corpus: Iterable[tuple[str, list[Span]]],
    predict: Callable[[str], list[Span]],
    types: Iterable[str] | None = None,
) -> dict[str, Score]:
    """Scores per type (restricted to `types` if given: other predictions and labels ignored)."""
    keep = set(types) if types is not None else None
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for text, gold in corpus:
        pred = predict(text)
        if keep is not None:
            gold = [g for g in gold if g[0] in keep]
            pred = [p for p in pred if p[0] in keep]
        a, b, c = compare(gold, pred)
        tp += a
        fp += b
        fn += c
    names = sorted(set(tp) | set(fp) | set(fn) | (keep or set()))
    return {t: Score(tp[t], fp[t], fn[t]) for t in names}


def micro(scores: dict[str, Score]) -> Score:
    return Score(
        sum(s.tp for s in scores.values()),
        sum(s.fp for s in scores.values()),
        sum(s.fn for s in scores.values()),
    )
