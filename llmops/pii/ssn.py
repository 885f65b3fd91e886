"""US_SSN: area-group-serial, valid areas (not 000, 666, 9xx), groups and serials (not zero)."""

from __future__ import annotations

from typing import Final

from llmops.pii.candidates import Run
from llmops.pii.checksums import ssn_ok
from llmops.pii.context import NOT_PII, Context
from llmops.pii.hit import Hit
from llmops.pii.types import US_SSN

CONTEXT: Final = Context(
    US_SSN,
    positive=(
        "ssn",
        "ssns",
        "social security",
        "social security number",
        "social security no",
        "social-security",
        "ss#",
        "ss no",
        "ssn#",
        "taxpayer",
        "tin",
        "itin",
        "social",
        "security number",
    ),
    negative=(*NOT_PII, "phone", "call", "fax", "routing", "account", "card"),
    boost=0.4,
    penalty=0.4,
)

DASHED: Final = 0.6  # "536-90-4399"
SPACED: Final = 0.45  # "536 90 4399"
BARE: Final = 0.3  # "536904399": also a routing or account number, needs a cue


def find_ssn(text: str, run: Run) -> list[Hit]:
    """3-2-4 digits joined by one dash or space (or 9 digits), standing apart in the run."""
    groups, seps = run.groups, run.seps
    sizes = [b - a for a, b in groups]
    hits: list[Hit] = []
    for i in range(len(groups)):
        if sizes[i] == 9:
            j, inner, base = i, "", BARE
        elif sizes[i : i + 3] == [3, 2, 4] and seps[i] == seps[i + 1] and seps[i] in ("-", " "):
            j, inner = i + 2, seps[i]
            base = DASHED if inner == "-" else SPACED
        else:
            continue
        if not run.apart(i, j, inner):
            continue
        a, b = run.span(i, j)
        digits = text[a:b].replace(inner, "") if inner else text[a:b]
        if ssn_ok(digits) and len(set(digits)) > 1:
            # Context is the run's: no word stands inside a run, and its recognizers share it.
            score = CONTEXT.score(base, text, run.start, run.end)
            if base == DASHED:
                # Written as only an SSN is, with a valid area, group and serial: a cue word
                # ("reference", "order") never hides it, it can only make it surer.
                score = max(base, score)
            hits.append(Hit(US_SSN, a, b, score))
    return hits
