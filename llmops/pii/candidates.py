"""The one cheap pass: where in a text could an entity be?

Every scan here is linear: the digit-run walk looks at each character a bounded number of times,
and each pattern starts with a character class (so the regex engine skips ahead in C), with
bounded repetition and no nested ambiguity. What they find are candidates; the recognizers
decide.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # a native 64-bit int when compiled; annotations only, so no runtime import
    from mypy_extensions import i64

# Separators inside a written number: spaces (also no-break and thin), dash, dot, slash, parens.
SEPS: Final = " \u00a0\u2009\u202f-./()"
# A dot followed by a space ends a sentence, not a number.
_SEP: Final = "(?:[ \u00a0\u2009\u202f\\-/()]|\\.(?![ \u00a0\u2009\u202f\n]))"

# A run of digits: digits joined by at most 3 separator characters, at most 48 digits long; a
# dot followed by white space ends a sentence, not a number ("in 2019. 45 people" is two runs).
# In regex terms, the runs `_FULL_RULE` finds in the tests:
#   [0-9](?:(?:[ \u00a0\u2009\u202f\-/()]|\.(?![ \u00a0\u2009\u202f\n])){0,3}[0-9]){0,47}
# Two ways to find them, held to that pattern by a property test. Interpreted, the regex
# engine's loops are the fast ones: DIGIT_RUN, the pattern without the lookahead at every
# separator (which doubles the scan), then `full_stop` on what it matched. Compiled, a walk over
# code points (`ord(text[i])` is a direct read of the string's buffer) costs a third of that.
MAX_DIGITS: Final = 48
DIGIT_RUN: Final = re.compile(
    rf"[0-9](?:[ \u00a0\u2009\u202f\-/().]{{0,3}}[0-9]){{0,{MAX_DIGITS - 1}}}"
)
_AFTER_FULL_STOP: Final = " \u00a0\u2009\u202f\n"
# The run goes on past the cap: a long stretch of digits and separators is no identifier.
MORE_DIGITS: Final = re.compile(rf"{_SEP}{{0,3}}[0-9]")
STRETCH: Final = re.compile(rf"[0-9{re.escape(SEPS)}]*")


def _is_sep(c: int) -> bool:
    """A separator inside a written number: SEPS as code points."""
    return c in (32, 40, 41, 45, 46, 47, 0xA0, 0x2009, 0x202F)  # compiled: compares, no tuple


def _ends_sentence(c: int) -> bool:
    """White space after a dot: the dot ends a sentence."""
    return c in (32, 10, 0xA0, 0x2009, 0x202F)


def next_run(text: str, pos: int) -> tuple[int, int]:
    """The first run of digits at or after `pos`, as (start, end); (-1, -1) if there is none."""
    if not COMPILED:
        m = DIGIT_RUN.search(text, pos)
        return (-1, -1) if m is None else (m.start(), full_stop(text, m.start(), m.end()))
    n: i64 = len(text)
    s: i64 = pos
    while s < n:
        c = ord(text[s])
        if 48 <= c <= 57:
            return s, run_end(text, s, n)
        s += 1
    return -1, -1


def full_stop(text: str, start: int, end: int) -> int:
    """The end of the DIGIT_RUN match text[start:end] under the full rule: a dot followed by
    white space ends the run."""
    dot = text.find(".", start, end)
    while dot >= 0:
        if text[dot + 1] in _AFTER_FULL_STOP:  # a run ends on a digit: dot + 1 < end
            return start + len(text[start:dot].rstrip(SEPS))
        dot = text.find(".", dot + 1, end)
    return end


def run_end(text: str, start: i64, n: i64) -> i64:
    """The end of the run of digits that starts at `start` (`n` is `len(text)`), walked."""
    i: i64 = start + 1
    ndigits: i64 = 1
    while True:
        while i < n and ndigits < MAX_DIGITS:
            c = ord(text[i])
            if c < 48 or c > 57:
                break
            i += 1
            ndigits += 1
        if ndigits >= MAX_DIGITS:
            return i
        end = i  # the run ends on a digit: here, unless separators and a digit follow
        j: i64 = i
        while j < n and j - i < 3:
            c = ord(text[j])
            if not _is_sep(c):
                break
            if c == 46 and j + 1 < n and _ends_sentence(ord(text[j + 1])):
                return end
            j += 1
        if j == i or j >= n:
            return end
        c = ord(text[j])
        if c < 48 or c > 57:
            return end
        i = j + 1
        ndigits += 1


# Is the package compiled (see native.py; its modules are built and loaded all or none)? A
# compiled function is no Python function. The scans here and in context.py choose by it.
COMPILED: Final = type(next_run).__name__ != "function"


# Token characters on either side of a run: the alphanumerics of IBANs, wallet addresses, hashes.
ALNUM_FWD: Final = re.compile(r"[A-Za-z0-9]{1,128}")


class Run:
    """A candidate run of digits in `text[start:end]` and its digit groups (absolute offsets).
    A plain class, not a dataclass, so that its constructor compiles to native code."""

    __slots__ = ("end", "groups", "ndigits", "seps", "start")

    def __init__(
        self,
        start: int,
        end: int,
        groups: list[tuple[int, int]],
        seps: list[str],  # seps[i] sits between groups[i] and groups[i + 1]
        ndigits: int,
    ) -> None:
        self.start = start
        self.end = end
        self.groups = groups
        self.seps = seps
        self.ndigits = ndigits

    @classmethod
    def of(cls, text: str, start: int, end: int) -> Run:
        groups: list[tuple[int, int]] = []
        seps: list[str] = []
        ndigits: i64 = 0
        a: i64 = start
        stop: i64 = end
        while True:  # a run starts and ends on a digit: digits, then separators, and again
            b: i64 = a + 1
            while b < stop and 48 <= ord(text[b]) <= 57:
                b += 1
            groups.append((a, b))
            ndigits += b - a
            if b >= stop:
                return Run(start, end, groups, seps, ndigits)  # compiled: a native call, not cls()
            a = b + 1
            while not 48 <= ord(text[a]) <= 57:
                a += 1
            seps.append(text[b:a])

    def tail(self, i: int) -> Run:
        """The run from its group i on (no rescan of the text)."""
        if i == 0:
            return self
        groups = self.groups[i:]
        return Run(groups[0][0], self.end, groups, self.seps[i:], sum([b - a for a, b in groups]))

    def part(self, i: int, j: int) -> Run:
        """The run's groups i..j (inclusive) as a run of their own."""
        if i == 0 and j == len(self.groups) - 1:
            return self
        groups = self.groups[i : j + 1]
        return Run(
            groups[0][0], groups[-1][1], groups, self.seps[i:j], sum([b - a for a, b in groups])
        )

    def digits(self, text: str, i: int, j: int) -> str:
        """The digits of groups i..j (inclusive)."""
        groups = self.groups
        if i == j:
            a, b = groups[i]
            return text[a:b]
        return "".join([text[a:b] for a, b in groups[i : j + 1]])

    def span(self, i: int, j: int) -> tuple[int, int]:
        return self.groups[i][0], self.groups[j][1]

    def apart(self, i: int, j: int, joiner: str = "") -> bool:
        """Are groups i..j set off from their neighbours in the run by white space, and not by
        `joiner`, their own separator ("536 90 4399" is no SSN inside "12 536 90 4399")?"""
        seps = self.seps
        for k in (i - 1, j):
            if 0 <= k < len(seps) and (seps[k] == joiner or not seps[k].isspace()):
                return False
        return True


def alnum_left(text: str, pos: int, limit: int = 64) -> int:
    """Start of the run of ASCII letters and digits that ends at `pos` (at most `limit` back).
    Interpreted by the regex engine, compiled by a loop over code points (as `next_run`)."""
    lo = max(0, pos - min(limit, 128))
    return _scan_alnum_left(text, lo, pos) if COMPILED else _search_alnum_left(text, lo, pos)


def alnum_right(text: str, pos: int) -> int:
    """End of the run of ASCII letters and digits that starts at `pos` (at most 128 long)."""
    return _scan_alnum_right(text, pos) if COMPILED else _search_alnum_right(text, pos)


def _search_alnum_left(text: str, lo: int, pos: int) -> int:
    m = ALNUM_FWD.match(text[lo:pos][::-1])
    return pos - (m.end() if m else 0)


def _search_alnum_right(text: str, pos: int) -> int:
    m = ALNUM_FWD.match(text, pos)
    return m.end() if m else pos


def _scan_alnum_left(text: str, lo: i64, pos: i64) -> i64:
    i: i64 = pos
    while i > lo and _is_alnum(ord(text[i - 1])):
        i -= 1
    return i


def _scan_alnum_right(text: str, pos: i64) -> i64:
    i: i64 = pos
    end: i64 = min(len(text), pos + 128)
    while i < end and _is_alnum(ord(text[i])):
        i += 1
    return i


def _is_alnum(c: int) -> bool:
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122


# Dates and thousands-grouped quantities: shapes a phone or account number does not take.
DATE: Final = re.compile(
    r"(?:[0-9]{4}([-/.])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-/.])[0-9]{1,2}\2(?:[0-9]{4}|[0-9]{2}))"
)
THOUSANDS: Final = re.compile(
    r"[1-9][0-9]{0,2}([ .,\u00a0\u2009\u202f])[0-9]{3}(?:\1[0-9]{3}){0,6}"
)
