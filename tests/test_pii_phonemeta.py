"""`phonemeta.valid` is exact: on every candidate it answers, it says what phonenumbers says
(phone._valid's parse + VALID + E.164), and it answers nearly all of them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

import llmops.pii
from llmops.pii import phone
from llmops.pii.phone import DEFAULT_REGIONS
from llmops.pii.phone import library_valid as slow  # the reference: phonenumbers itself
from llmops.pii.phonemeta import UNKNOWN, FastValid, Verdict, valid

OTHER_REGIONS = ("BR", "JP", "MX", "AR", "RU", "CN", "SG", "ZA", "CH", "JM", "GG", "VA", "KZ", "IL")
REGIONS = (*DEFAULT_REGIONS, *OTHER_REGIONS)
CORPUS = Path(__file__).parent / "data" / "pii" / "corpus.jsonl"
FORMATS = (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164)
SEPARATORS = (" ", "-", ".", "/", "\u00a0", "\u2009", "\u202f")
EXTENSIONS = (
    " x12", "x683", " ext. 12", " ext 4", "extension 4", " EXT. 9", " x", "x 12", "  X  123456",
    "Ext.12", " eXtension 5", " x1234567", " ext. 1234567890",
)  # fmt: skip


def written(region: str) -> Iterator[str]:
    """The example numbers of every type of `region`, written as people write them."""
    for kind in phonenumbers.PhoneNumberType.values():
        num = phonenumbers.example_number_for_type(region, kind)
        if num is None:
            continue
        for fmt in FORMATS:
            text = phonenumbers.format_number(num, fmt)
            yield text
            yield text.replace(" ", "-")
            yield text.replace(" ", ".")
            head, _, tail = text.partition(" ")
            if tail:
                yield f"({head}) {tail}"
        nsn = phonenumbers.national_significant_number(num)
        cc = str(num.country_code)
        prefix = phonenumbers.ndd_prefix_for_region(region, True) or ""
        yield from (nsn, prefix + nsn, cc + nsn, "00" + cc + nsn, "011" + cc + nsn, "+" + nsn)
        yield f"+{cc} ({prefix or 0}){nsn}"  # "+44 (0)20 7946 0958"
        if nsn.startswith(prefix) and prefix:
            yield nsn[len(prefix) :]


def mutated(text: str, rng: random.Random) -> str:
    """One digit changed, dropped or added, or the national prefix / "+" / IDD toggled."""
    chars = list(text)
    op = rng.randrange(7)
    i = rng.randrange(len(chars) + 1)
    if op == 0 and i < len(chars) and chars[i].isdigit():
        chars[i] = rng.choice("0123456789")
    elif op == 1 and i < len(chars) and chars[i].isdigit():
        del chars[i]
    elif op == 2:
        chars.insert(i, rng.choice("0123456789"))
    elif op == 3:
        return text[1:] if text[:1] in "0+" else "0" + text
    elif op == 4:
        return "+" + text.lstrip("+")
    elif op == 5:
        return rng.choice(("00", "011", "0011", "810")) + text.lstrip("+")
    else:
        return text.replace(" ", rng.choice(SEPARATORS))
    return "".join(chars)


def candidates(region: str, seed: int = 0) -> list[str]:
    rng = random.Random(f"{seed}:{region}")
    base = list(dict.fromkeys(written(region)))
    out = list(base)
    for text in base:
        out += [mutated(text, rng) for _ in range(4)]
    for _ in range(60):
        digits = "".join(rng.choices("0123456789", k=rng.randint(7, 15)))
        out += [digits, "+" + digits]
    out += [text + rng.choice(EXTENSIONS) for text in rng.sample(base, min(20, len(base)))]
    return list(dict.fromkeys(out))


def check(candidates: list[str], region: str) -> tuple[int, int, int]:
    """(answered, of which numbers, fell back); fails on the first disagreement."""
    answered = numbers = unknown = 0
    for text in candidates:
        got = valid(text, region)
        if got is UNKNOWN:
            unknown += 1
            continue
        answered += 1
        numbers += got is not None
        assert got == slow(text, region), (text, region)
    return answered, numbers, unknown


@pytest.mark.parametrize("region", REGIONS)
def test_agrees_with_phonenumbers_on_written_and_mutated_examples(region: str) -> None:
    answered, numbers, unknown = check(candidates(region), region)
    assert answered > 300
    assert numbers > 50  # E.164 answers compared, not only Nones
    assert unknown == 0  # only vanity numbers and "xx" carrier codes fall back


def test_answers_nearly_all_default_region_candidates_and_finds_numbers() -> None:
    total = unknown = found = 0
    for region in DEFAULT_REGIONS:
        for text in candidates(region, seed=1):
            got = valid(text, region)
            total += 1
            unknown += got is UNKNOWN
            found += isinstance(got, str)
    assert unknown / total < 0.01
    assert found / total > 0.3  # the examples are valid numbers: the check above is not vacuous


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+44 20 7946 0958", "GB", "+442079460958"),
        ("+44 (0)20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("20 7946 0958", "GB", None),  # GB formats want the national prefix
        ("44 20 7946 0958", "GB", "+442079460958"),  # own country code without "+"
        ("0044 20 7946 0958", "GB", "+442079460958"),  # IDD
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("(415) 555-2671", "CA", "+14155552671"),
        ("(876) 808-0478", "US", "+18768080478"),  # Jamaica's code, written in the US
        ("(541) 697-1743 x683", "US", "+15416971743"),
        ("+1-540-504-3995x19930", "US", "+15405043995"),
        ("+33\u202f1\u202f23\u202f45\u202f67\u202f89", "FR", None),  # thin spaces: not viable
        ("\u202f01 23 45 67 89\u2009", "FR", "+33123456789"),
        ("+999 20 7946 0958", "GB", None),
        ("1-800-FLOWERS", "US", UNKNOWN),  # a vanity number: phonenumbers' business
        ("(541) 697-1743 xx12", "US", UNKNOWN),  # a carrier code
        ("1-800-234-5678 x", "US", "+18002345678"),  # a last "x" is ignored
        ("12+34567890", "US", None),  # a "+" inside: not viable
        ("541 x 697 1743 ext. 12", "US", None),  # an "x" that does not lead to the extension
        ("541-697-1743 x12 x12", "US", None),
        ("01800123456", "IL", "+9721800123456"),  # the IDD "01" then a "8": national
        # The "8" is both BY's national prefix and the number's first digit; the prefix rule
        # reads all the candidate's digits, the extension's too.
        ("8011234567 x12", "BY", "+3758011234567"),
    ],
)
def test_known_cases(text: str, region: str, expected: Verdict) -> None:
    got = valid(text, region)
    assert got == expected
    if got is not UNKNOWN:
        assert got == slow(text, region)


def test_unknown_regions() -> None:
    assert valid("020 7946 0958", "XX") is UNKNOWN
    assert valid("020 7946 0958", "gb") is UNKNOWN
    with pytest.raises(ValueError, match="XX"):
        FastValid("XX")
    assert FastValid("GB")("020 7946 0958") == "+442079460958"


ALPHABET = "0123456789" * 3 + " -./()\u00a0\u2009\u202f+"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(("", "+", "(", "00", "011", "+0")),
    st.text(alphabet=ALPHABET, min_size=5, max_size=22),
    st.sampled_from(("", "", "", *EXTENSIONS, " xx12", "ext12345678901", " FLOWERS", "#")),
    st.sampled_from(REGIONS),
)
def test_agrees_on_any_digits_and_separators(lead: str, body: str, tail: str, region: str) -> None:
    text = lead + body + tail
    got = valid(text, region)
    assert got is UNKNOWN or got == slow(text, region)


@pytest.mark.skipif(llmops.pii.BACKEND != "python", reason="records phone._valid's calls")
def test_agrees_on_the_detectors_calls_on_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.pii import Detector
    from llmops.pii.quality import load_corpus

    calls: list[tuple[str, str]] = []
    original = phone._valid

    def recording(candidate: str, region: str) -> str | None:
        calls.append((candidate, region))
        return original(candidate, region)

    monkeypatch.setattr(phone, "_valid", recording)
    detector = Detector()
    for text, _ in load_corpus(CORPUS):
        detector._detect(text)
    assert len(calls) > 100
    unknown = 0
    for candidate, region in calls:
        got = valid(candidate, region)
        unknown += got is UNKNOWN
        assert got is UNKNOWN or got == slow(candidate, region), (candidate, region)
    assert unknown / len(calls) < 0.02
