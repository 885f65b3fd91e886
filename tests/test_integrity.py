"""Integrity of a results file: figures that must agree with the records, and the HMAC that proves
CI wrote it. The end-to-end runs (a signed run promoted, a hand edit caught) are in
tests/test_evidence.py; here each rule is held to its values and boundaries."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
from typing import Any

import pytest

from llmops import integrity
from tests.test_gate import record, results

KEY = b"ci-secret"


def doc(**summary: Any) -> dict[str, Any]:
    """A consistent results document of two cases (one check failed), its summary edited."""
    data = results([
        record("a", "not_empty"),
        record("a", "no_pii", "failed"),
        record("b", "not_empty"),
        record("b", "no_pii"),
    ], p95=120.0)
    data["summary"].update(summary)
    return data


# -- the signing key and the signature -----------------------------------------------------------


def test_the_key_comes_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(integrity.KEY_ENV, raising=False)
    assert integrity.results_key() is None
    monkeypatch.setenv(integrity.KEY_ENV, "")
    assert integrity.results_key() is None  # an empty variable is no key
    monkeypatch.setenv(integrity.KEY_ENV, "s3cret")
    assert integrity.results_key() == b"s3cret"


def test_canonical_json_is_sorted_compact_utf8_and_leaves_the_signature_out() -> None:
    data = {"b": [1, 2], "a": "café", "signature": {"alg": "x", "value": "y"}}
    assert integrity.canonical(data) == '{"a":"café","b":[1,2]}'.encode()
    with pytest.raises(ValueError):
        integrity.canonical({"a": math.nan})  # NaN is not JSON: nothing with it is signed


def test_digest_is_hmac_sha256_of_the_canonical_form() -> None:
    want = hmac.new(KEY, b'{"a":1}', hashlib.sha256).hexdigest()
    assert integrity.digest({"a": 1, "signature": {"value": "old"}}, KEY) == want


def test_a_signed_document_verifies_and_signing_again_changes_nothing() -> None:
    data = doc()
    signed = integrity.sign(data, KEY)
    assert signed is data
    assert data["signature"] == {"alg": "hmac-sha256", "value": integrity.digest(data, KEY)}
    first = data["signature"]["value"]
    assert integrity.verify(data, KEY) is None
    integrity.sign(data, KEY)  # the signature member is not part of what it signs
    assert data["signature"]["value"] == first
    # the file as written and read back
    assert integrity.verify(json.loads(json.dumps(data)), KEY) is None


MISMATCH = ("the signature does not match: the results were changed after CI wrote them, "
            "or signed with another key")
UNSIGNED = "the results are not signed (CI signs them when LLMOPS_RESULTS_KEY is set)"


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda d: d.pop("signature"), UNSIGNED),
        (lambda d: d.update(signature="abc"), UNSIGNED),
        (lambda d: d["signature"].update(value=""), UNSIGNED),
        (lambda d: d["signature"].pop("value"), UNSIGNED),
        (lambda d: d["signature"].update(alg="md5"), "unknown signature algorithm 'md5'"),
        (lambda d: d["signature"].pop("alg"), "unknown signature algorithm None"),
        (lambda d: d["summary"].update(passed=4), MISMATCH),
        (lambda d: d["results"][1].update(outcome="passed"), MISMATCH),
        (lambda d: d["signature"].update(value=d["signature"]["value"].upper()), MISMATCH),
        (lambda d: d["summary"].update(pass_rate=math.inf),
         "the results hold a number that is not finite"),
    ],
)
def test_verify_says_why_a_document_is_not_proven(edit: Any, why: str) -> None:
    data = integrity.sign(doc(), KEY)
    edit(data)
    assert integrity.verify(data, KEY) == why


def test_another_key_does_not_verify() -> None:
    data = integrity.sign(doc(), KEY)
    assert integrity.verify(data, b"another") == MISMATCH


def test_nan_and_infinity_are_not_json_numbers() -> None:
    with pytest.raises(ValueError, match=r"^NaN is not a valid JSON number$"):
        json.loads('{"p95": NaN}', parse_constant=integrity.reject_constant)
    with pytest.raises(ValueError, match=r"^-Infinity is not a valid JSON number$"):
        json.loads('[-Infinity]', parse_constant=integrity.reject_constant)


# -- figures that must add up ----------------------------------------------------------------------


def test_a_consistent_document_has_no_problems() -> None:
    assert integrity.problems(doc()) == []
    # a summary written before `skipped` was counted does not have to carry it
    data = doc()
    del data["summary"]["skipped"]
    assert integrity.problems(data) == []


@pytest.mark.parametrize("key", ["cases", "checks", "passed", "failed", "errors"])
def test_each_count_of_the_summary_is_recomputed(key: str) -> None:
    data = doc()
    want = data["summary"][key]
    data["summary"][key] = want + 1
    assert integrity.problems(data) == [
        f"summary {key} is {want + 1} but the records give {want}"
    ]
    del data["summary"][key]
    assert integrity.problems(data) == [f"summary {key} is None but the records give {want}"]


def test_skipped_is_recomputed_when_the_summary_has_it() -> None:
    assert integrity.problems(doc(skipped=2)) == ["summary skipped is 2 but the records give 0"]


@pytest.mark.parametrize("bad", [-0.5, math.inf, -math.inf, math.nan])
def test_impossible_latencies_are_named_by_record_and_stop_there(bad: float) -> None:
    data = doc(passed=0)  # a summary that does not add up either: not reported on top
    data["results"][2]["latency_ms"] = bad
    assert integrity.problems(data) == [f"record 2 (b not_empty): latency {bad!r}"]


def test_zero_and_missing_latencies_are_fine() -> None:
    data = results([record("a", latency_ms=0.0), record("b", "refuses", "error")], p95=0.0)
    assert data["results"][1]["latency_ms"] is not None  # an error keeps its latency
    assert integrity.problems(data) == []
    data = results([record("a", latency_ms=None)])
    assert integrity.problems(data) == []


@pytest.mark.parametrize("q", ["p50", "p95", "p99", "max"])
def test_latency_percentiles_are_recomputed_to_a_hundredth_of_a_ms(q: str) -> None:
    data = results([record("a", latency_ms=0.0), record("b", latency_ms=0.0)], p95=0.0)
    data["summary"]["latency_ms"][q] = 0.01  # rounding: at the tolerance exactly, still fine
    assert integrity.problems(data) == []
    data["summary"]["latency_ms"][q] = 0.02
    assert integrity.problems(data) == [f"summary latency {q} is 0.02 but the records give 0.0"]
    data["summary"]["latency_ms"][q] = -0.01
    assert integrity.problems(data) == []
    data["summary"]["latency_ms"][q] = None
    assert integrity.problems(data) == [f"summary latency {q} is None but the records give 0.0"]
    data["summary"]["latency_ms"][q] = math.nan
    assert integrity.problems(data) == [f"summary latency {q} is nan but the records give 0.0"]


def test_a_latency_where_the_records_have_none_is_a_problem() -> None:
    data = results([record("a", "refuses", "error")])  # errors have no latency to count
    assert data["summary"]["latency_ms"]["p95"] is None
    assert integrity.problems(data) == []
    data["summary"]["latency_ms"]["p95"] = 5.0
    assert integrity.problems(data) == ["summary latency p95 is 5.0 but the records give None"]


def test_the_pass_rate_is_recomputed() -> None:
    data = results([record("a", "not_empty", "failed"), record("b", "not_empty", "failed")])
    assert data["summary"]["pass_rate"] == 0.0
    data["summary"]["pass_rate"] = 1e-6  # rounding to six places: within it
    assert integrity.problems(data) == []
    for bad in (2e-6, -2e-6, 0.5):
        data["summary"]["pass_rate"] = bad
        assert integrity.problems(data) == [
            f"summary pass_rate is {bad!r} but the records give 0.0"
        ]
    for bad in (None, "1.0"):
        data["summary"]["pass_rate"] = bad
        assert integrity.problems(data) == [
            f"summary pass_rate is {bad!r} but the records give 0.0"
        ]


def test_every_problem_is_listed_at_once() -> None:
    data = doc(passed=0, failed=0)
    data["summary"]["latency_ms"]["max"] = 999.0
    assert integrity.problems(copy.deepcopy(data)) == [
        "summary passed is 0 but the records give 3",
        "summary failed is 0 but the records give 1",
        "summary latency max is 999.0 but the records give 120.0",
    ]


# -- records against the exchanges they point to ---------------------------------------------


def with_exchanges(latency: float = 120.0) -> dict[str, Any]:
    """`doc()` with its evidence: one exchange per case (one sample each), and each record
    pointing at its case's."""
    data = doc()
    data["exchanges"] = [
        {"case_id": "a", "repeat": 1, "latency_ms": latency, "error_type": None},
        {"case_id": "b", "repeat": 1, "latency_ms": latency, "error_type": None},
    ]
    for rec in data["results"]:
        rec["exchange"] = 0 if rec["case_id"] == "a" else 1
    return data


def test_records_agree_with_their_exchanges() -> None:
    assert integrity.problems(with_exchanges()) == []
    data = with_exchanges()
    data["results"][0].pop("exchange")  # a record without evidence (a case-file record)
    data["results"][1]["repeat"] = 1  # no repeat and repeat 1 are the same sample
    assert integrity.problems(data) == []


@pytest.mark.parametrize("at", [2, 7, -1, "0", True, 1.0])
def test_an_exchange_that_is_not_there(at: Any) -> None:
    data = with_exchanges()
    data["results"][0]["exchange"] = at
    assert integrity.problems(data) == [
        f"record 0 (a not_empty): exchange {at!r} is not in the run's 2 exchanges"
    ]


def test_an_exchange_of_another_sample() -> None:
    data = with_exchanges()
    data["results"][0]["exchange"] = 1
    data["results"][3]["repeat"] = 2
    assert integrity.problems(data) == [
        "record 0 (a not_empty): exchange 1 is 'b' repeat 1, not this record's sample",
        "record 3 (b no_pii): exchange 1 is 'b' repeat 1, not this record's sample",
    ]


def test_latency_and_error_must_be_the_exchanges() -> None:
    data = with_exchanges(latency=0.0)
    for rec in data["results"]:
        rec["latency_ms"] = 0.0
    data["results"][0]["latency_ms"] = 0.01  # rounding: at the tolerance, still the same
    data["summary"] = integrity_summary(data)
    assert integrity.problems(data) == []
    data["results"][0]["latency_ms"] = 0.02
    data["summary"] = integrity_summary(data)
    assert integrity.problems(data) == [
        "record 0 (a not_empty): latency 0.02 but its exchange says 0.0"]
    data["results"][0]["latency_ms"] = None
    data["summary"] = integrity_summary(data)
    assert integrity.problems(data) == [
        "record 0 (a not_empty): latency None but its exchange says 0.0"]
    data["results"][0]["latency_ms"] = 0.0
    data["exchanges"][1]["latency_ms"] = None
    assert integrity.problems(data)[0] == (
        "record 2 (b not_empty): latency 0.0 but its exchange says None")
    data["exchanges"][1]["latency_ms"] = 0.0
    data["exchanges"][1]["error_type"] = "timeout"
    assert integrity.problems(data) == [
        "record 2 (b not_empty): error None but its exchange says 'timeout'",
        "record 3 (b no_pii): error None but its exchange says 'timeout'",
    ]
    # both latency and error of one record are said
    data["results"][2]["latency_ms"] = 5.0
    data["summary"] = integrity_summary(data)
    assert integrity.problems(data)[:2] == [
        "record 2 (b not_empty): latency 5.0 but its exchange says 0.0",
        "record 2 (b not_empty): error None but its exchange says 'timeout'",
    ]


def integrity_summary(data: dict[str, Any]) -> dict[str, Any]:
    from llmops.results import summarize

    return summarize(data["results"])


def test_twenty_evidence_problems_are_enough_whatever_they_are() -> None:
    data = results([record(f"c{i}") for i in range(30)])
    data["exchanges"] = [{"case_id": "other", "repeat": 1, "latency_ms": 500.0,
                          "error_type": None}]
    for rec in data["results"]:
        rec["exchange"] = 0
    got = integrity.problems(data)
    assert len(got) == 20 and got[-1].startswith("record 19 (c19 not_empty): exchange 0 is")
    # each record wrong twice over: still 20 in all, cut after the tenth record
    data["exchanges"][0].update(case_id="c0", latency_ms=499.0)
    for rec in data["results"]:
        rec["case_id"], rec["error_type"] = "c0", "timeout"
    data["summary"] = integrity_summary(data)
    got = integrity.problems(data)
    assert len(got) == 20 and got[-2:] == [
        "record 9 (c0 not_empty): latency 500.0 but its exchange says 499.0",
        "record 9 (c0 not_empty): error 'timeout' but its exchange says None",
    ]
    data = results([record(f"c{i}") for i in range(30)])
    data["exchanges"] = [{"case_id": "other", "repeat": 1, "latency_ms": 500.0,
                          "error_type": None}]
    for rec in data["results"]:
        rec["exchange"] = 0
    # ... and the summary is still compared after them
    data["summary"]["passed"] = 0
    got = integrity.problems(data)
    assert len(got) == 21 and got[-1] == "summary passed is 0 but the records give 30"


def test_every_record_is_compared_past_one_without_or_outside_the_exchanges() -> None:
    data = with_exchanges()
    data["results"][0].pop("exchange")
    data["results"][1]["exchange"] = 9
    data["results"][3]["exchange"] = 0  # case b's record on case a's exchange
    assert integrity.problems(data) == [
        "record 1 (a no_pii): exchange 9 is not in the run's 2 exchanges",
        "record 3 (b no_pii): exchange 0 is 'a' repeat 1, not this record's sample",
    ]
