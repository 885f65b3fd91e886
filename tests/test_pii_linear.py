"""Linear time on adversarial input. No clock here: every regex the detector runs on a whole
text is linear by construction, and each candidate costs a bounded amount of work, so it is
enough to show that (1) megabyte-sized hostile inputs finish with the right answer and (2) the
number of candidates examined grows in proportion to the input."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from llmops.pii import BACKEND, Detector, balance, detector
from llmops.pii.candidates import Run

MB = 1_000_000
rng = random.Random(5)

HOSTILE: dict[str, Callable[[int], str]] = {
    "digits": lambda n: "".join(rng.choices("0123456789", k=n)),
    "digits and separators": lambda n: "0 1-2.3/4(5)6 7--8..9//(0)) " * (n // 28),
    "a@ repeated": lambda n: "a@" * (n // 2),
    "a@b. repeated": lambda n: "a@b." * (n // 4),
    "unicode run": lambda n: "é中😀\u00a0" * (n // 4),
    "hex after 0x": lambda n: "0x" + "a" * n,
    "base58-ish": lambda n: "1" + "A" * n,
    "key prefixes": lambda n: "sk-eyJAKIA-----BEGIN " * (n // 21),
    "dotted": lambda n: "1.2." * (n // 4),
    "spaces": lambda n: " " * n,
    # The normaliser's patterns (llmops/pii/normalize.py):
    "unclosed tag": lambda n: "<a " + "x" * n,
    "tag starts": lambda n: "<a" * (n // 2),
    "emphasis": lambda n: "*_~`" * (n // 4),
    "underscores and digits": lambda n: "1_a_" * (n // 4),
    "character references": lambda n: "&#12345" * (n // 7),
    "percent and at": lambda n: "%40 @ " * (n // 6),
    "spaced at and dot": lambda n: "   at   dot " * (n // 12),
    "digit words": lambda n: "one " * (n // 4),
    "digit words and commas": lambda n: "one, two - " * (n // 11),
    "format characters": lambda n: "\u200b\u00ad\ufeff\u2060" * (n // 4),
    "fullwidth digits": lambda n: "\uff11\u3000" * (n // 2),
    "digits on lines": lambda n: "1234\n" * (n // 5),
}


def test_megabyte_of_random_digits_and_separators_finishes() -> None:
    text = "".join(rng.choices("0123456789 -./()", k=MB))
    d = Detector()
    findings = d.scan(text)
    assert len(findings) < 100  # chance phone numbers; most of it is one long stretch
    out = d.redact(text)
    assert all(text[f.start : f.end] not in out for f in findings)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_megabyte_of_hostile_input_finishes_with_nothing_found(kind: str) -> None:
    text = HOSTILE[kind](MB)
    d = Detector()
    assert d.scan(text) == []
    assert d.redact(text) == text


@contextmanager
def counting() -> Iterator[dict[str, int]]:
    """Counts the candidates the detector examines."""
    counts = {"runs": 0, "tokens": 0, "amounts": 0}
    orig_of, orig_token, orig_amount = Run.of, Detector._token, balance.find_amount

    def of(cls: type[Run], text: str, start: int, end: int) -> Run:
        counts["runs"] += 1
        return orig_of.__func__(cls, text, start, end)  # type: ignore[attr-defined]

    def token(self: Detector, *args: object) -> int | None:
        counts["tokens"] += 1
        return orig_token(self, *args)  # type: ignore[arg-type]

    def amount(*args: object) -> tuple[int, int] | None:
        counts["amounts"] += 1
        return orig_amount(*args)  # type: ignore[arg-type]

    Run.of = classmethod(of)  # type: ignore[method-assign,assignment]
    Detector._token = token  # type: ignore[method-assign]
    detector.balance.find_amount = amount  # type: ignore[assignment]
    try:
        yield counts
    finally:
        Run.of = orig_of  # type: ignore[method-assign]
        Detector._token = orig_token  # type: ignore[method-assign]
        detector.balance.find_amount = orig_amount


GROWING: dict[str, Callable[[int], str]] = {
    "phone-like runs": lambda n: "call 020 7946 0958 " * (n // 19),
    "cvv cues": lambda n: "CVV 123 " * (n // 8),
    "amounts": lambda n: "balance $1,234.56 " * (n // 18),
    "colons": lambda n: "1:a:" * (n // 4),
    "sentence digits": lambda n: ". 1" * (n // 3),
    "words with digits": lambda n: "a1 " * (n // 3),
    # Through the normaliser first: markup, invisible characters, other scripts, lines.
    "markup around digits": lambda n: "<b>4111</b> **1111** card " * (n // 26),
    "disguised digits": lambda n: "\u0664\u200b\uff11\u2013\u0967 x " * (n // 8),
    "digits on lines": lambda n: "call\n4155\n5526 " * (n // 16),
    "spelled digits": lambda n: "four one five five five five two six seven one. " * (n // 48),
}


# Work is counted by patching the detector's functions, which compiled modules call directly: the
# count runs in pure Python (test_pii_native runs it so when the compiled build is live).
@pytest.mark.skipif(BACKEND != "python", reason="counts calls by patching the detector's functions")
@pytest.mark.parametrize("kind", sorted(GROWING))
def test_work_grows_in_proportion_to_input(kind: str) -> None:
    d = Detector()
    work = []
    for n in (50_000, 100_000):
        with counting() as counts:
            d.scan(GROWING[kind](n))
        work.append(sum(counts.values()))
    assert work[0] > 0
    assert work[1] <= 2.2 * work[0]
