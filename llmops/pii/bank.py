"""Bank identifiers: IBAN_CODE (registry length and mod-97), US_BANK_ROUTING (ABA checksum, with
a cue), US_BANK_NUMBER (8-17 digits, only with a cue) and SWIFT_CODE (BIC shape and country,
only with a cue)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from llmops.pii.candidates import Run
from llmops.pii.checksums import aba_ok, bic_ok, iban_lengths, iban_ok
from llmops.pii.context import NOT_PII, Context
from llmops.pii.hit import Hit
from llmops.pii.types import IBAN_CODE, SWIFT_CODE, US_BANK_NUMBER, US_BANK_ROUTING

IBAN_SCORE: Final = 0.95

ROUTING_CONTEXT: Final = Context(
    US_BANK_ROUTING,
    positive=(
        "routing",
        "routing number",
        "routing no",
        "routing #",
        "aba",
        "aba number",
        "rtn",
        "transit",
        "transit number",
        "routing transit number",
        "ach",
        "wire routing",
        "bank routing",
        "routing code",
    ),
    negative=(*NOT_PII, "account number", "acct", "card"),
    boost=0.5,
    penalty=0.3,
)

ACCOUNT_CONTEXT: Final = Context(
    US_BANK_NUMBER,
    positive=(
        "account",
        "account number",
        "account no",
        "account #",
        "acct",
        "acct no",
        "acct #",
        "a/c",
        "acc no",
        "bank account",
        "checking",
        "checking account",
        "savings",
        "savings account",
        "deposit account",
        "beneficiary account",
        "account ending",
        "kontonummer",
        "konto",
        "numéro de compte",
        "número de cuenta",
        "conto",
    ),
    negative=(
        *NOT_PII,
        "routing",
        "routing number",
        "aba",
        "rtn",
        "transit",
        "card",
        "phone",
        "call",
        "ssn",
        "social security",
    ),
    boost=0.5,
    penalty=0.4,
)


@lru_cache(maxsize=64)
def _iban_body(length: int) -> re.Pattern[str]:
    """`length` ASCII letters and digits, one space, dot or dash allowed between two of them
    ("NO 93 8601 1117 947", "ME25.5050..."), and no letter or digit right after: one way to
    match, so linear."""
    return re.compile(rf"[A-Za-z0-9](?:[ \u00a0.-]?[A-Za-z0-9]){{{length - 1}}}(?![A-Za-z0-9])")


_NO_SEPARATORS: Final = str.maketrans("", "", " \u00a0-.")


def find_iban(text: str, p: int) -> Hit | None:
    """An IBAN starting at `p` (its country letters), written compact or in groups, in upper or
    lower case (mod-97 decides, so case and separators cost no precision)."""
    cc = text[p : p + 2].upper()
    length = iban_lengths().get(cc)
    if length is None:
        return None
    m = _iban_body(length).match(text, p)
    if m is None or not iban_ok(m.group().translate(_NO_SEPARATORS).upper()):
        return None
    i = m.end()
    return Hit(IBAN_CODE, p, i, IBAN_SCORE)


def find_routing(text: str, run: Run) -> list[Hit]:
    """9 digits (or 4-4-1 with dashes) with a valid ABA checksum, standing apart in the run."""
    groups, seps = run.groups, run.seps
    sizes = [b - a for a, b in groups]
    hits: list[Hit] = []
    cue: bool | None = None
    for i in range(len(groups)):
        if sizes[i] == 9:
            j, base = i, 0.3
        elif sizes[i : i + 3] == [4, 4, 1] and seps[i] == seps[i + 1] == "-":
            j, base = i + 2, 0.4
        else:
            continue
        if not run.apart(i, j):
            continue
        a, b = run.span(i, j)
        if not aba_ok(run.digits(text, i, j)):
            continue
        # A routing number is only one with a cue; asked last, the context costs the most.
        if cue is None:
            cue = ROUTING_CONTEXT.nearest(text, run.start, run.end) > 0
        if cue:
            score = ROUTING_CONTEXT.score(base, text, run.start, run.end)
            hits.append(Hit(US_BANK_ROUTING, a, b, score))
    return hits


def find_account(text: str, run: Run) -> list[Hit]:
    """8-17 digits, in one group or groups joined by one kind of separator, with a cue. The
    detector has already set dates aside."""
    nd = run.ndigits
    if not 8 <= nd <= 17:
        return []
    if len(run.groups) == 1:
        base = 0.1
    elif len(set(run.seps)) == 1 and run.seps[0] in (" ", "-"):  # (dates never get here)
        base = 0.05
    else:
        return []
    if ACCOUNT_CONTEXT.nearest(text, run.start, run.end) <= 0:
        return []  # an account number is only one with a cue
    return [
        Hit(
            US_BANK_NUMBER,
            run.start,
            run.end,
            ACCOUNT_CONTEXT.score(base, text, run.start, run.end),
        )
    ]


# --- SWIFT/BIC: found from its cue ------------------------------------------------------------

_BIC: Final = re.compile(r"(?<![A-Za-z0-9])[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Za-z0-9])")
SWIFT_SCORE: Final = 0.85


def find_swift(text: str, lower: str) -> list[Hit]:
    """BICs next to a "SWIFT"/"BIC" cue. `lower` is `text.lower()`, used to find cues fast."""
    hits: list[Hit] = []
    for word in ("swift", "bic", "bank identifier code"):
        at = lower.find(word)
        while at >= 0:
            end = at + len(word)
            if _word_at(lower, at, end):
                hit = _bic_near(text, at, end)
                if hit is not None:
                    hits.append(hit)
            at = lower.find(word, end)
    return hits


def _word_at(lower: str, start: int, end: int) -> bool:
    before = lower[start - 1] if start else " "
    after = lower[end] if end < len(lower) else " "
    return not before.isalpha() and not after.isalpha()


def _bic_near(text: str, start: int, end: int) -> Hit | None:
    after = _BIC.search(text, end, end + 48)
    if after is not None and bic_ok(after.group()):
        return Hit(SWIFT_CODE, after.start(), after.end(), SWIFT_SCORE)
    last = None
    for last in _BIC.finditer(text, max(0, start - 30), start):  # noqa: B007 - nearest one
        pass
    if last is not None and bic_ok(last.group()):
        return Hit(SWIFT_CODE, last.start(), last.end(), SWIFT_SCORE)
    return None
