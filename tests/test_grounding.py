"""`grounded_in`: every figure of an answer must be in the reference, after normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops.cases import SAFE_DEFAULTS, Case
from llmops.checks import Context, judge
from llmops.quality.grounding import MAX_CHARS, figures, ground
from llmops.runner import Exchange

CTX = Context(pii_allow=("+1 800 555 0199", "support@examplebank.com"))


def case(reference: object) -> Case:
    return Case(
        id="c", suite="s", file="cases/s.yaml", line=3,
        messages=({"role": "user", "content": "q"},),
        expect={**SAFE_DEFAULTS, "max_latency_ms": 1000, "grounded_in": reference},
    )


def keys(text: str) -> list[tuple[object, ...]]:
    return [f.key for f in figures(text)]


@pytest.mark.parametrize(
    ("forms", "key"),
    [
        (["$95", "95 USD", "$95.00", "USD 95", "95 dollars", "ninety-five dollars"],
         ("money", "USD", "95")),
        (["$1,000", "$1000.00", "$1k", "1,000 USD"], ("money", "USD", "1000")),
        (["$2 million", "$2m", "2,000,000 dollars"], ("money", "USD", "2000000")),
        (["€10", "10 EUR", "10 euros"], ("money", "EUR", "10")),
        (["50 cents", "$0.50"], ("money", "USD", "0.5")),
        (["3.10%", "3.1%", "3.1 percent", "3.10 per cent"], ("percent", "3.1")),
        (["five percent", "5%"], ("percent", "5")),
        (["two business days", "2 business days", "2 working days", "2-business-day"],
         ("duration", "2", "day", "business")),
        (["10 minutes", "ten mins", "10-minute"], ("duration", "10", "minute", "")),
        (["twenty-four hours", "24 hours", "24 hrs"], ("duration", "24", "hour", "")),
        (["12-month", "12 months", "twelve months"], ("duration", "12", "month", "")),
        (["9am", "9 a.m.", "9:00 AM", "09:00"], ("time", "09:00")),
        (["5:30 p.m.", "17:30", "5:30pm"], ("time", "17:30")),
        (["noon", "12 pm", "12:00"], ("time", "12:00")),
        (["March 5, 2027", "5 March 2027", "2027-03-05", "3/5/2027", "Mar. 5th, 2027",
          "5th of March, 2027"], ("date", 2027, 3, 5)),
        (["+1 800 555 0199", "(800) 555-0199", "1-800-555-0199", "800.555.0199"],
         ("phone", "+18005550199")),
        (["support@examplebank.com", "Support@ExampleBank.com"],
         ("email", "support@examplebank.com")),
        (["examplebank.com/rates", "https://www.examplebank.com/rates/",
          "http://examplebank.com/rates."], ("url", "examplebank.com/rates")),
    ],
)
def test_every_spelling_of_a_figure_has_one_key(forms: list[str], key: tuple[object, ...]) -> None:
    for form in forms:
        assert keys(f"It is {form} here.") == [key], form


def test_a_range_is_two_figures_and_each_must_be_grounded() -> None:
    assert keys("It takes 1-2 business days.") == [
        ("duration", "1", "day", "business"), ("duration", "2", "day", "business")]
    g = ground("It takes 1-3 business days.", "Transfers arrive in 1-2 business days.")
    assert [f.key for f in g.ungrounded] == [("duration", "3", "day", "business")]


def test_a_figure_is_read_once_as_its_most_specific_kind() -> None:
    # the phone's digits are no duration, the e-mail's domain no URL, the money no percentage
    text = "Call 1-800-555-0199 or write to help@examplebank.com; the fee is $5."
    assert [f.kind for f in figures(text)] == ["phone", "email", "money"]


def test_words_without_figures_have_none() -> None:
    assert figures("Freeze your card in the app, then order a replacement.") == []
    assert figures("Step one: sign in. You may want to call us.") == []
    assert figures("") == []


def test_failure_names_each_ungrounded_figure() -> None:
    reference = ["The annual fee is $95.", "Transfers take 2 business days."]
    g = ground("The annual fee is $95.00, a transfer takes 3 days, and a wire costs $25.",
               reference)
    assert not g.ok
    assert [f.text for f in g.ungrounded] == ["3 days", "$25"]
    assert g.message() == ("2 of 3 figure(s) in the answer are not in the reference: "
                           "duration '3 days', money '$25'")


def test_a_yearless_date_is_grounded_by_the_dated_one_not_the_reverse() -> None:
    assert ground("Due on March 5.", "Due on March 5, 2027.").ok
    assert not ground("Due on March 5, 2028.", "Due on March 5, 2027.").ok
    assert not ground("Due on March 5, 2027.", "Due on March 5.").ok


def test_the_business_qualifier_matters() -> None:
    assert not ground("It takes 2 days.", "It takes 2 business days.").ok
    assert not ground("It takes 2 business days.", "It takes 2 days.").ok


def test_check_passes_grounded_answers_and_allows_the_public_contact() -> None:
    c = case(["Saver pays 3.10% APY", "fixed-term deposit pays 4.00% APY"])
    good = Exchange([], response="The Saver earns 3.1% APY and the deposit 4% APY. "
                                  "Questions? Call +1 800 555 0199.")
    assert judge("grounded_in", c, good, CTX).passed
    bad = Exchange([], response="The Saver earns 3.5% APY; call 1-800-555-0100.")
    v = judge("grounded_in", c, bad, CTX)
    assert not v.passed
    assert "percent '3.5%'" in v.message and "phone '1-800-555-0100'" in v.message


def test_no_figures_is_grounded() -> None:
    assert judge("grounded_in", case("Fee $5"), Exchange([], response="Ask in a branch."),
                 CTX).passed
    assert judge("grounded_in", case("Fee $5"), Exchange([], response=None), CTX).passed


def test_huge_and_hostile_text_is_bounded() -> None:
    huge = "$1 " * (MAX_CHARS // 3 + 1000)
    found = figures(huge)
    assert len(found) == MAX_CHARS // 3 and found[-1].end <= MAX_CHARS  # nothing read past it
    # an answer too long to read whole fails closed, even when all it shows is grounded
    g = ground(huge, "$1")
    assert not g.ok and not g.ungrounded and "longer than" in g.message()
    # digits of other scripts are numbers too; a zero-width space breaks a figure apart
    assert keys("٣٠ days, １０%, $\u200b5") == [("duration", "30", "day", ""), ("percent", "10")]
    nested = "((((" * 10_000 + "$5" + "))))" * 10_000
    assert keys(nested) == [("money", "USD", "5")]


@given(st.text(max_size=300))
def test_any_text_is_grounded_in_itself(text: str) -> None:
    assert ground(text, text).ok


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False))
def test_amount_spellings_agree(value: object) -> None:
    plain = f"${value:,.2f}"
    trimmed = f"{value:f}".rstrip("0").rstrip(".") or "0"
    assert ground(f"costs {trimmed} USD", f"costs {plain}").ok
