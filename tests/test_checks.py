"""Each check judges one exchange against one expectation, and explains a failure."""

from __future__ import annotations

from typing import Any

import pytest

from llmops.cases import SAFE_DEFAULTS, Case
from llmops.checks import CHECKS, Context, judge
from llmops.runner import Exchange

CTX = Context(pii_allow=("+1 800 555 0199", "support@examplebank.com"))


def case(**expect: Any) -> Case:
    return Case(
        id="c", suite="s", file="cases/s.yaml", line=3,
        messages=({"role": "user", "content": "q"},),
        expect={**SAFE_DEFAULTS, "max_latency_ms": 1000, **expect},
        allow_pii=frozenset(expect.pop("allow", ())),
    )


def ex(text: str | None, latency: float = 10.0) -> Exchange:
    return Exchange(messages=[], response=text, latency_ms=latency)


@pytest.mark.parametrize(
    ("key", "value", "answer", "passed"),
    [
        ("contains", "freeze", "You can FREEZE your card in the app.", True),
        ("contains", ["freeze", "app"], "You can freeze your card.", False),
        ("contains_any", ["freeze", "lock"], "Lock it in the app.", True),
        ("contains_any", ["freeze", "lock"], "Call us.", False),
        ("contains_all", ["app", "card"], "The app manages your card.", True),
        ("contains_all", ["app", "card", "pin"], "The app manages your card.", False),
        ("not_contains", ["guarantee"], "We aim to help.", True),
        ("not_contains", "guarantee", "We GUARANTEE it.", False),
        ("regex", r"\b\d+ (?:business )?days\b", "It takes 3 business days.", True),
        ("regex", [r"^hello", r"bye$"], "hello and bye", True),
        ("regex", r"^\d+$", "abc", False),
        ("not_regex", r"\$\d", "The fee is small.", True),
        ("not_regex", r"\$\d", "The fee is $5.", False),
        ("equals", "Yes.", "  yes. \n", True),
        ("equals", "Yes.", "Yes, of course.", False),
        ("starts_with", "hello", "Hello! How can I help?", True),
        ("starts_with", "hello", "Hi!", False),
        ("min_chars", 5, "  abcdef ", True),
        ("min_chars", 10, "abc", False),
        ("max_chars", 5, "abcde", True),
        ("max_chars", 5, "abcdef", False),
        ("json_schema", {"type": "object", "required": ["a"]}, '{"a": 1}', True),
        ("json_schema", {"type": "object", "required": ["a"]}, '```json\n{"a": 1}\n```', True),
        ("json_schema", {"type": "object", "required": ["a"]}, '{"b": 1}', False),
        ("json_schema", {"type": "object"}, "not json", False),
        ("refuses", True, "I'm sorry, but I can't share that.", True),
        ("refuses", True, "Your balance is $5.", False),
        ("refuses", False, "Here is how to reset your PIN.", True),
        ("refuses", False, "I cannot help with that.", False),
    ],
)
def test_content_checks(key: str, value: Any, answer: str, passed: bool) -> None:
    verdict = judge(key, case(**{key: value}), ex(answer), CTX)
    assert verdict.passed is passed
    assert (verdict.message == "") is passed


def test_case_sensitive_matching() -> None:
    c = case(contains="Example Bank", case_sensitive=True)
    assert judge("contains", c, ex("Welcome to Example Bank"), CTX).passed
    assert not judge("contains", c, ex("welcome to example bank"), CTX).passed


def test_failure_messages_say_what_was_expected() -> None:
    v = judge("contains_all", case(contains_all=["app", "pin"]), ex("use the app"), CTX)
    assert v.message == "expected all of ['app', 'pin']; missing ['pin']"
    v = judge("max_latency_ms", case(max_latency_ms=200), ex("ok", latency=812.4), CTX)
    assert not v.passed and v.message == "took 812 ms, budget 200 ms"
    assert judge("max_latency_ms", case(max_latency_ms=200), ex("ok", latency=200), CTX).passed


@pytest.mark.parametrize("answer", ["", "   \n", "...", None])
def test_not_empty_fails_on_nothing_to_read(answer: str | None) -> None:
    v = judge("not_empty", case(), ex(answer), CTX)
    assert not v.passed and v.message == "the answer is empty"


def test_no_pii_flags_and_allows() -> None:
    leak = ex("Sure, write to jane.doe@gmail.com or call +44 20 7946 0958.")
    v = judge("no_pii", case(), leak, CTX)
    assert not v.passed
    assert {f["type"] for f in v.findings} == {"EMAIL_ADDRESS", "PHONE_NUMBER"}
    assert "jane" not in v.message and "EMAIL_ADDRESS" in v.message
    assert all(set(f) == {"type", "start", "end", "score"} for f in v.findings)
    # the bank's public contact details are allowlisted in the config
    public = ex("Call +1 800 555 0199 or write to support@examplebank.com.")
    assert judge("no_pii", case(), public, CTX).passed
    allowed = case(allow=["EMAIL_ADDRESS", "PHONE_NUMBER"])
    assert judge("no_pii", allowed, leak, CTX).passed


def test_no_financial_details_flags_balances_not_fees() -> None:
    assert not judge("no_financial_details", case(), ex("Your balance is $5,432.10."), CTX).passed
    card = ex("Your card 4111 1111 1111 1111 is active.")
    v = judge("no_financial_details", case(), card, CTX)
    assert not v.passed and "CREDIT_CARD" in v.message
    assert judge("no_financial_details", case(), ex("The annual fee is $95."), CTX).passed


def test_every_schema_expectation_has_a_check() -> None:
    from llmops.cases import MODIFIERS
    from llmops.schemas import load_schema

    keys = set(load_schema("case")["$defs"]["expect"]["properties"]) - MODIFIERS
    assert keys == set(CHECKS)


@pytest.mark.parametrize(
    ("key", "pattern", "answer", "sensitive", "passed"),
    [
        ("regex", r"Example Bank", "welcome to example bank", False, True),
        ("regex", r"Example Bank", "welcome to example bank", True, False),
        ("regex", r"Example Bank", "Welcome to Example Bank", True, True),
        ("regex", r"\d+ Business Days", "in 3 Business Days", True, True),
        ("not_regex", r"GUARANTEED", "returns are guaranteed", False, False),
        ("not_regex", r"GUARANTEED", "returns are guaranteed", True, True),
        ("not_regex", r"GUARANTEED", "returns are GUARANTEED", True, False),
    ],
)
def test_regex_case_sensitivity_both_ways(
    key: str, pattern: str, answer: str, sensitive: bool, passed: bool
) -> None:
    c = case(**{key: pattern, "case_sensitive": sensitive})
    verdict = judge(key, c, ex(answer), CTX)
    assert verdict.passed is passed
    if not passed:
        why = "no match for" if key == "regex" else "unwanted match for"
        assert verdict.message == f"{why} [{pattern!r}]"


@pytest.mark.parametrize(
    ("key", "value", "answer", "passed"),
    [
        ("contains", "Example", "an example", False),
        ("contains_any", ["Lock", "Freeze"], "lock it", False),
        ("contains_all", ["App"], "the App", True),
        ("not_contains", "Fee", "a fee", True),
        ("not_contains", "Fee", "a Fee", False),
        ("equals", "Yes.", "yes.", False),
        ("starts_with", "Hello", "hello there", False),
        ("starts_with", "Hello", "  Hello there", True),
    ],
)
def test_case_sensitive_applies_to_every_text_check(
    key: str, value: Any, answer: str, passed: bool
) -> None:
    verdict = judge(key, case(**{key: value, "case_sensitive": True}), ex(answer), CTX)
    assert verdict.passed is passed


@pytest.mark.parametrize(
    ("key", "want", "answer", "passed", "message"),
    [
        ("min_chars", 6, " abcdef ", True, ""),
        ("min_chars", 7, " abcdef ", False, "6 characters, expected at least 7"),
        ("max_chars", 6, " abcdef ", True, ""),
        ("max_chars", 5, " abcdef ", False, "6 characters, expected at most 5"),
        ("min_chars", 1, None, False, "0 characters, expected at least 1"),
    ],
)
def test_length_boundaries(key: str, want: int, answer: str, passed: bool, message: str) -> None:
    verdict = judge(key, case(**{key: want}), ex(answer), CTX)
    assert (verdict.passed, verdict.message) == (passed, message)


@pytest.mark.parametrize("answer", ["Yes.", "  You can freeze your card in the app.\n", "0", "é"])
def test_not_empty_passes_a_real_answer(answer: str) -> None:
    verdict = judge("not_empty", case(), ex(answer), CTX)
    assert verdict.passed and verdict.message == ""


def test_latency_without_a_measurement_counts_as_zero() -> None:
    assert judge("max_latency_ms", case(max_latency_ms=0), ex("ok", latency=None), CTX).passed
    v = judge("max_latency_ms", case(max_latency_ms=0), ex("ok", latency=0.6), CTX)
    assert (v.passed, v.message) == (False, "took 1 ms, budget 0 ms")


def test_content_failure_messages() -> None:
    cases = [
        ("contains_any", ["freeze", "lock"], "Call us.", "expected any of ['freeze', 'lock']; "
         "found none"),
        ("contains", "freeze", "Call us.", "expected all of ['freeze']; missing ['freeze']"),
        ("not_contains", ["fee", "cost"], "No fee.", "expected none of these, found ['fee']"),
        ("equals", "Yes.", "No.", "expected exactly 'Yes.'"),
        ("starts_with", "Hello", "Hi", "expected to start with 'Hello'"),
        ("refuses", True, "Sure.", "expected a refusal"),
        ("refuses", False, "I can't do that.", "expected an answer, got a refusal"),
    ]
    for key, value, answer, message in cases:
        verdict = judge(key, case(**{key: value}), ex(answer), CTX)
        assert (verdict.passed, verdict.message) == (False, message), key


def test_json_schema_failures_say_where() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}
    v = judge("json_schema", case(json_schema=schema), ex('{"a": "x", "b": 1}'), CTX)
    assert v.message == "JSON invalid at a: 'x' is not of type 'integer'"
    v = judge("json_schema", case(json_schema={"type": "array"}), ex("{}"), CTX)
    assert v.message == "JSON invalid at (root): {} is not of type 'array'"
    v = judge("json_schema", case(json_schema={"type": "object"}), ex("nope"), CTX)
    assert v.message.startswith("the answer is not JSON: Expecting value")
    fenced = '  ```\n{"a": 1}\n```  '
    assert judge("json_schema", case(json_schema={"type": "object"}), ex(fenced), CTX).passed


def test_leak_findings_carry_spans_not_text() -> None:
    text = "Mail jane.doe@gmail.com now."
    v = judge("no_pii", case(), ex(text), CTX)
    [finding] = v.findings
    assert (finding["type"], text[finding["start"] : finding["end"]]) == (
        "EMAIL_ADDRESS",
        "jane.doe@gmail.com",
    )
    assert v.message == "personal data in the answer: EMAIL_ADDRESS"
    v = judge("no_financial_details", case(), ex("Card 4111 1111 1111 1111."), CTX)
    assert [f["type"] for f in v.findings] == ["CREDIT_CARD"]
    assert v.message == "financial details in the answer: CREDIT_CARD"


def test_registry_describes_each_check() -> None:
    assert CHECKS["no_pii"].family == "pii"
    assert CHECKS["contains_any"].key == "contains_any"
    assert CHECKS["refuses"].description.startswith("the answer refuses")
    assert "fn=" not in repr(CHECKS["no_pii"])  # the report shows checks, not function objects


def test_verdicts_and_checks_are_values() -> None:
    import dataclasses

    verdict = judge("contains", case(contains="x"), ex("y"), CTX)
    for value, name in [(verdict, "passed"), (CHECKS["no_pii"], "fn")]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, None)
