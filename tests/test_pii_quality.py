"""Quality floors on the committed labeled corpus (tests/data/pii/corpus.jsonl, made by
benchmarks/make_pii_corpus.py): a drop in precision or recall of any type fails the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.errors import InputError
from llmops.pii import ALL_TYPES, Detector
from llmops.pii.quality import Score, evaluate, load_corpus, micro

CORPUS = Path(__file__).parent / "data" / "pii" / "corpus.jsonl"
FLOOR = 0.97  # F1 of every type; the goal


@pytest.fixture(scope="module")
def scores() -> dict[str, Score]:
    d = Detector()
    corpus = list(load_corpus(CORPUS))
    assert len(corpus) >= 2000
    return evaluate(corpus, lambda t: [(f.type, f.start, f.end) for f in d.scan(t)])


def test_every_type_is_in_the_corpus(scores: dict[str, Score]) -> None:
    assert set(scores) == set(ALL_TYPES)
    assert all(s.tp + s.fn >= 100 for s in scores.values())


@pytest.mark.parametrize("kind", sorted(ALL_TYPES))
def test_f1_floor(scores: dict[str, Score], kind: str) -> None:
    s = scores[kind]
    assert s.f1 >= FLOOR, f"{kind}: P={s.precision:.3f} R={s.recall:.3f} F1={s.f1:.3f}"


def test_micro_precision_and_recall(scores: dict[str, Score]) -> None:
    m = micro(scores)
    assert m.precision >= 0.99
    assert m.recall >= 0.98


def test_the_corpus_is_small_and_well_formed() -> None:
    assert CORPUS.stat().st_size < 2_000_000
    for text, spans in load_corpus(CORPUS):
        assert all(0 <= s < e <= len(text) and kind in ALL_TYPES for kind, s, e in spans)


def test_scoring_rules() -> None:
    from llmops.pii.quality import compare

    gold = [("PHONE_NUMBER", 10, 26)]
    tp, fp, fn = compare(gold, [("PHONE_NUMBER", 9, 26)])  # a leading "+" more: still a match
    assert (tp["PHONE_NUMBER"], fp["PHONE_NUMBER"], fn["PHONE_NUMBER"]) == (1, 0, 0)
    tp, fp, fn = compare(gold, [("PHONE_NUMBER", 10, 14)])  # a piece: a miss and a false alarm
    assert (tp["PHONE_NUMBER"], fp["PHONE_NUMBER"], fn["PHONE_NUMBER"]) == (0, 1, 1)
    tp, fp, fn = compare(gold, [("US_SSN", 10, 26)])  # wrong type
    assert (fp["US_SSN"], fn["PHONE_NUMBER"]) == (1, 1)


def test_bad_corpus_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"text": "a", "spans": []}\n{"text": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"c\.jsonl:2:"):
        list(load_corpus(bad))
