"""The one cheap pass: where in a text could an entity be?

Every pattern here is linear: a character class start (so the regex engine skips ahead in C),
bounded repetition, no nested ambiguity. What they find are candidates; the recognizers decide.
"""

from __future__ import annotations

import re
from typing import Final

# Separators inside a written number: spaces (also no-break and thin), dash, dot, slash, parens.
SEPS: Final = " \u00a0\u2009\u202f-./()"
# A dot followed by a space ends a sentence, not a number.
_SEP: Final = "(?:[ \u00a0\u2009\u202f\\-/()]|\\.(?![ \u00a0\u2009\u202f\n]))"

# A run of digits with at most 3 separator characters between digits, at most 48 digits long:
# each repetition ends on a digit, and digits are not separators, so there is one way to match.
# The dot rule of _SEP is left to `run_end`: a lookahead at every separator doubles the scan.
DIGIT_RUN: Final = re.compile(r"[0-9](?:[ \u00a0\u2009\u202f\-/().]{0,3}[0-9]){0,47}")
_AFTER_FULL_STOP: Final = " \u00a0\u2009\u202f\n"
# The run goes on past the cap: a long stretch of digits and separators is no identifier.
MORE_DIGITS: Final = re.compile(rf"{_SEP}{{0,3}}[0-9]")
STRETCH: Final = re.compile(rf"[0-9{re.escape(SEPS)}]*")


def run_end(text: str, start: int, end: int) -> int:
    """The end of the DIGIT_RUN match text[start:end] under the full rule: a dot followed by
    white space ends a sentence, and so the run ("in 2019. 45 people" is two runs)."""
    dot = text.find(".", start, end)
    while dot >= 0:
        if text[dot + 1] in _AFTER_FULL_STOP:  # a run ends on a digit: dot + 1 < end
            return start + len(text[start:dot].rstrip(SEPS))
        dot = text.find(".", dot + 1, end)
    return end

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
        if text[start:end].isdigit():  # one group, no separator: the common case, made cheap
            return cls(start, end, [(start, end)], [], end - start)
        groups: list[tuple[int, int]] = []
        seps: list[str] = []
        ndigits = 0
        a = start
        while True:  # a run starts and ends on a digit: digits, then separators, and again
            b = a + 1
            while b < end and "0" <= text[b] <= "9":
                b += 1
            groups.append((a, b))
            ndigits += b - a
            if b >= end:
                return cls(start, end, groups, seps, ndigits)
            a = b + 1
            while not "0" <= text[a] <= "9":
                a += 1
            seps.append(text[b:a])

    def tail(self, i: int) -> Run:
        """The run from its group i on (no rescan of the text)."""
        if i == 0:
            return self
        groups = self.groups[i:]
        return Run(groups[0][0], self.end, groups, self.seps[i:], sum([b - a for a, b in groups]))

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
    """Start of the run of ASCII letters and digits that ends at `pos` (at most `limit` back)."""
    lo = max(0, pos - limit)
    m = ALNUM_FWD.match(text[lo:pos][::-1])
    return pos - (m.end() if m else 0)


def alnum_right(text: str, pos: int) -> int:
    m = ALNUM_FWD.match(text, pos)
    return m.end() if m else pos


# Dates and thousands-grouped quantities: shapes a phone or account number does not take.
DATE: Final = re.compile(
    r"(?:[0-9]{4}([-/.])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-/.])[0-9]{1,2}\2(?:[0-9]{4}|[0-9]{2}))"
)
THOUSANDS: Final = re.compile(
    r"[1-9][0-9]{0,2}([ .,\u00a0\u2009\u202f])[0-9]{3}(?:\1[0-9]{3}){0,6}"
)
