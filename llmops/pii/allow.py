"""The allowlist: public values the bot may say (the bank's support line, its address).

A finding is dropped when its text equals an allowed value after normalisation (phones compare
as E.164 or digits, emails case-insensitively, anything else case- and space-insensitively), or
when it lies inside an occurrence of an allowed value in the text ("100 Harbour Street").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from llmops.pii.hit import Hit
from llmops.pii.phone import e164
from llmops.pii.types import EMAIL_ADDRESS, PHONE_NUMBER

_SPACE: Final = re.compile(r"\s+")
_NON_DIGIT: Final = re.compile(r"[^0-9]")


def _norm(value: str) -> str:
    return _SPACE.sub(" ", value.strip()).casefold()


class Allowlist:
    def __init__(self, values: Iterable[str], regions: Iterable[str]) -> None:
        self.values = tuple(v for v in (str(x).strip() for x in values) if v)
        self.regions = tuple(regions)
        self.texts = {_norm(v) for v in self.values}
        self.emails = {v.lower() for v in self.values if "@" in v}
        self.phones: set[str] = set()
        self.digits: set[str] = set()
        for v in self.values:
            digits = _NON_DIGIT.sub("", v)
            if len(digits) >= 6 and len(digits) * 2 >= len(v.replace(" ", "")):
                self.digits.add(digits)
                number = e164(v, self.regions)
                if number:
                    self.phones.add(number)
        body = "|".join(
            _SPACE.sub(r"\\s+", re.escape(v).replace(r"\ ", " "))
            for v in sorted(self.values, key=len, reverse=True)
        )
        self._occurs = re.compile(body, re.IGNORECASE) if body else None
        self._reach = max((len(v) for v in self.values), default=0) + 8

    def __bool__(self) -> bool:
        return bool(self.values)

    def allows(self, text: str, hit: Hit) -> bool:
        value = text[hit.start : hit.end]
        if _norm(value) in self.texts:
            return True
        if hit.type == EMAIL_ADDRESS:
            return value.lower() in self.emails
        if hit.type == PHONE_NUMBER:
            if (hit.norm and hit.norm in self.phones) or _NON_DIGIT.sub("", value) in self.digits:
                return True
            number = e164(value, self.regions)
            if number and number in self.phones:
                return True
        if self._occurs is not None:
            lo = max(0, hit.start - self._reach)
            for m in self._occurs.finditer(text, lo, min(len(text), hit.end + self._reach)):
                if m.start() <= hit.start and hit.end <= m.end():
                    return True
        return False
