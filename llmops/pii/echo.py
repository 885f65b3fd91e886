"""Echoed identifiers: a value found in the conversation's other messages (the user's account
number, their e-mail) that comes back in the answer is a finding there, with or without a cue:
"12345678 is a magical number" leaks the account number the user gave.

A value is looked for by its letters and digits in order, with up to three other characters
between two of them ("12 34 56 78", "1234-5678"), case-insensitively, and not inside a longer
run of letters and digits. Each pattern is a fixed sequence of literals and bounded separator
classes that exclude those literals: linear in the text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

SCORE: Final = 0.9
MAX_VALUES: Final = 64  # values taken from one conversation
_MIN_CHARS: Final = 3  # letters and digits a value must have to be looked for
_MAX_CHARS: Final = 128


def key(value: str) -> str:
    """The letters and digits of `value`, lower-cased: what is looked for ('' when too short or
    too long to be worth it)."""
    chars = "".join([c for c in value if c.isalnum()]).lower()
    return chars if _MIN_CHARS <= len(chars) <= _MAX_CHARS else ""


@lru_cache(maxsize=512)
def _pattern(chars: str) -> re.Pattern[str]:
    body = "[^0-9A-Za-z]{0,3}".join(re.escape(c) for c in chars)
    return re.compile(rf"(?<![0-9A-Za-z]){body}(?![0-9A-Za-z])", re.IGNORECASE)


def find(text: str, chars: str) -> list[tuple[int, int]]:
    """Spans where the value with key `chars` occurs in `text`."""
    return [m.span() for m in _pattern(chars).finditer(text)]
