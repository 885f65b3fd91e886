"""Properties that hold for any text: the detector never crashes, its findings are in range,
sorted and disjoint, and redaction leaves no detected value behind."""

from __future__ import annotations

import re
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops.pii import ALL_TYPES, FINANCIAL_TYPES, PII_TYPES, get_detector

# Pieces that look like (or are) PII, glued with separators and words: the texts hypothesis
# builds from them hit the recognizers far more often than random characters do.
PIECES = [
    "4111 1111 1111 1111", "4111111111111111", "378282246310005", "DE89 3704 0044 0532 0130 00",
    "GB29NWBK60161331926819", "536-90-4399", "021000021", "192.168.0.1", "2001:db8::1", "::",
    "+44 20 7946 0958", "(415) 555-2671", "020 7946 0958", "a@b.io", "@", "x@", "@y.com",
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "AKIAIOSFODNN7EXAMPLE", "sk-", "eyJ",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "$5,432.10", "2 300 EUR",
    "CVV", "PIN", "SWIFT", "DEUTDEFF", "routing", "account number", "call", "order", "balance",
    "fee", "Tel.", "x123", "(0)", "ext. 7", "2024-03-15", "10:30", "1.2.3.4", "é", "中", "😀",
]  # fmt: skip
SEPARATORS = [" ", "", "-", ".", ":", "\n", ", ", "/", "(", ")", "+", "0", "7", "a", "Z", "_"]

texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(PIECES + SEPARATORS), max_size=40).map("".join),
    st.lists(
        st.tuples(st.sampled_from(PIECES), st.sampled_from(SEPARATORS)), max_size=15
    ).map(lambda pairs: "".join(a + b for a, b in pairs)),
)

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(texts)
def test_findings_are_in_range_sorted_and_disjoint(text: str) -> None:
    d = get_detector()
    findings = d.scan(text)
    last_end = 0
    for f in findings:
        assert f.type in ALL_TYPES
        assert 0 <= f.start < f.end <= len(text)
        assert f.start >= last_end  # sorted and never overlapping
        assert d.threshold <= f.score <= 1.0
        last_end = f.end
    assert {f.type for f in d.pii(text)} <= PII_TYPES
    assert {f.type for f in d.financial(text)} <= FINANCIAL_TYPES


@SETTINGS
@given(texts)
def test_redacted_text_holds_no_detected_value(text: str) -> None:
    d = get_detector()
    values = {text[f.start : f.end] for f in d.scan(text)}
    out = d.redact(text)
    for value in values:
        assert value not in out


@SETTINGS
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=2000))
def test_never_crashes_on_any_unicode(text: str) -> None:
    get_detector().redact(text)


# Both ways of finding digit runs (the regex and full_stop, interpreted; the walk, compiled)
# give exactly the runs of the pattern with the full rule: a dot followed by white space ends the
# run.
_FULL_RULE = re.compile(
    r"[0-9](?:(?:[ \u00a0\u2009\u202f\-/()]|\.(?![ \u00a0\u2009\u202f\n])){0,3}[0-9]){0,47}"
)


# Ten-digit pieces reach the 48-digit cap.
_RUN_CHARS = [*list("0123456789 .-/()\n\u00a0\u2009\u202fa"), "0123456789"]


def _runs(
    first_at: Callable[[str, int], int], end_of: Callable[[str, int], int], text: str
) -> list[tuple[int, int]]:
    """Every run: the first from `first_at(text, pos)` (-1: no more), ending at `end_of`."""
    runs: list[tuple[int, int]] = []
    pos = 0
    while (start := first_at(text, pos)) >= 0:
        pos = end_of(text, start)
        runs.append((start, pos))
    return runs


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_RUN_CHARS), max_size=120).map("".join))
def test_digit_runs_match_the_full_rule(text: str) -> None:
    from llmops.pii.candidates import DIGIT_RUN, full_stop, next_run, run_end

    def regex_start(t: str, pos: int) -> int:
        m = DIGIT_RUN.search(t, pos)
        return m.start() if m else -1

    def regex_end(t: str, start: int) -> int:
        m = DIGIT_RUN.match(t, start)
        assert m is not None
        return full_stop(t, start, m.end())

    def digit_at(t: str, pos: int) -> int:
        m = re.compile("[0-9]").search(t, pos)
        return m.start() if m else -1

    want = [m.span() for m in _FULL_RULE.finditer(text)]
    assert _runs(regex_start, regex_end, text) == want  # interpreted
    assert _runs(digit_at, lambda t, s: run_end(t, s, len(t)), text) == want  # compiled
    assert _runs(lambda t, p: next_run(t, p)[0], lambda t, s: next_run(t, s)[1], text) == want


_MONEY_PIECES = [*list("0123456789 .,'-"), "$", "€", "EUR", "USD", "Rs.", "euros", "x", "\xa0"]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_MONEY_PIECES), max_size=60).map("".join))
def test_amounts_found_alike_with_the_run_end_shortcut(text: str) -> None:
    from llmops.pii.balance import find_amount
    from llmops.pii.candidates import next_run

    pos = 0
    while (run := next_run(text, pos))[0] >= 0:
        start, pos = run
        assert find_amount(text, start, pos) == find_amount(text, start)


_LOCAL_ENDING_HERE = re.compile(r"[\w.%+\-'!#$&*/=?^`{|}~]{1,64}\Z")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([*list("ab.+_-' é中@"), "x" * 30]), max_size=50).map("".join))
def test_email_local_part_read_backwards_is_the_one_ending_at_the_at(text: str) -> None:
    from llmops.pii.email import _LOCAL_REVERSED

    at = text.find("@")
    while at >= 0:
        lo = max(0, at - 64)
        want = _LOCAL_ENDING_HERE.search(text, lo, at)
        got = _LOCAL_REVERSED.match(text[lo:at][::-1])
        assert (want.start() if want else None) == (at - got.end() if got else None)
        at = text.find("@", at + 1)


_CLAUSE_PIECES = [*list(".!?; \n\u00a0aZé1"), "Tel", "no", "acct", "approx", "Approximately", "é."]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_CLAUSE_PIECES), max_size=40).map("".join))
def test_sentence_breaks_found_alike_by_regex_and_by_scan(text: str) -> None:
    from llmops.pii import context

    assert context._scan_break_before(text) == context._search_break_before(text)
    assert context._scan_break_after(text) == context._search_break_after(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from("abzAZ 1_-.'\n"), max_size=60))
def test_ascii_words_found_alike_by_regex_and_by_scan(text: str) -> None:
    from llmops.pii import context

    low = text.lower()
    assert context._scan_ascii_words(low) == tuple(context._ASCII_WORD.findall(low))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([*"aZ09 -_é", "x" * 70]), max_size=40).map("".join),
    st.integers(0, 400),
)
def test_alnum_runs_found_alike_by_regex_and_by_scan(text: str, pos: int) -> None:
    from llmops.pii import candidates as c

    pos = min(pos, len(text))
    for lo in range(max(0, pos - 128), pos + 1, 7):
        assert c._scan_alnum_left(text, lo, pos) == c._search_alnum_left(text, lo, pos)
    assert c._scan_alnum_right(text, pos) == c._search_alnum_right(text, pos)
