"""Context words: the words around a candidate that make it more or less likely to be what its
digits say. The nearest cue wins: "order 4155552671" is an order number, "call 4155552671" a phone.

Cues are matched as word sequences, not as one big regex alternation (Python's regex engine tries
alternatives one by one, which is slow for hundreds of phrases): the window around a candidate is
split into words once, and each recognizer looks its phrases up in a dict keyed by first word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

WORD = re.compile(r"[^\W\d_]+")
# Cues are looked for this far before and after a candidate (characters).
REACH_BEFORE = 64
REACH_AFTER = 40

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


Words = tuple[str, ...]  # lower-case words, in text order


@lru_cache(maxsize=512)
def window(text: str, start: int, end: int) -> tuple[Words, Words]:
    """The words before `start` and after `end`, within reach and within the sentence.
    Cached: several recognizers ask about the same candidate (a string's hash is cached too)."""
    head = text[max(0, start - REACH_BEFORE) : start]
    cut = _break_before(head)
    if cut >= 0:
        head = head[cut + 1 :]
    tail = text[end : end + REACH_AFTER]
    cut = _break_after(tail)
    if cut >= 0:
        tail = tail[:cut]
    return tuple(WORD.findall(head.lower())), tuple(WORD.findall(tail.lower()))


def phrase(text: str) -> Words:
    return tuple(WORD.findall(text.lower()))


class Phrases:
    """A set of phrases (word sequences) with a value each, found by their first word."""

    __slots__ = ("first",)

    def __init__(self, items: Iterable[tuple[str, int]]) -> None:
        first: dict[str, list[tuple[Words, int]]] = {}
        for text, value in items:
            seq = phrase(text)
            if seq:
                first.setdefault(seq[0], []).append((seq, value))
        for options in first.values():
            options.sort(key=lambda o: len(o[0]), reverse=True)  # longest first
        self.first = first

    def last(self, words: Words) -> tuple[int, int] | None:
        """The cue ending nearest the end of `words` (the longest if tied), as (number of words
        after it, value)."""
        best: tuple[int, int, int] | None = None  # (words after, -length, value)
        n = len(words)
        first = self.first
        for i in range(n - 1, -1, -1):
            if best is not None and n - 1 - i > best[0] + 3:
                break  # no phrase is long enough to end nearer than the best one
            options = first.get(words[i])
            if not options:
                continue
            for seq, value in options:
                k = len(seq)
                if i + k <= n and (k == 1 or words[i : i + k] == seq):
                    key = (n - (i + k), -k, value)
                    if best is None or key[:2] < best[:2]:
                        best = key
                    break
        return None if best is None else (best[0], best[2])

    def first_in(self, words: Words) -> tuple[int, int] | None:
        """The first cue in `words`, as (number of words before it, value)."""
        n = len(words)
        first = self.first
        for i in range(n):
            for seq, value in first.get(words[i], ()):
                k = len(seq)
                if i + k <= n and (k == 1 or words[i : i + k] == seq):
                    return i, value
        return None


def words(*phrases: str) -> Phrases:
    """Cues without polarity (such as "CVV" right before a code)."""
    return Phrases((p, 1) for p in phrases)


class Context:
    """How context moves a score: `boost` when the nearest cue is positive, `penalty` when it is
    negative. A cue counts within the sentence, up to 64 characters before the candidate and 40
    after it. Positive and negative phrases share one table, so the longest phrase at a place
    decides its polarity ("minimum balance" is negative though "balance" is positive)."""

    __slots__ = ("boost", "penalty", "phrases")

    def __init__(
        self,
        positive: Iterable[str],
        negative: Iterable[str] = (),
        *,
        boost: float = 0.35,
        penalty: float = 0.4,
    ) -> None:
        positive, negative = tuple(positive), tuple(negative)
        pos = {phrase(p) for p in positive}
        items = [(p, 1) for p in positive] + [(n, -1) for n in negative if phrase(n) not in pos]
        self.phrases = Phrases(items)
        self.boost, self.penalty = boost, penalty

    def nearest(self, text: str, start: int, end: int) -> int:
        """+1 if the nearest cue is positive, -1 if negative, 0 if there is none."""
        before, after = window(text, start, end)
        best_dist, best = 1 << 30, 0
        cue = self.phrases.last(before)
        if cue is not None:
            best_dist, best = cue
        cue = self.phrases.first_in(after)
        # A cue after the value counts, but less than one before it ("4111... is my card").
        if cue is not None and 2 * cue[0] + 1 < best_dist:
            best = cue[1]
        return best

    def score(self, base: float, text: str, start: int, end: int) -> float:
        sign = self.nearest(text, start, end)
        if sign > 0:
            return min(1.0, base + self.boost)
        if sign < 0:
            return max(0.0, base - self.penalty)
        return base


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
