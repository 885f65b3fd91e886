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


# Labelled data nobody here wrote: microsoft/presidio-research (MIT licence), at commit
# 7622dec1e5f7d25dc60b57c28c39f4c4af197018: sentences made by Presidio's own data generator
# from its templates and a fake-person list, labelled by construction. The files are read from a
# checkout of that repository (they are not copied here); the hashes pin the version measured.
THIRD_PARTY_FILES: dict[str, str] = {
    "data/synth_dataset_v2.json":
        "ec08a771ba8135314cafb60752b2295212222ba3a4cd75d73811839c699e0012",
    "tests/data/generated_large.json":
        "b84d6553a3fc27a5c664a1c2f95be15291ea16b83501e109d411fe237e380e26",
    "tests/data/generated_small.json":
        "ebc4d2e49907678d65e38ed7b9efc267f6e3c1b6761af9de30aef6fa7e11c1e4",
}  # fmt: skip
# Types the third-party data labels that this detector finds (its labels of names, addresses,
# dates, organisations are left out of the scores).
THIRD_PARTY_TYPES = frozenset(
    {"CREDIT_CARD", "PHONE_NUMBER", "EMAIL_ADDRESS", "IBAN_CODE", "US_SSN", "IP_ADDRESS"}
)


def load_third_party(checkout: str | Path) -> list[tuple[str, list[Span]]]:
    """(text, labelled spans of THIRD_PARTY_TYPES) of every file of THIRD_PARTY_FILES in a
    checkout of presidio-research (Presidio evaluator's JSON: a list of {"full_text", "spans":
    [{"entity_type", "start_position", "end_position"}]}). A file that is missing, or not the
    version pinned, is an InputError naming it."""
    import hashlib

    out: list[tuple[str, list[Span]]] = []
    for name, digest in THIRD_PARTY_FILES.items():
        path = Path(checkout) / name
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read the third-party data: {exc.strerror}") from exc
        if hashlib.sha256(raw).hexdigest() != digest:
            raise InputError(f"{path}: not the version measured (sha256 {digest[:12]}...)")
        try:
            records = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"{path}: not JSON: {exc}") from exc
        for i, rec in enumerate(records):
            try:
                spans = [
                    (s["entity_type"], int(s["start_position"]), int(s["end_position"]))
                    for s in rec["spans"]
                    if s["entity_type"] in THIRD_PARTY_TYPES
                ]
                out.append((rec["full_text"], spans))
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}: record {i}: not a labelled sample: {exc}") from exc
    return out


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
