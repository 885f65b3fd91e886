"""Quality floors on labelled data nobody here wrote: microsoft/presidio-research at the commit
pinned in llmops/pii/quality.py (MIT licence). The data is not copied into this repository:
point LLMOPS_PII_THIRD_PARTY at a checkout of it (`git clone` it, `git checkout` the commit),
else these tests skip. benchmarks/bench_pii.py --third-party scores Presidio beside it."""

from __future__ import annotations

import os

import pytest

from llmops.errors import InputError
from llmops.pii import Detector
from llmops.pii.quality import THIRD_PARTY_TYPES, Score, evaluate, load_third_party, micro

CHECKOUT = os.environ.get("LLMOPS_PII_THIRD_PARTY", "")


@pytest.fixture(scope="module")
def scores() -> dict[str, Score]:
    if not CHECKOUT:
        pytest.skip("set LLMOPS_PII_THIRD_PARTY to a checkout of microsoft/presidio-research")
    corpus = load_third_party(CHECKOUT)
    assert len(corpus) == 3709
    d = Detector()
    return evaluate(
        corpus, lambda t: [(f.type, f.start, f.end) for f in d.scan(t)], types=THIRD_PARTY_TYPES
    )


@pytest.mark.parametrize("kind", sorted(THIRD_PARTY_TYPES))
def test_every_type_holds_its_f1_on_third_party_text(scores: dict[str, Score], kind: str) -> None:
    s = scores[kind]
    assert s.tp + s.fn >= 20, kind
    assert s.f1 >= 0.95, f"{kind}: P={s.precision:.3f} R={s.recall:.3f} F1={s.f1:.3f}"


def test_micro_f1_on_third_party_text(scores: dict[str, Score]) -> None:
    assert micro(scores).f1 >= 0.96


def test_a_checkout_of_another_version_is_refused(tmp_path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "synth_dataset_v2.json").write_text("[]")
    with pytest.raises(InputError, match="not the version measured"):
        load_third_party(tmp_path)
    with pytest.raises(InputError, match="cannot read"):
        load_third_party(tmp_path / "nowhere")
