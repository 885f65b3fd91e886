"""How far to trust a judge: its verdicts on human-labelled examples, against the labels.

A labelled file is YAML (a list, or a mapping with `examples:`) or JSONL (one object a line).
Each example: `id` (optional), `prompt` or `conversation` (list of {role, content}), `answer`,
`rubric` (a string or a list of criteria: for `judge`) and/or `reference` (a string or a list:
for `similar_to`), and `label`: `pass` or `fail`, the verdict a person gives the answer.

The figures: accuracy, Cohen's kappa (agreement beyond chance: 0 is a coin, 1 perfect), the
confusion table and every example where judge and person disagree. For `similar_to`, also both
score distributions and the threshold that agrees best with the labels.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmops.errors import InputError, where

LABELS = {"pass": True, "fail": False, True: True, False: False}


@dataclass(frozen=True)
class Example:
    id: str
    line: int | None
    messages: tuple[dict[str, str], ...]
    answer: str
    rubric: tuple[str, ...] | None
    reference: tuple[str, ...] | None
    label: bool


@dataclass
class Outcome:
    example: Example
    predicted: bool | None  # None: the judge gave no verdict (error)
    reason: str = ""
    score: float | None = None


@dataclass
class Agreement:
    outcomes: list[Outcome]
    threshold: float | None = None
    best: tuple[float, float] | None = None  # (threshold, kappa) for similarity
    notes: list[str] = field(default_factory=list)

    @property
    def judged(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.predicted is not None]

    @property
    def errors(self) -> int:
        return len(self.outcomes) - len(self.judged)

    def table(self) -> dict[str, int]:
        t = {"tp": 0, "fn": 0, "fp": 0, "tn": 0}
        for o in self.judged:
            human, judge = o.example.label, o.predicted
            t[("t" if human == judge else "f") + ("p" if judge else "n")] += 1
        return t

    @property
    def accuracy(self) -> float:
        judged = self.judged
        return sum(o.predicted == o.example.label for o in judged) / len(judged) if judged else 0

    @property
    def kappa(self) -> float:
        return cohen_kappa([o.example.label for o in self.judged],
                           [bool(o.predicted) for o in self.judged])

    def disagreements(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.predicted != o.example.label]

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "examples": len(self.outcomes), "judged": len(self.judged), "errors": self.errors,
            "accuracy": round(self.accuracy, 4), "kappa": round(self.kappa, 4),
            "confusion": self.table(),
            "disagreements": [
                {"id": o.example.id, "human": _word(o.example.label), "judge": _word(o.predicted),
                 "reason": o.reason, **({"score": round(o.score, 4)} if o.score is not None
                                        else {})}
                for o in self.disagreements()],
        }
        if self.threshold is not None:
            doc["threshold"] = self.threshold
            doc["scores"] = {k: _quartiles(v) for k, v in self.scores().items()}
        if self.best is not None:
            doc["best_threshold"] = {"threshold": self.best[0], "kappa": round(self.best[1], 4)}
        return doc

    def scores(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"pass": [], "fail": []}
        for o in self.outcomes:
            if o.score is not None:
                out[_word(o.example.label)].append(o.score)
        return out


def cohen_kappa(human: Sequence[bool], judge: Sequence[bool]) -> float:
    """Cohen's kappa of two raters' binary verdicts (1.0 when both always agree)."""
    n = len(human)
    if n == 0:
        return 0.0
    po = sum(h == j for h, j in zip(human, judge, strict=True)) / n
    ph, pj = sum(human) / n, sum(judge) / n
    pe = ph * pj + (1 - ph) * (1 - pj)
    if pe >= 1.0:
        return 1.0 if po == 1.0 else 0.0
    return (po - pe) / (1 - pe)


def _word(v: bool | None) -> str:
    return "error" if v is None else "pass" if v else "fail"


def _quartiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    qs = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"n": len(values), "min": round(min(values), 4), "q1": round(qs[0], 4),
            "median": round(qs[1], 4), "q3": round(qs[2], 4), "max": round(max(values), 4)}


# --------------------------------------------------------------------------- loading


def load_examples(path: Path) -> list[Example]:
    """Every example of the file; any bad one is an InputError naming file:line and why."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    items: list[tuple[int | None, Any]] = []
    if path.suffix in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    items.append((n, json.loads(line)))
                except ValueError as exc:
                    raise InputError(f"{where(path, n)}: bad JSON: {exc}") from exc
    else:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise InputError(f"{where(path, mark.line + 1 if mark else None)}: bad YAML: "
                             f"{getattr(exc, 'problem', exc)}") from exc
        seq = node
        if isinstance(data, dict):
            data = data.get("examples")
            seq = next((v for k, v in node.value if k.value == "examples"), None) if node else None
        if not isinstance(data, list) or seq is None:
            raise InputError(f"{path}: expected a list of examples (or `examples:`)")
        items = [(item.start_mark.line + 1, d) for item, d in zip(seq.value, data, strict=True)]
    if not items:
        raise InputError(f"{path}: no examples")
    examples = [_example(path, line, i, raw) for i, (line, raw) in enumerate(items)]
    seen: dict[str, int | None] = {}
    for e in examples:
        if e.id in seen:
            raise InputError(f"{where(path, e.line)}: duplicate id {e.id!r}")
        seen[e.id] = e.line
    return examples


def _strings(value: Any, what: str, at: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(
            isinstance(s, str) and s.strip() for s in items):
        raise InputError(f"{at}: {what} must be a non-empty string or list of strings")
    return tuple(items)


def _example(path: Path, line: int | None, index: int, raw: Any) -> Example:
    at = where(path, line)
    if not isinstance(raw, dict):
        raise InputError(f"{at}: expected a mapping, got {type(raw).__name__}")
    known = {"id", "prompt", "conversation", "answer", "rubric", "reference", "label", "kind"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"{at}: unknown key {unknown[0]!r} (known: {sorted(known)})")
    ex_id = str(raw.get("id") or f"example-{index + 1}")
    if "prompt" in raw and isinstance(raw["prompt"], str):
        messages: tuple[dict[str, str], ...] = ({"role": "user", "content": raw["prompt"]},)
    elif isinstance(raw.get("conversation"), list) and all(
            isinstance(m, dict) and isinstance(m.get("content"), str)
            and m.get("role") in ("system", "user", "assistant") for m in raw["conversation"]):
        messages = tuple({"role": m["role"], "content": m["content"]}
                         for m in raw["conversation"])
    else:
        raise InputError(f"{at}: {ex_id}: needs `prompt` (a string) or `conversation` "
                         "(a list of {role, content})")
    if not isinstance(raw.get("answer"), str):
        raise InputError(f"{at}: {ex_id}: needs `answer` (a string)")
    label = raw.get("label")
    if label not in LABELS:
        raise InputError(f"{at}: {ex_id}: label must be pass or fail, got {label!r}")
    return Example(ex_id, line, messages, raw["answer"],
                   _strings(raw.get("rubric"), "rubric", at),
                   _strings(raw.get("reference"), "reference", at), LABELS[label])


# --------------------------------------------------------------------------- judging


def calibrate_judge(examples: Sequence[Example], judge: Any) -> Agreement:
    """The judge's verdict on every example with a rubric (graded concurrently)."""
    import asyncio

    usable = [e for e in examples if e.rubric]
    if not usable:
        raise InputError("no example has a `rubric`: nothing for the judge to grade")
    verdicts = asyncio.run(judge.grade_many([(e.rubric, e.messages, e.answer) for e in usable]))
    outcomes = [Outcome(e, v.passed, v.reason or (v.error or ""))
                for e, v in zip(usable, verdicts, strict=True)]
    agreement = Agreement(outcomes)
    if len(usable) < len(examples):
        agreement.notes.append(f"{len(examples) - len(usable)} example(s) without a rubric "
                               "skipped")
    return agreement


def calibrate_similarity(examples: Sequence[Example], embed: Callable[[list[str]], Any],
                         threshold: float) -> Agreement:
    """`similar_to` on every example with a reference (every distinct text embedded once, in
    one batch), and the threshold that agrees best with the labels on this set."""
    usable = [e for e in examples if e.reference]
    if not usable:
        raise InputError("no example has a `reference`: nothing for similar_to to compare")
    texts = list(dict.fromkeys(t for e in usable for t in (e.answer, *(e.reference or ()))))
    vectors = embed(texts)
    row = {t: vectors[i] for i, t in enumerate(texts)}
    outcomes: list[Outcome] = []
    for e in usable:
        best = max(float(row[r] @ row[e.answer]) for r in e.reference or ())
        outcomes.append(Outcome(e, best >= threshold, f"similarity {best:.3f}", best))
    agreement = Agreement(outcomes, threshold=threshold)
    scores = sorted({round(o.score, 3) for o in outcomes if o.score is not None})
    labels = [o.example.label for o in outcomes]
    best_t, best_k = threshold, agreement.kappa
    for t in scores:
        k = cohen_kappa(labels, [(o.score or 0) >= t for o in outcomes])
        if k > best_k:
            best_t, best_k = t, k
    agreement.best = (best_t, best_k)
    if len(usable) < len(examples):
        agreement.notes.append(f"{len(examples) - len(usable)} example(s) without a reference "
                               "skipped")
    return agreement


def render(agreement: Agreement, *, title: str, max_disagreements: int = 40) -> str:
    t = agreement.table()
    lines = [
        title,
        f"examples {len(agreement.outcomes)}, judged {len(agreement.judged)}, "
        f"errors {agreement.errors}",
        f"accuracy {agreement.accuracy:.3f}   Cohen's kappa {agreement.kappa:.3f}",
        "",
        "                 judge pass  judge fail",
        f"  human pass     {t['tp']:>10}  {t['fn']:>10}",
        f"  human fail     {t['fp']:>10}  {t['tn']:>10}",
    ]
    if agreement.threshold is not None:
        lines += ["", f"threshold {agreement.threshold:.3f}; scores (min q1 median q3 max):"]
        for label, values in agreement.scores().items():
            q = _quartiles(values)
            if q["n"]:
                lines.append(f"  human {label}: n={q['n']}  {q['min']:.3f} {q['q1']:.3f} "
                             f"{q['median']:.3f} {q['q3']:.3f} {q['max']:.3f}")
        if agreement.best is not None:
            lines.append(f"best threshold on this set: {agreement.best[0]:.3f} "
                         f"(kappa {agreement.best[1]:.3f})")
    lines += agreement.notes
    dis = agreement.disagreements()
    if dis:
        lines += ["", f"disagreements ({len(dis)}):"]
        for o in dis[:max_disagreements]:
            lines.append(f"  {o.example.id}: human {_word(o.example.label)}, judge "
                         f"{_word(o.predicted)}: {o.reason}")
        if len(dis) > max_disagreements:
            lines.append(f"  ... {len(dis) - max_disagreements} more (--json lists all)")
    return "\n".join(lines)
