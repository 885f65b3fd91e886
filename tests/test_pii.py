"""The PII detector's recognizers, API contract, allowlist and redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.pii import (
    ALL_TYPES,
    FINANCIAL_TYPES,
    PII_TYPES,
    Detector,
    Finding,
    detector_from_config,
    get_detector,
    redact,
    scan,
)


def found(text: str, detector: Detector | None = None) -> list[tuple[str, str]]:
    d = detector or get_detector()
    return [(f.type, text[f.start : f.end]) for f in d.scan(text)]


# --- what each recognizer finds ---------------------------------------------------------------

POSITIVES = [
    ("Write to jane.doe+bank@example.co.uk today", "EMAIL_ADDRESS", "jane.doe+bank@example.co.uk"),
    ("Mail JOSÉ@exämple.de please", "EMAIL_ADDRESS", "JOSÉ@exämple.de"),
    ("Call me at (415) 555-2671 tonight", "PHONE_NUMBER", "(415) 555-2671"),
    ("Call me at 415-555-2671 x123 tonight", "PHONE_NUMBER", "415-555-2671 x123"),
    ("Our London office: +44 20 7946 0958.", "PHONE_NUMBER", "+44 20 7946 0958"),
    ("Tel. 020 7946 0958", "PHONE_NUMBER", "020 7946 0958"),
    ("Mobile +49 (0) 151 23456789, evenings", "PHONE_NUMBER", "+49 (0) 151 23456789"),
    ("Appelez le 01 42 68 53 00 demain", "PHONE_NUMBER", "01 42 68 53 00"),
    ("Phone: 0044 20 7946 0958", "PHONE_NUMBER", "0044 20 7946 0958"),
    ("My card is 4111 1111 1111 1111.", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("Amex 3782-822463-10005 was charged", "CREDIT_CARD", "3782-822463-10005"),
    ("Mastercard 2221000000000009 expired", "CREDIT_CARD", "2221000000000009"),
    ("pay with 6759649826438453 now", "CREDIT_CARD", "6759649826438453"),
    ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
    ("to GB29NWBK60161331926819.", "IBAN_CODE", "GB29NWBK60161331926819"),
    ("My SSN is 536-90-4399.", "US_SSN", "536-90-4399"),
    ("social security number 536904399", "US_SSN", "536904399"),
    ("The server at 192.168.10.4 is down", "IP_ADDRESS", "192.168.10.4"),
    ("login from 2001:db8::8a2e:370:7334 failed", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
    ("the routing number is 021000021", "US_BANK_ROUTING", "021000021"),
    ("my account number is 12345678901", "US_BANK_NUMBER", "12345678901"),
    ("Acct no. 000123456789 at the branch", "US_BANK_NUMBER", "000123456789"),
    ("SWIFT: DEUTDEFF500", "SWIFT_CODE", "DEUTDEFF500"),
    ("use BIC NWBKGB2L for transfers", "SWIFT_CODE", "NWBKGB2L"),
    ("The CVV is 123.", "CARD_CVV", "123"),
    ("security code (CVV) 4321", "CARD_CVV", "4321"),
    ("I changed my PIN to 1930 yesterday", "CARD_PIN", "1930"),
    ("send to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "CRYPTO", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ("to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "CRYPTO",
     "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
    ("taproot bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297", "CRYPTO",
     "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297"),
    ("eth 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "CRYPTO",
     "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
    ("my wallet 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "CRYPTO",
     "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
    ("key sk-proj-Ab3dEf6hIj9kLmN0pQrStUvWxYz123 here", "SECRET",
     "sk-proj-Ab3dEf6hIj9kLmN0pQrStUvWxYz123"),
    ("AWS AKIAIOSFODNN7EXAMPLE leaked", "SECRET", "AKIAIOSFODNN7EXAMPLE"),
    ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "SECRET",
     "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("Stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "SECRET", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("Your balance is $5,432.10.", "ACCOUNT_BALANCE", "$5,432.10"),
    ("Available credit: 2 300 EUR", "ACCOUNT_BALANCE", "2 300 EUR"),
    ("Sie haben €1.234,56 auf Ihrem Konto; saldo €1.234,56", "ACCOUNT_BALANCE", "€1.234,56"),
    # Movements on the customer's own account (what the LLM chatbot made up):
    ("The last transaction on your account was a $105.23 credit.", "ACCOUNT_BALANCE", "$105.23"),
    ("Your most recent deposit of $1,200.00 has cleared.", "ACCOUNT_BALANCE", "$1,200.00"),
    ("Your last payment of $250 was received on May 3.", "ACCOUNT_BALANCE", "$250"),
]


@pytest.mark.parametrize(("text", "kind", "value"), POSITIVES)
def test_finds(text: str, kind: str, value: str) -> None:
    assert (kind, value) in found(text)


def test_jwt_and_private_key() -> None:
    jwt = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
        "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
    assert found(f"Authorization: Bearer {jwt}") == [("SECRET", jwt)]
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAKC\n-----END RSA PRIVATE KEY-----"
    assert found(f"key:\n{pem}\nthanks") == [("SECRET", pem)]


HARD_NEGATIVES = [
    "Your order 4155552671 has shipped.",
    "Order #12345678 was delivered on 2024-03-15.",
    "The meeting is on 15/03/2024 at 10:30.",
    "Logged at 2024-03-15T10:30:00.123456Z by the system.",
    "Update to version 10.0.19041.1 today.",
    "Update to version 1.2.3.4 today.",
    "Tracking number 1Z999AA10123456784.",
    "USPS tracking 9400 1000 0000 0000 0000 00",
    "ISBN 978-3-16-148410-0",
    "See ISBN 0-306-40615-2 for details.",
    "The annual fee is $95.",
    "A minimum balance of $1,500 avoids the monthly fee.",
    "Earn up to $300 cash back.",
    "The city has 8 336 817 inhabitants.",
    "We processed 1,234,567 payments in 2023.",
    "The office is at 1600 Amphitheatre Parkway, Mountain View 94043-1351.",
    "Your card ending in 4821 is active.",
    "Card 4111 1111 1111 1112 is not a valid number.",
    "The IBAN DE89 3704 0044 0532 0130 01 is wrong.",
    "Form 666-12-3456 is void.",
    "IMPORTANT: CUSTOMER SERVICE WILL NEVER ASK FOR YOUR PASSWORD.",
    "We use scikit-learn; see the task-management-system-docs.",
    "Commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it.",
    "Request id 123e4567-e89b-12d3-a456-426614174000.",
    "Coordinates 37.7749, -122.4194.",
    "Address 999.12.13.14 is not an IP address.",
    "Call 3 times a day for 20 minutes.",
    "Room 1204, floor 12.",
    "PIN reset takes 3-5 days; in 2024 we reset 1200 PINs.",
    "Reference number 987654321.",
    "A wire transfer costs $25 per transaction.",
    "Transactions over $500 need approval.",
    "Wires received after 5 pm are credited the next day; the fee is $15.",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_do_not_fire(text: str) -> None:
    assert found(text) == []


def test_context_decides_bare_numbers() -> None:
    assert found("call 4155552671") == [("PHONE_NUMBER", "4155552671")]
    assert found("order 4155552671") == []
    assert found("the ABA is 121000358") == [("US_BANK_ROUTING", "121000358")]
    assert found("it is 121000358") == []


def test_ethereum_checksum_must_hold() -> None:
    good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    bad = good[:-1] + "D"  # flips one letter's case: checksum fails
    assert found(f"to {good}") == [("CRYPTO", good)]
    assert found(f"to {bad}") == []


def test_phone_regions_are_configurable() -> None:
    text = "In Berlin: 030 12345678"  # a Berlin number written nationally, no cue
    assert found(text, Detector(regions=["DE"])) == [("PHONE_NUMBER", "030 12345678")]
    assert found(text, Detector(regions=["US"])) == []
    # A phone cue makes it a phone number in any region ("Tel." leads it).
    assert found("Tel. 030 12345678", Detector(regions=["US"])) == [
        ("PHONE_NUMBER", "030 12345678")
    ]
    assert found("Tel. +49 30 12345678", Detector(regions=["US"])) == [
        ("PHONE_NUMBER", "+49 30 12345678")
    ]
    with pytest.raises(ValueError, match="region"):
        Detector(regions=["XX"])


# --- the API contract ------------------------------------------------------------------------


def test_findings_are_sorted_typed_spans_without_text() -> None:
    text = "Card 4111 1111 1111 1111, mail a@b.io, call +44 20 7946 0958."
    findings = scan(text)
    assert [f.type for f in findings] == ["CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER"]
    assert all(isinstance(f, Finding) for f in findings)
    assert [f.start for f in findings] == sorted(f.start for f in findings)
    for f in findings:
        assert set(f.to_dict()) == {"type", "start", "end", "score"}
        assert text[f.start : f.end] not in str(f.to_dict())
        assert 0.5 <= f.score <= 1.0
    with pytest.raises(AttributeError):
        findings[0].start = 3  # type: ignore[misc]


def test_type_families() -> None:
    assert PII_TYPES | FINANCIAL_TYPES == ALL_TYPES
    assert "ACCOUNT_BALANCE" in FINANCIAL_TYPES and "ACCOUNT_BALANCE" not in PII_TYPES
    assert "EMAIL_ADDRESS" in PII_TYPES and "EMAIL_ADDRESS" not in FINANCIAL_TYPES
    text = "Mail a@b.io; your balance is $12.50; card 4111111111111111."
    d = get_detector()
    assert {f.type for f in d.pii(text)} == {"EMAIL_ADDRESS", "CREDIT_CARD"}
    assert {f.type for f in d.financial(text)} == {"ACCOUNT_BALANCE", "CREDIT_CARD"}
    assert [f.type for f in d.pii(text, allow_types=["EMAIL_ADDRESS"])] == ["CREDIT_CARD"]
    assert [f.type for f in d.scan(text, entities={"EMAIL_ADDRESS"})] == ["EMAIL_ADDRESS"]


def test_entities_and_threshold() -> None:
    text = "Mail a@b.io or call +44 20 7946 0958"
    assert [f.type for f in Detector(entities=["PHONE_NUMBER"]).scan(text)] == ["PHONE_NUMBER"]
    assert Detector(threshold=1.01).scan(text) == []
    with pytest.raises(ValueError, match="NOT_A_TYPE"):
        Detector(entities=["NOT_A_TYPE"])


def test_empty_and_non_text() -> None:
    assert scan("") == []
    assert redact("") == ""
    with pytest.raises(TypeError):
        scan(b"bytes")  # type: ignore[arg-type]


# --- allowlist ----------------------------------------------------------------------------------

ALLOW = ("+1 800 555 0199", "Support@ExampleBank.com", "100 Harbour Street, Springfield 02134")


def test_allowlist_drops_public_values_in_any_format() -> None:
    d = Detector(allow=ALLOW)
    text = (
        "Call us on (800) 555-0199 or 1-800-555-0199, or mail support@examplebank.com; "
        "we are at 100 Harbour Street, Springfield 02134."
    )
    assert d.scan(text) == []
    # Not on the list: still found.
    assert found("call (800) 555-0198", d) == [("PHONE_NUMBER", "(800) 555-0198")]
    assert found("mail help@examplebank.com", d) == [("EMAIL_ADDRESS", "help@examplebank.com")]


def test_get_detector_is_cached_per_settings() -> None:
    assert get_detector() is get_detector()
    assert get_detector(allow=["a@b.io"]) is get_detector(allow=("a@b.io",))
    assert get_detector(allow=["a@b.io"]) is not get_detector()
    assert get_detector(regions=["GB"]) is not get_detector()
    assert get_detector(regions="GB") is get_detector(regions=["GB"])  # a lone string is a region
    assert get_detector(allow="a@b.io") is get_detector(allow=["a@b.io"])


def test_detector_from_config(tmp_path: Path) -> None:
    from llmops.config import load_config

    (tmp_path / "pyproject.toml").write_text(
        '[tool.llmops.pii]\nallow = ["a@b.io"]\nregions = ["GB"]\nthreshold = 0.6\n',
        encoding="utf-8",
    )
    d = detector_from_config(load_config(tmp_path))
    assert d.regions == ("GB",)
    assert d.threshold == 0.6
    assert d.scan("mail a@b.io") == []


# --- redaction ------------------------------------------------------------------------------


def test_redact_replaces_every_finding_with_its_type() -> None:
    text = "Card 4111 1111 1111 1111, CVV 123, mail a@b.io. Your balance is $5.00."
    assert redact(text) == (
        "Card <CREDIT_CARD>, CVV <CARD_CVV>, mail <EMAIL_ADDRESS>. Your balance is "
        "<ACCOUNT_BALANCE>."
    )


def test_redact_removes_every_occurrence_of_a_found_value() -> None:
    # The second mention has no cue, but it is the same number: it goes too.
    text = "Call me on 4155552671. Again: 4155552671"
    out = redact(text)
    assert "4155552671" not in out
    assert out == "Call me on <PHONE_NUMBER>. Again: <PHONE_NUMBER>"


def test_redact_keeps_text_without_findings() -> None:
    text = "Nothing to see here, version 1.2.3 on 2024-01-01."
    assert redact(text) == text


# --- issue 15: phone cues, IBAN and card forms, product thresholds, context across lines -------

ISSUE_15_POSITIVES = [
    ("Phone: 451 5986", "PHONE_NUMBER", "451 5986"),  # a local number after a phone cue
    ("Can someone call me on 9472 7916?", "PHONE_NUMBER", "9472 7916"),
    ("Personal info:\nPhone:\n467 3395\n\nE-mail: x@example.com", "PHONE_NUMBER", "467 3395"),
    ("They're not answering at 78 651 450", "PHONE_NUMBER", "78 651 450"),
    ("Desk: +1-903-140-4508x769", "PHONE_NUMBER", "+1-903-140-4508x769"),  # no NANP exchange 140
    ("Fax 001-748-088-2851 x818", "PHONE_NUMBER", "001-748-088-2851 x818"),
    ("Ring +46 8 123 456 78 for Stockholm", "PHONE_NUMBER", "+46 8 123 456 78"),
    ("Our Oslo desk: 0047 22 12 34 56", "PHONE_NUMBER", "0047 22 12 34 56"),
    ("I placed an online order but got no text on my registered 905-674-3793.",
     "PHONE_NUMBER", "905-674-3793"),
    ("my iban is gb42nawi04454264788619", "IBAN_CODE", "gb42nawi04454264788619"),
    ("IBAN NO 93 8601 1117 947 please", "IBAN_CODE", "NO 93 8601 1117 947"),
    ("IBAN NO.93.8601.1117.947 please", "IBAN_CODE", "NO.93.8601.1117.947"),
    ("What is the limit for card 501864667909?", "CREDIT_CARD", "501864667909"),
    ("Card:\n4111\n1111\n1111\n1111\nthanks", "CREDIT_CARD", "4111\n1111\n1111\n1111"),
    ("Your reference 4111 1111 1111 1111", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("Ticket 536-90-4399 is closed", "US_SSN", "536-90-4399"),
    ("your savings account is:\n$13.60 million", "ACCOUNT_BALANCE", "$13.60"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "kind", "value"), ISSUE_15_POSITIVES)
def test_issue_15_finds(text: str, kind: str, value: str) -> None:
    assert (kind, value) in found(text)


ISSUE_15_NEGATIVES = [
    "The interest rate is 18.53% for balances above $5,000.",
    "Balances over $10,000 earn a bonus rate.",
    "Keep a minimum balance of $300 to avoid the fee.",
    "Order 501864667909 has shipped.",  # 12 digits, Luhn-valid, but no card cue
    "I'd like a taxi to 14 3684 Court Street. Please call me when you're here.",
    "Please return it to 94941 2505 Heatherleigh Suite 620.",
    "Zip 94043\n2015 was the year.",
    "Call 3 times a day for 20 minutes.",
]


@pytest.mark.parametrize("text", ISSUE_15_NEGATIVES)
def test_issue_15_stays_quiet(text: str) -> None:
    assert found(text) == []


def test_a_run_holding_several_values_is_segmented() -> None:
    text = "415-555-2671-4111-1111-1111-1111"
    assert found(text) == [
        ("PHONE_NUMBER", "415-555-2671"),
        ("CREDIT_CARD", "4111-1111-1111-1111"),
    ]
    assert redact(text) == "<PHONE_NUMBER>-<CREDIT_CARD>"


def test_an_account_cue_still_claims_a_checksum_valid_number() -> None:
    assert found("My account number is 63473448586787.") == [
        ("US_BANK_NUMBER", "63473448586787")
    ]
