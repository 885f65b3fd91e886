"""Feedback records: schema validation, normalisation, ids, key terms of corrected answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops.feedback import records as R
from llmops.feedback.keyterms import key_terms, stem


def upper(text: str) -> str:  # a stand-in redactor whose effect is visible
    return text.replace("secret", "<SECRET>")


def test_valid_minimal_record_has_no_errors():
    assert R.errors({"prompt": "hi", "rating": "up"}) == []
    assert R.errors({"prompt": "hi", "rating": 5, "category": None}) == []


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ({"prompt": "hi", "rating": "meh"}, 'rating: must be up, down or an integer 1..5, not "'),
        ({"prompt": "hi", "rating": 6}, "rating: must be up, down or an integer 1..5, not 6"),
        ({"prompt": "hi", "rating": True}, "rating: must be up, down or an integer 1..5, not true"),
        ({"prompt": "hi", "rating": "up", "category": "rude"}, "category: must be one of"),
        ({"prompt": "hi", "rating": "up", "colour": "red"}, "unknown field colour"),
        ({"rating": "up"}, "'prompt' is a required property"),
        ({"prompt": "hi", "rating": "up", "timestamp": "yesterday"}, "not an ISO 8601"),
        ({"prompt": "hi", "rating": "up", "source": "bot"}, "source:"),
        ({"prompt": "hi", "rating": "up", "id": "has space"}, "id:"),
        (["a list"], "not a JSON object but an array"),
    ],
)
def test_invalid_records_say_why(record, why):
    problems = R.errors(record)
    assert problems, record
    assert any(why in p for p in problems), problems


def test_normalise_fills_defaults_redacts_and_orders():
    rec = R.normalise(
        {"rating": "down", "prompt": "my secret", "comment": "secret!"},
        redact=upper,
        now="2024-05-01T10:00:00Z",
    )
    assert rec["prompt"] == "my <SECRET>"
    assert rec["comment"] == "<SECRET>!"
    assert rec["source"] == "user"
    assert rec["status"] == "new"
    assert rec["category"] == "other"  # negative without a category
    assert rec["timestamp"] == "2024-05-01T10:00:00Z"
    assert rec["id"].startswith("fb-")
    assert list(rec)[:3] == ["id", "timestamp", "source"]
    assert R.errors(rec, stored=True) == []


def test_positive_rating_gets_no_category():
    rec = R.normalise({"prompt": "hi", "rating": 5}, redact=upper)
    assert rec["category"] is None


def test_content_id_is_stable_and_ignores_default_timestamp():
    a = R.normalise({"prompt": "p", "rating": "down"}, redact=upper, now="2024-01-01T00:00:00Z")
    b = R.normalise({"prompt": "p", "rating": "down"}, redact=upper, now="2025-01-01T00:00:00Z")
    c = R.normalise({"prompt": "p", "rating": "up"}, redact=upper)
    assert a["id"] == b["id"]
    assert a["id"] != c["id"]
    given_ts = R.normalise(
        {"prompt": "p", "rating": "down", "timestamp": "2024-01-01T00:00:00Z"}, redact=upper
    )
    assert given_ts["id"] != a["id"]  # a stated time is content


def test_content_id_hashes_redacted_text_only():
    a = R.normalise({"prompt": "x secret", "rating": "down"}, redact=upper)
    b = R.normalise({"prompt": "x <SECRET>", "rating": "down"}, redact=upper)
    assert a["id"] == b["id"]


def test_user_id_kept():
    rec = R.normalise({"id": "ticket-42", "prompt": "p", "rating": 1}, redact=upper)
    assert rec["id"] == "ticket-42"


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("up", "up"),
        ("+", "up"),
        ("Y", "up"),
        ("down", "down"),
        ("-", "down"),
        ("3", 3),
        ("x", None),
    ],
)
def test_parse_rating(text, rating):
    assert R.parse_rating(text) == rating


@pytest.mark.parametrize(
    ("check", "message", "error_type", "category"),
    [
        ("no_pii", "EMAIL_ADDRESS found", None, "pii_leak"),
        ("no_financial_details", "", None, "financial_disclosure"),
        ("not_empty", "the answer is empty", None, "empty"),
        ("max_latency_ms", "took 4000 ms", None, "too_slow"),
        ("refuses", "expected a refusal", None, "unsafe"),
        ("refuses", "expected an answer, got a refusal", None, "wrong_answer"),
        ("contains_any", "expected any of", None, "wrong_answer"),
        ("regex", "", None, "wrong_answer"),
        ("not_empty", "no reply within 30 s", "timeout", "too_slow"),
        ("something_new", "", None, "other"),
    ],
)
def test_category_for_check(check, message, error_type, category):
    assert R.category_for_check(check, message, error_type) == category


def test_eval_id_depends_on_version_case_check_and_failure():
    base = R.eval_id("v2", "c1", "no_pii", "failed/pii_leak")
    assert base == R.eval_id("v2", "c1", "no_pii", "failed/pii_leak")
    assert (
        len(
            {
                base,
                R.eval_id("v3", "c1", "no_pii", "failed/pii_leak"),
                R.eval_id("v2", "c2", "no_pii", "failed/pii_leak"),
                R.eval_id("v2", "c1", "not_empty", "failed/pii_leak"),
                R.eval_id("v2", "c1", "no_pii", "error/too_slow"),
            }
        )
        == 5
    )


# --- key terms ----------------------------------------------------------------------------


def test_stems_are_prefixes_shared_by_inflections():
    assert stem("charges") == "charg"
    assert stem("freezing") == "freez"
    assert stem("stopped") == "stop"
    assert stem("fees") == "fee"
    assert stem("address") == "address"


def test_key_terms_prefer_numbers_names_and_skip_placeholders():
    terms = key_terms(
        "The overdraft fee is $25.00 per day; call <PHONE_NUMBER> or visit Springfield.",
        response="There is no fee.",
    )
    assert "25" in terms
    assert not any("phone" in t for t in terms)
    assert "fee" not in terms  # the bad answer says fee too: it proves nothing
    assert all(t == t.lower() for t in terms)


def test_key_terms_avoid_what_the_bad_response_says():
    terms = key_terms(
        "Our savings account pays 4.1% APY with no minimum balance.",
        response="Our savings account pays 2% interest.",
    )
    assert terms[0] == "4.1"
    assert not {"savings", "account", "pays"} & set(terms)


def test_key_terms_none_for_stopwords_only():
    assert key_terms("Yes, you can.", response="No.") == []


@settings(max_examples=200, deadline=None)
@given(
    expected=st.text(
        alphabet=st.sampled_from(list("abcdefgh ABC 0123456789.,%$'-\n<>_XYZéü")), max_size=80
    ),
    response=st.text(max_size=40),
)
def test_key_terms_always_pass_the_expected_answer(expected, response):
    terms = key_terms(expected, response=response)
    assert len(terms) <= 3
    for term in terms:
        assert term and term in expected.lower(), (term, expected)
