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
from operator import itemgetter
from typing import TYPE_CHECKING, Final

from llmops.pii.candidates import COMPILED

if TYPE_CHECKING:  # a native 64-bit int when compiled; annotations only, so no runtime import
    from mypy_extensions import i64

WORD: Final = re.compile(r"[^\W\d_]+")
_ASCII_WORD: Final = re.compile(r"[a-z]+")  # WORD on lower-case ASCII text
# Cues are looked for this far before and after a candidate (characters).
REACH_BEFORE: Final = 64
REACH_AFTER: Final = 40
# A negative cue speaks of the identifier next to it ("order 4155552671"), not of one a clause
# later ("I placed an order but got no text on my registered 905-674-3793"): it counts this many
# words away at most (a word after the value counts as two). Not for amounts: a fee or a
# condition anywhere in the sentence makes an amount a product's ("the fee is waived with a
# deposit of $500").
NEGATIVE_REACH: Final = 4

# A cue only counts inside its own sentence or line; ". " after these does not end one.
_ABBREVIATIONS: Final = frozenset(
    "no nr nº tel ph mob acct acc ref inv num ext fax approx eg ie mr mrs ms dr st co inc ltd "
    "jr sr vs min max p pp fig art sec vol".split()
)


# A sentence ends at a newline, or at ". ", "! ", "? " or "; " (or with a no-break space).
# Two ways to find the breaks, held to each other by a property test: interpreted, the regex
# engine's loop is the fast one; compiled, a loop over code points (`ord(s[i])` is a direct read
# of the string's buffer) costs a fifth of the regex search.
#
# Each branch starts with a literal, so the regex engine skips ahead to candidates in C (a
# branch that starts with a class makes it try the whole pattern at every position).
_BREAK: Final = re.compile(r"\.[ \u00a0]|![ \u00a0]|\?[ \u00a0]|;[ \u00a0]|\n")
# The same on a reversed string, where the first match is the last break. It starts with one
# class (a newline or the punctuation) so the engine skips ahead in C; the white space that must
# follow the punctuation comes before it here, checked looking back.
_BREAK_REVERSED: Final = re.compile(r"[\n.!?;](?:(?<=\n)|(?<=[ \u00a0].))")


def _break_before(s: str) -> int:
    """Index of the last sentence break in `s` (the text before it is another sentence), or -1.
    A ". " after an abbreviation ("Tel. 020 ...", "Acct no. 1234") is no break."""
    return _scan_break_before(s) if COMPILED else _search_break_before(s)


def _break_after(s: str) -> int:
    """Index of the first sentence break in `s`, or -1."""
    return _scan_break_after(s) if COMPILED else _search_break_after(s)


def _search_break_before(s: str) -> int:
    r = s[::-1]
    last = len(s) - 1
    m = _BREAK_REVERSED.search(r)
    while m is not None:
        i = last - m.start()
        if s[i] == "\n":
            if not _soft_newline(s, i):
                return i
        elif s[i] != "." or not _abbreviation(s, i):
            return i
        m = _BREAK_REVERSED.search(r, m.end())  # an abbreviation's dot: the break before it
    return -1


def _search_break_after(s: str) -> int:
    m = _BREAK.search(s)
    while m is not None:
        i = m.start()
        if s[i] != "." or not _abbreviation(s, i):
            return i
        m = _BREAK.search(s, m.end())
    return -1


def _ends(c: int) -> bool:
    return c in (46, 33, 63, 59)  # . ! ? ;


def _scan_break_before(s: str) -> int:
    after = 0  # the code point after s[i]; 0 past the end
    i: i64
    for i in range(len(s) - 1, -1, -1):
        c = ord(s[i])
        if c == 10:
            if not _soft_newline(s, i):
                return i
        elif (after == 32 or after == 0xA0) and _ends(c) and (c != 46 or not _abbreviation(s, i)):
            return i
        after = c
    return -1


def _scan_break_after(s: str) -> int:
    last: i64 = len(s) - 1
    i: i64
    for i in range(last + 1):
        c = ord(s[i])
        if c == 10:
            return i
        if (
            i < last
            and _ends(c)
            and ord(s[i + 1]) in (32, 0xA0)
            and (c != 46 or not _abbreviation(s, i))
        ):
            return i
    return -1


def _soft_newline(s: str, i: i64) -> bool:
    """Does the sentence go on across the newline at `i`? It does after a label ("Phone:\n",
    "your savings account is:\n$13.60 million"), a comma or a lower-case word ("your balance
    is\n$500"); a blank line or a line that ends otherwise ends it."""
    j: i64 = i - 1
    while j >= 0 and s[j] in " \t\r":
        j -= 1
    if j < 0:
        return False  # the line's start is out of reach: its words may be another sentence's
    k: i64 = i + 1
    n: i64 = len(s)
    while k < n and s[k] in " \t\r":
        k += 1
    if k < n and s[k] == "\n":
        return False
    c = s[j]
    return c == ":" or c == "," or c.islower()


_LONGEST_ABBREVIATION: Final = max(len(a) for a in _ABBREVIATIONS)


def _abbreviation(s: str, dot: i64) -> bool:
    """Is the word before the dot at `dot` a single letter or a known abbreviation?"""
    j: i64 = dot
    while j > 0:
        c = ord(s[j - 1])
        if not (97 <= c <= 122 or 65 <= c <= 90 or (c > 127 and s[j - 1].isalpha())):
            break
        j -= 1
        if dot - j > _LONGEST_ABBREVIATION:
            return False
    word = s[j:dot].lower()
    return len(word) == 1 or word in _ABBREVIATIONS


Words = tuple[str, ...]  # lower-case words, in text order


def _clauses(text: str, start: int, end: int) -> tuple[str, str]:
    """The text before `start` and after `end`, within reach and within the sentence."""
    head = text[max(0, start - REACH_BEFORE) : start]
    cut = _break_before(head)
    if cut >= 0:
        head = head[cut + 1 :]
    tail = text[end : end + REACH_AFTER]
    cut = _break_after(tail)
    if cut >= 0:
        tail = tail[:cut]
    return head, tail


def phrase(text: str) -> Words:
    """The lower-case words of `text`, in order."""
    low = text.lower()
    if not low.isascii():
        return tuple(WORD.findall(low))
    # ASCII text (the common case) has only ASCII letters for words: a simpler class, twice
    # as fast as the Unicode one; compiled, a loop over code points is faster still.
    return _scan_ascii_words(low) if COMPILED else tuple(_ASCII_WORD.findall(low))


def _scan_ascii_words(low: str) -> Words:
    """`_ASCII_WORD.findall(low)`, by a loop over code points."""
    words: list[str] = []
    start: i64 = -1
    i: i64
    for i in range(len(low)):
        c = ord(low[i])
        if 97 <= c <= 122:
            if start < 0:
                start = i
        elif start >= 0:
            words.append(low[start:i])
            start = -1
    if start >= 0:
        words.append(low[start:])
    return tuple(words)


class Phrases:
    """A set of phrases (word sequences), found by their first word."""

    __slots__ = ("first",)

    def __init__(self, phrases: Iterable[str]) -> None:
        first: dict[str, list[Words]] = {}
        for text in phrases:
            seq = phrase(text)
            if seq:
                first.setdefault(seq[0], []).append(seq)
        for options in first.values():
            options.sort(key=len, reverse=True)  # longest first
        self.first = first

    def last(self, words: Words) -> int | None:
        """How many words follow the phrase ending nearest the end of `words` (None if none)."""
        best: int | None = None
        n = len(words)
        first = self.first
        for i in range(n - 1, -1, -1):
            if best is not None and n - 1 - i > best + 3:
                break  # no phrase is long enough to end nearer than the best one
            options = first.get(words[i])
            if not options:
                continue
            for seq in options:
                k = len(seq)
                if i + k <= n and (k == 1 or words[i : i + k] == seq):
                    if best is None or n - (i + k) < best:
                        best = n - (i + k)
                    break
        return best


def words(*phrases: str) -> Phrases:
    """Cues without polarity (such as "CVV" right before a code)."""
    return Phrases(phrases)


class Context:
    """How context moves the score of one entity type: `boost` when the nearest cue is
    positive, `penalty` when it is negative. A cue counts within the sentence, up to 64
    characters before the candidate and 40 after it (a cue after counts as if twice as far).
    Positive and negative phrases compete as phrases, so the longest phrase at a place decides
    ("minimum balance" is negative though "balance" is positive).

    All contexts share one table: the words around a candidate are looked up once for every
    entity type (`signs`), and each recognizer reads its own type's answer."""

    __slots__ = ("boost", "items", "kind", "penalty")

    def __init__(
        self,
        kind: str,
        positive: Iterable[str],
        negative: Iterable[str] = (),
        *,
        boost: float = 0.35,
        penalty: float = 0.4,
        negative_reach: int | None = NEGATIVE_REACH,
    ) -> None:
        positive, negative = tuple(positive), tuple(negative)
        pos = {phrase(p) for p in positive}
        self.kind = kind
        self.items = [(p, 1) for p in positive]
        self.items += [(n, -1) for n in negative if phrase(n) not in pos]
        self.boost, self.penalty = boost, penalty
        _REGISTRY[kind] = self
        if negative_reach is None:
            _NEGATIVE_REACH.pop(kind, None)
        else:
            _NEGATIVE_REACH[kind] = negative_reach
        _table.cache_clear()

    def nearest(self, text: str, start: int, end: int) -> int:
        """+1 if the nearest cue is positive, -1 if negative, 0 if there is none."""
        return signs(text, start, end).get(self.kind, 0)

    def apply(self, base: float, sign: int) -> float:
        if sign > 0:
            return min(1.0, base + self.boost)
        if sign < 0:
            return max(0.0, base - self.penalty)
        return base

    def score(self, base: float, text: str, start: int, end: int) -> float:
        return self.apply(base, self.nearest(text, start, end))


_REGISTRY: dict[str, Context] = {}
_NEGATIVE_REACH: dict[str, int] = {}  # type -> how far its negative cues count, if limited
_Table = dict[str, list[tuple[Words, dict[str, int]]]]


@lru_cache(maxsize=1)
def _table() -> _Table:
    """First word -> [(phrase, {type: polarity})], longest phrases first."""
    merged: dict[Words, dict[str, int]] = {}
    for kind, ctx in _REGISTRY.items():
        for text, value in ctx.items:
            seq = phrase(text)
            if seq:
                merged.setdefault(seq, {})[kind] = value
    table: _Table = {}
    for seq, values in merged.items():
        table.setdefault(seq[0], []).append((seq, values))
    for options in table.values():
        options.sort(key=lambda o: len(o[0]), reverse=True)
    return table


def signs(text: str, start: int, end: int) -> dict[str, int]:
    """For each entity type with a cue around text[start:end], the polarity of its nearest cue.
    The last answer is kept: the recognizers of one candidate all ask about the same span (one
    tuple, swapped whole, so threads at worst compute an answer twice)."""
    last = _last[0]
    if last[0] is text and last[1] == start and last[2] == end:
        return last[3]
    found = _cues(*_clauses(text, start, end))
    _last[0] = (text, start, end, found)
    return found


_last: list[tuple[str, int, int, dict[str, int]]] = [("", -1, -1, {})]


def forget() -> None:
    """Drop what was memoised across candidates and texts."""
    _last[0] = ("", -1, -1, {})
    _cues.cache_clear()


@lru_cache(maxsize=4096)
def _cues(head: str, tail: str) -> dict[str, int]:
    """`signs` of the clause before a candidate and the one after it. Cached by the clauses'
    text: a bot words its answers alike ("Your balance is ...", "Card ending in ..."), so most
    clauses come back, with other values around them."""
    before, after = phrase(head), phrase(tail)
    table = _table()
    # Every cue found, as ((distance, -length), {type: polarity}), in the order found; then
    # the nearest (the longest if tied, the first found if still tied) decides for each type.
    found: list[tuple[tuple[int, int], dict[str, int]]] = []
    keys = table.keys()
    n = len(before) if not keys.isdisjoint(before) else 0  # most windows hold no cue at all
    for i in range(n - 1, -1, -1):
        options = table.get(before[i])
        if not options:
            continue
        for seq, values in options:
            k = len(seq)
            if i + k <= n and (k == 1 or before[i : i + k] == seq):
                found.append(((n - i - k, -k), values))
    m = len(after) if not keys.isdisjoint(after) else 0
    for i in range(m):
        options = table.get(after[i])
        if not options:
            continue
        for seq, values in options:
            k = len(seq)
            if i + k <= m and (k == 1 or after[i : i + k] == seq):
                found.append(((2 * i + 1, -k), values))
    if not found:
        return {}
    if len(found) > 1:
        found.sort(key=itemgetter(0))  # stable: among equal keys the first found stays first
    out: dict[str, int] = {}
    for key, values in found:
        for kind, pol in values.items():
            if kind not in out and not (pol < 0 and key[0] > _NEGATIVE_REACH.get(kind, 1 << 30)):
                out[kind] = pol
    return out


# Words that say a number is some other kind of identifier or a quantity, shared by the
# recognizers of bare numbers (phones, account numbers, SSNs, routing numbers, cards).
NOT_PII: Final = (
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
    "form",
    "form number",
    "document",
    "certificate",
    "permit",
    "licence",
    "license",
    "registration",
    "steps",
    "calories",
)
