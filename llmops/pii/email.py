"""EMAIL_ADDRESS: found from its '@', checked for a sane local part and a domain with a TLD."""

from __future__ import annotations

import re
from typing import Final

from llmops.pii.hit import Hit
from llmops.pii.types import EMAIL_ADDRESS

SCORE: Final = 0.9
# Local part: searched in the 64 characters before '@' (a bounded window, so each '@' costs a
# constant); the domain: labels of at most 63 characters, at most 10 of them, then a TLD.
# Matched on the reversed text before the '@' (a search for a run that ends at the '@' would
# try every start in the window).
_LOCAL_REVERSED: Final = re.compile(r"[\w.%+\-'!#$&*/=?^`{|}~]{1,64}")
_DOMAIN: Final = re.compile(
    r"(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.){1,10}([^\W\d_]{2,24}|xn--[\w\-]{1,59})(?![\w\-])"
)


def find_emails(text: str) -> list[Hit]:
    hits: list[Hit] = []
    at = text.find("@")
    last_end = 0
    while at >= 0:
        dom = _DOMAIN.match(text, at + 1)
        if dom is not None:
            local = _LOCAL_REVERSED.match(text[max(last_end, at - 64) : at][::-1])
            if local is not None:
                start = at - local.end()
                # Trim what cannot start an address ('.', quotes of the sentence, "mailto:").
                while start < at and text[start] in ".'\"":
                    start += 1
                if start < at and text[at - 1] != ".":
                    hits.append(Hit(EMAIL_ADDRESS, start, dom.end(), SCORE))
                    last_end = dom.end()
        at = text.find("@", at + 1)
    return hits
