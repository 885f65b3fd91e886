"""CREDIT_CARD (13-19 digits, issuer prefix, Luhn), CARD_CVV and CARD_PIN (short codes that only
a cue right before them makes sensitive)."""

from __future__ import annotations

import re
from typing import Final

from llmops.pii.candidates import Run
from llmops.pii.checksums import luhn_ok
from llmops.pii.context import NOT_PII, Context, Phrases, phrase, signs, words
from llmops.pii.hit import Hit
from llmops.pii.types import (
    CARD_CVV,
    CARD_PIN,
    CREDIT_CARD,
    IBAN_CODE,
    US_BANK_NUMBER,
    US_BANK_ROUTING,
    US_SSN,
)

CONTEXT: Final = Context(
    CREDIT_CARD,
    positive=(
        "card",
        "card number",
        "card no",
        "card account",
        "credit",
        "credit card",
        "debit",
        "debit card",
        "visa",
        "mastercard",
        "master card",
        "amex",
        "american express",
        "discover",
        "jcb",
        "diners",
        "diners club",
        "maestro",
        "unionpay",
        "cc",
        "pan",
        "carte",
        "tarjeta",
        "karte",
        "kreditkarte",
        "carta",
    ),
    negative=(*NOT_PII, "account", "account number", "acct", "iban", "routing"),
    boost=0.15,
    penalty=0.4,
)

# Types whose cue says a checksum-valid number is theirs, not a card ("account number ...").
_OTHER_ACCOUNTS: Final = (US_BANK_NUMBER, US_BANK_ROUTING, IBAN_CODE, US_SSN)
GROUPED: Final = 0.85  # "4111 1111 1111 1111", "3782-822463-10005"
UNBROKEN: Final = 0.65  # "4111111111111111": also what an order number looks like
# 12 digits (Maestro): one in ten 12-digit numbers with such a prefix passes Luhn, so only a
# card cue makes one a card ("card number 630427373398").
SHORT_MAESTRO: Final = 0.4
MIN_DIGITS: Final = 12


def issuer_ok(d: str) -> bool:
    """Is there a card scheme with this prefix and length (IIN ranges of the major schemes)?"""
    n = len(d)
    first = d[0]
    if first == "4":  # Visa
        return n in (13, 16, 19)
    two, four = int(d[:2]), int(d[:4])
    if first == "5":  # Mastercard 51-55; Maestro 50, 56-59
        return n == 16 if 51 <= two <= 55 else 12 <= n <= 19
    if first == "2":  # Mastercard 2221-2720; Mir 2200-2204; JCB 2131
        return (
            (2221 <= four <= 2720 and n == 16)
            or (2200 <= four <= 2204 and 16 <= n <= 19)
            or (four == 2131 and n == 15)
        )
    if first == "3":
        if two in (34, 37):  # American Express
            return n == 15
        if two == 35:  # JCB (3528-3589; generators use all of 35xx)
            return 16 <= n <= 19
        if 300 <= int(d[:3]) <= 305 or two in (36, 38, 39):  # Diners Club
            return 14 <= n <= 19
        return False
    if first == "6":  # Discover 6011, 644-649, 65; UnionPay 62; Maestro 6x
        return 12 <= n <= 19
    if first == "0":  # Maestro UK 0604 (issued until 2011): only with a card cue
        return d.startswith("0604") and 12 <= n <= 19
    if first == "1":  # JCB 1800
        return four == 1800 and n == 15
    return False


def find_cards(text: str, run: Run) -> list[Hit]:
    """Card numbers among consecutive digit groups of one run, joined by one kind of separator.
    A run can hold several values ("415-555-2671-4111-1111-1111-1111"): every window of groups
    that makes a card is a candidate, and the ones written as cards are written (groups of one
    size, or Amex's 4-6-5) win over windows that straddle other values."""
    groups, seps = run.groups, run.seps
    found: list[tuple[int, int, int]] = []  # (rank, first group, last group)
    for i in range(len(groups)):
        best = -1
        total = 0
        for j in range(i, len(groups)):
            if j > i:
                sep = seps[j - 1]
                if sep not in (" ", "-", "\u00a0") or sep != seps[i]:
                    break
            total += groups[j][1] - groups[j][0]
            if total > 19:
                break
            if total >= MIN_DIGITS:
                digits = run.digits(text, i, j)
                if issuer_ok(digits) and luhn_ok(digits):
                    best = j
        if best >= 0:
            # Written as a card first, then one that starts or ends the run (the rest of the run
            # is then a value of its own more likely than a stub), then the first.
            rank = 0 if _card_shaped(groups, i, best) else 2
            if i > 0 and best < len(groups) - 1:
                rank += 1
            found.append((rank, i, best))
    if not found:
        return []
    if len(found) > 1:
        found.sort()
    hits: list[Hit] = []
    taken: list[tuple[int, int]] = []
    for _, i, j in found:
        if any(not (j < ti or tj < i) for ti, tj in taken):
            continue
        taken.append((i, j))
        hits.append(_card(text, run, i, j))
    return hits


# Cards written in groups, as found inside a stretch of digits too long to be one value
# ("ref 1234 5678 ... 4111 1111 1111 1111 ..."): a lookahead, so every group start is tried.
_GROUPED_CARD: Final = re.compile(
    r"(?<![0-9])(?=([0-9]{4}([ -])[0-9]{4}\2[0-9]{4}\2[0-9]{4}(?:\2[0-9]{3})?"
    r"|[0-9]{4}([ -])[0-9]{6}\3[0-9]{5})(?![0-9]))"
)


def find_in_stretch(text: str, start: int, end: int) -> list[Hit]:
    """Grouped card numbers (issuer prefix and Luhn) inside text[start:end], a stretch of
    digits and separators past the run cap. Bounded work per position: linear."""
    hits: list[Hit] = []
    last = -1
    for m in _GROUPED_CARD.finditer(text, start, end):
        a, b = m.span(1)
        if a < last or b > end:
            continue
        digits = m.group(1).replace(" ", "").replace("-", "")
        if issuer_ok(digits) and luhn_ok(digits):
            hits.append(Hit(CREDIT_CARD, a, b, GROUPED))
            last = b
    return hits


def _card_shaped(groups: list[tuple[int, int]], i: int, j: int) -> bool:
    sizes = [b - a for a, b in groups[i : j + 1]]
    return len(set(sizes)) == 1 or sizes == [4, 6, 5] or sizes == [4, 6, 4]


def _card(text: str, run: Run, i: int, j: int) -> Hit:
    groups = run.groups
    a, b = run.span(i, j)
    short = any(gb - ga < 3 for ga, gb in groups[i : j + 1])
    base = UNBROKEN if j == i else (0.7 if short else GROUPED)
    if sum([gb - ga for ga, gb in groups[i : j + 1]]) == MIN_DIGITS or text[a] == "0":
        score = CONTEXT.score(SHORT_MAESTRO, text, run.start, run.end)
    else:
        # Issuer prefix, length and Luhn all hold: a cue word ("order", "reference", "ISBN")
        # never hides such a number, it can only make it surer; but a cue of another account
        # ("account number", "IBAN") says whose number it is.
        cues = signs(text, run.start, run.end)
        score = CONTEXT.apply(base, cues.get(CREDIT_CARD, 0))
        if not any(cues.get(k, 0) > 0 for k in _OTHER_ACCOUNTS):
            score = max(base, score)
    return Hit(CREDIT_CARD, a, b, score)


# --- CVV and PIN: the cue must sit right before the code ("CVV: 123", "PIN is 4821") ---------

_CVV_CUE: Final = words(
    "cvv",
    "cvv2",
    "cvc",
    "cvc2",
    "cid",
    "csc",
    "security code",
    "card security code",
    "verification code",
    "card verification code",
    "card verification value",
    "3-digit code",
    "three-digit code",
    "code on the back",
)
_PIN_CUE: Final = words(
    "pin", "pin code", "pin number", "personal identification number", "card pin"
)
# What may stand between cue and code: "CVV: 123", "PIN is now 4821", "security code (CVV) 123",
# "changed my PIN to 1930". Not "PIN reset on 2024": a date or count is not a code.
_LINKS: Final = frozenset(
    "code number no num is was will be now set to changed reset new my your the as its it s of "
    "cvv cvc pin".split()
)
_HINT_WORDS: Final = ("cvv", "cvc", "cid", "csc", "pin", "code", "verification")
_DIGIT: Final = re.compile(r"[0-9]")


def _cued(text: str, start: int, cue: Phrases, reach: int = 40) -> bool:
    """Is there a cue right before `start`, with only link words in between?"""
    lo = max(0, start - reach)
    seg = text[lo:start]
    if not has_code_cue(seg.lower()):
        return False  # the common case: no cue word at all, nothing more to do
    digit = _DIGIT.search(seg[::-1])  # nothing may stand between cue and code but words
    if digit is not None:
        seg = seg[len(seg) - digit.start() :]
    seq = phrase(seg)
    after = cue.last(seq)
    if after is None:
        return False
    between = " ".join(seq[len(seq) - after :]).replace("on the back", "")
    return all(w in _LINKS for w in between.split())


CUE_SCORE: Final = 0.85


def has_code_cue(lower: str) -> bool:
    """Could there be a CVV or PIN cue in the text (given lower-cased)? Plain substring tests: a
    case-insensitive regex alternation would try every branch at every position."""
    return any(w in lower for w in _HINT_WORDS)


def find_codes(text: str, run: Run) -> list[Hit]:
    """A lone group of 3-6 digits right after a CVV or PIN cue."""
    if len(run.groups) != 1:
        return []
    a, b = run.groups[0]
    n = b - a
    if 3 <= n <= 4 and _cued(text, a, _CVV_CUE):
        return [Hit(CARD_CVV, a, b, CUE_SCORE)]
    if 4 <= n <= 6 and _cued(text, a, _PIN_CUE):
        return [Hit(CARD_PIN, a, b, CUE_SCORE)]
    return []
