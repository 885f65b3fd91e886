"""Evasions (issue 15): a value written so that a reader still sees (or copies) it, but a naive
scanner does not. Each case is one value in one disguise, in a short sentence whose only digits
(or address) are the value's. A case is caught when the detector reports the value's type over
it and the redacted text keeps none of it: no digit, no "@", no digit word.

Classes and counts (`EVASIONS` builds them; `test_the_count_per_class` prints the table):
other-script digits 24, invisible characters 15, separators 39, markup 10, e-mail look-alikes 6,
encoded "@" 4, cue words before a checksum-valid number 16, adjacent values 5, spelled out 6.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from llmops.pii import get_detector
from llmops.pii.normalize import normalize

CARD = "4111 1111 1111 1111"
SSN = "536-90-4399"
PHONE = "415 555 2671"

# --- the cases: (class, name, text, type) ---------------------------------------------------

Case = tuple[str, str, str, str]


def _digits(value: str, zero: int) -> str:
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in value)


SCRIPTS = {
    "fullwidth": 0xFF10,
    "arabic-indic": 0x0660,
    "extended arabic-indic": 0x06F0,
    "devanagari": 0x0966,
    "bengali": 0x09E6,
    "thai": 0x0E50,
    "mathematical bold": 0x1D7CE,
    "mathematical double-struck": 0x1D7D8,
}
INVISIBLE = {
    "zero-width space": "\u200b",
    "zero-width joiner": "\u200d",
    "word joiner": "\u2060",
    "soft hyphen": "\u00ad",
    "byte order mark": "\ufeff",
}
SEPARATORS = {
    "en dash": "\u2013",
    "em dash": "\u2014",
    "minus sign": "\u2212",
    "non-breaking hyphen": "\u2011",
    "hyphen": "\u2010",
    "figure dash": "\u2012",
    "small hyphen-minus": "\ufe63",
    "fullwidth hyphen-minus": "\uff0d",
    "ideographic space": "\u3000",
    "narrow no-break space": "\u202f",
    "tab": "\t",
    "newline": "\n",
    "underscore": "_",
}
CUES = ("reference", "order", "invoice", "ticket", "tracking number", "transaction id", "version",
        "ISBN")  # fmt: skip


def _cases() -> list[Case]:
    out: list[Case] = []
    for name, zero in SCRIPTS.items():
        out.append(("other-script digits", f"card, {name}", f"My card: {_digits(CARD, zero)}.",
                    "CREDIT_CARD"))  # fmt: skip
        out.append(("other-script digits", f"SSN, {name}", f"My SSN is {_digits(SSN, zero)}.",
                    "US_SSN"))  # fmt: skip
        out.append(("other-script digits", f"phone, {name}",
                    f"Call me at {_digits(PHONE, zero)} tonight.", "PHONE_NUMBER"))  # fmt: skip
    for name, c in INVISIBLE.items():
        out.append(("invisible characters", f"card, {name}",
                    f"Card {c.join(CARD.replace(' ', ''))} expires soon.", "CREDIT_CARD"))
        out.append(("invisible characters", f"phone, {name}",
                    f"Call me at 415{c}555{c}2671 tonight.", "PHONE_NUMBER"))  # fmt: skip
        out.append(("invisible characters", f"e-mail, {name}",
                    f"Write to jane.doe@{c}example{c}.com today.", "EMAIL_ADDRESS"))
    for name, sep in SEPARATORS.items():
        out.append(("separators", f"card, {name}", f"Card: {CARD.replace(' ', sep)}.",
                    "CREDIT_CARD"))  # fmt: skip
        out.append(("separators", f"SSN, {name}", f"My SSN is {SSN.replace('-', sep)}.",
                    "US_SSN"))  # fmt: skip
        out.append(("separators", f"phone, {name}", f"Call me at {PHONE.replace(' ', sep)}.",
                    "PHONE_NUMBER"))  # fmt: skip
    markup = {
        "markdown bold": "Card 4111 **1111** 1111 1111 is yours.",
        "markdown italics": "Card _4111_ 1111 1111 1111 is yours.",
        "code spans": "Card `4111` `1111` `1111` `1111` is yours.",
        "one group per line": "Card:\n4111\n1111\n1111\n1111\nis yours.",
        "HTML bold": "Card <b>4111</b> 1111 1111 1111 is yours.",
        "HTML spans": 'Card <span class="x">4111 1111</span> <i>1111</i> 1111 is yours.',
        "HTML line breaks": "Card 4111<br/>1111<br>1111<br />1111 is yours.",
        "strike-through": "Card ~~4111~~ 1111 1111 1111 is yours.",
        "markup and line breaks": "Card 4111 <b>1111</b>\n1111 1111 is yours.",
        "a group per line, in tags": "Card:\n4111\n<i>1111</i>\n1111\n1111\nis yours.",
    }
    out += [("markup", k, v, "CREDIT_CARD") for k, v in markup.items()]
    mail = {
        "fullwidth at": "Write to jane.doe\uff20example.com today.",
        "small at": "Write to jane.doe\ufe6bexample.com today.",
        "fullwidth full stop": "Write to jane.doe@example\uff0ecom today.",
        "ideographic full stop": "Write to jane.doe@example\u3002com today.",
        "spaces around @": "Write to jane.doe @ example.com today.",
        "fullwidth at and stop, spaced": "Write to jane.doe \uff20 example\uff0ecom today.",
    }
    out += [("e-mail look-alikes", k, v, "EMAIL_ADDRESS") for k, v in mail.items()]
    encoded = {
        "%40": "Write to jane.doe%40example.com today.",
        "&#64;": "Write to jane.doe&#64;example.com today.",
        "&#x40;": "Write to jane.doe&#x40;example.com today.",
        "&commat;": "Write to jane.doe&commat;example.com today.",
    }
    out += [("encoded @", k, v, "EMAIL_ADDRESS") for k, v in encoded.items()]
    for cue in CUES:
        out.append(("cue words", f"{cue}, card", f"Your {cue} {CARD}.", "CREDIT_CARD"))
        out.append(("cue words", f"{cue}, SSN", f"Your {cue} {SSN}.", "US_SSN"))
    adjacent = [
        ("phone then SSN", "+1 415 555 2671 536-90-4399", "US_SSN"),
        ("phone then card, dashed", "415-555-2671-4111-1111-1111-1111", "CREDIT_CARD"),
        ("IBAN then card", "DE89 3704 0044 0532 0130 00 4111 1111 1111 1111", "CREDIT_CARD"),
        ("card after an IBAN, compact", "GB29NWBK60161331926819 4111111111111111", "CREDIT_CARD"),
        ("card in a run past 48 digits",
         "1234 5678 9012 3456 7890 1234 5678 9012 3456 7890 1234 5678 4111 1111 1111 1111",
         "CREDIT_CARD"),
    ]  # fmt: skip
    out += [("adjacent values", k, f"Details: {v}.", t) for k, v, t in adjacent]
    spelled = {
        "card in words": ("My card is four one one one one one one one one one one one one one "
                          "one one.", "CREDIT_CARD"),
        "card in words, commas": ("Card: four one one one, one one one one, one one one one, "
                                  "one one one one.", "CREDIT_CARD"),
        "SSN in words": ("My SSN is five three six nine zero four three nine nine.", "US_SSN"),
        "phone in words": ("Call me on four one five five five five two six seven one.",
                           "PHONE_NUMBER"),
        "e-mail in words": ("Write to jane.doe at example dot com today.", "EMAIL_ADDRESS"),
        "e-mail, bracketed": ("Write to jane.doe [at] example [dot] com today.",
                              "EMAIL_ADDRESS"),
    }  # fmt: skip
    out += [("spelled out", k, v, t) for k, (v, t) in spelled.items()]
    return out


EVASIONS = _cases()


def caught(text: str, kind: str) -> bool:
    """The value's type is reported, and the redacted text, read as the detector reads it,
    keeps none of the value: not its digits in a row (digit words read as digits), not the
    address's parts."""
    d = get_detector()
    if not any(f.type == kind for f in d.scan(text)):
        return False
    out = d.redact(text)
    seen = normalize(out)
    plain = seen.text if seen is not None else out
    if kind == "EMAIL_ADDRESS":
        return "example" not in plain and "jane" not in plain
    value = {"CREDIT_CARD": CARD, "US_SSN": SSN, "PHONE_NUMBER": PHONE}[kind]
    digits = re.sub(r"[^0-9]", "", plain)
    return re.sub(r"[^0-9]", "", value) not in digits


@pytest.mark.parametrize(("cls", "name", "text", "kind"), EVASIONS,
                         ids=[f"{c}: {n}" for c, n, _, _ in EVASIONS])  # fmt: skip
def test_evasion_is_caught(cls: str, name: str, text: str, kind: str) -> None:
    d = get_detector()
    got = [(f.type, text[f.start : f.end]) for f in d.scan(text)]
    assert caught(text, kind), (got, d.redact(text))


def test_the_count_per_class() -> None:
    total: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    for cls, _, text, kind in EVASIONS:
        total[cls] += 1
        hit[cls] += caught(text, kind)
    for cls in total:
        print(f"{cls:24} {hit[cls]:3} / {total[cls]}")
    assert sum(total.values()) >= 123
    assert sum(hit.values()) >= 100


def test_findings_cover_the_original_characters() -> None:
    """Offsets are the original text's: the span runs from the value's first character to its
    last, the dropped ones inside it included, so redaction removes them all."""
    text = "Pay to 4\u200b111 **1111** 1111 1111 now"
    [f] = get_detector().scan(text)
    assert text[f.start : f.end] == "4\u200b111 **1111** 1111 1111"
    assert get_detector().redact(text) == "Pay to <CREDIT_CARD> now"


def test_prose_is_left_alone() -> None:
    """What looks like an evasion but is ordinary text stays unfound."""
    d = get_detector()
    for text in (
        "Look at example.com for the details.",
        "We met at the office; one or two of us stayed.",
        "one two three four five: count with me",
        "x86_64 builds and snake_case_names are fine.",
        "Use **bold** and `code` in markdown, 5 * 3 = 15.",
        "Zip 94043\n650 253 0000 is not on this line",
    ):
        assert [f.type for f in d.scan(text) if f.type != "PHONE_NUMBER"] == [], text


def test_the_fast_path_knows_every_character_the_map_changes() -> None:
    """`normalize` skips its per-character pass for text that NFKC leaves alone and that has
    none of `_CHANGED`'s characters: the list must hold every such character of the BMP."""
    import unicodedata

    from llmops.pii.normalize import _CHANGED, char_map

    missing = []
    for cp in range(0x80, 0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if unicodedata.normalize("NFKC", c) == c and char_map(c) != c and not _CHANGED.match(c):
            missing.append(f"U+{cp:04X}")
    assert missing == []
