"""Context words: the words around a candidate that make it more or less likely to be what its
digits say. The nearest cue wins: "order 4155552671" is an order number, "call 4155552671" a phone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# A cue only counts inside its own sentence or line: these end one ...
_BREAKS = ("! ", "? ", "\n", "; ")
# ... and so does ". ", unless it closes an abbreviation ("Tel. 020 ...", "Acct no. 1234").
_ABBREVIATIONS = frozenset(
    "no nr nº tel ph mob acct acc ref inv num ext fax approx eg ie mr mrs ms dr st co inc ltd "
    "jr sr vs min max p pp fig art sec vol".split()
)


def _break_before(s: str) -> int:
    """Index of the last sentence break in `s`, or -1."""
    best = max(s.rfind(b) for b in _BREAKS)
    i = s.rfind(". ")
    while i > best:
        if not _abbreviation(s, i):
            return i + 1
        i = s.rfind(". ", 0, i)
    return best


def _break_after(s: str) -> int:
    """Index of the first sentence break in `s`, or -1."""
    found = [i for i in (s.find(b) for b in _BREAKS) if i >= 0]
    best = min(found) if found else len(s)
    i = s.find(". ")
    while 0 <= i < best:
        if not _abbreviation(s, i):
            return i
        i = s.find(". ", i + 1)
    return best if found else -1


def _abbreviation(s: str, dot: int) -> bool:
    j = dot
    while j > 0 and s[j - 1].isalpha():
        j -= 1
    word = s[j:dot].lower()
    return len(word) == 1 or word in _ABBREVIATIONS


def _key(phrase: str) -> str:
    return _FOLD.sub(" ", phrase.lower()).strip()


_FOLD = re.compile(r"[\s_-]+")


def _pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for the phrases, longer phrases first so that "minimum
    balance" is read as one cue rather than as "balance"."""
    items = sorted({p for p in phrases if p}, key=len, reverse=True)
    if not items:
        return None
    body = "|".join(re.escape(p).replace(r"\ ", r"[\s_-]?") for p in items)
    return re.compile(rf"(?<![^\W\d_])(?:{body})(?![^\W\d_])", re.IGNORECASE)


def words(*phrases: str) -> re.Pattern[str] | None:
    """A cue pattern for `phrases` (for cues without polarity, such as "CVV" before a code)."""
    return _pattern(phrases)


class Context:
    """How context moves a score: `boost` when the nearest cue is positive, `penalty` when it is
    negative. `before`/`after` bound the windows searched (characters). Positive and negative
    phrases share one pattern, so the longest phrase at a place decides its polarity."""

    __slots__ = ("after", "before", "boost", "pattern", "penalty", "polarity")

    def __init__(
        self,
        positive: Iterable[str],
        negative: Iterable[str] = (),
        *,
        boost: float = 0.35,
        penalty: float = 0.4,
        before: int = 48,
        after: int = 24,
    ) -> None:
        positive, negative = tuple(positive), tuple(negative)
        self.polarity = {_key(p): 1 for p in positive}
        self.polarity.update({_key(p): -1 for p in negative if _key(p) not in self.polarity})
        self.pattern = _pattern((*positive, *negative))
        self.boost, self.penalty = boost, penalty
        self.before, self.after = before, after

    def nearest(self, text: str, start: int, end: int) -> int:
        """+1 if the nearest cue is positive, -1 if negative, 0 if there is none."""
        pattern = self.pattern
        if pattern is None:
            return 0
        lo = max(0, start - self.before)
        head = text[lo:start]
        cut = _break_before(head)
        if cut >= 0:
            head = head[cut + 1 :]
        tail = text[end : end + self.after]
        cut = _break_after(tail)
        if cut >= 0:
            tail = tail[:cut]
        best_dist, best = 1 << 30, 0
        last = None
        for last in pattern.finditer(head):  # noqa: B007 - we want the last one
            pass
        if last is not None:
            best_dist, best = len(head) - last.end(), self.polarity.get(_key(last.group()), 1)
        first = pattern.search(tail)
        # A cue after the value counts, but less than one before it ("4111... is my card").
        if first is not None and 2 * first.start() + 4 < best_dist:
            best = self.polarity.get(_key(first.group()), 1)
        return best

    def score(self, base: float, text: str, start: int, end: int) -> float:
        sign = self.nearest(text, start, end)
        if sign > 0:
            return min(1.0, base + self.boost)
        if sign < 0:
            return max(0.0, base - self.penalty)
        return base


def merge(*groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(w for g in groups for w in g)


# Words that say a number is some other kind of identifier or a quantity, shared by the
# recognizers of bare numbers (phones, account numbers, SSNs, routing numbers, cards).
NOT_PII = (
    "order",
    "order no",
    "order number",
    "order #",
    "orders",
    "invoice",
    "inv",
    "tracking",
    "track",
    "tracking number",
    "shipment",
    "parcel",
    "package",
    "consignment",
    "waybill",
    "ref",
    "reference",
    "ticket",
    "case",
    "case number",
    "confirmation",
    "booking",
    "reservation",
    "isbn",
    "issn",
    "doi",
    "version",
    "build",
    "release",
    "serial",
    "serial number",
    "model",
    "part",
    "part number",
    "sku",
    "item",
    "product",
    "upc",
    "ean",
    "transaction",
    "transaction id",
    "txn",
    "receipt",
    "claim",
    "policy",
    "flight",
    "room",
    "zip",
    "zip code",
    "postal code",
    "postcode",
    "patent",
    "population",
    "units",
    "pages",
    "page",
    "id",
    "customer id",
    "user id",
    "request id",
    "session",
    "batch",
    "lot",
    "quantity",
    "qty",
    "total",
    "views",
    "downloads",
    "visitors",
    "people",
    "residents",
    "inhabitants",
    "votes",
    "copies",
    "km",
    "miles",
    "steps",
    "calories",
)
