"""US_SSN: area-group-serial, valid areas (not 000, 666, 9xx), groups and serials (not zero)."""

from __future__ import annotations

from llmops.pii.candidates import Run
from llmops.pii.checksums import ssn_ok
from llmops.pii.context import NOT_PII, Context
from llmops.pii.hit import Hit
from llmops.pii.types import US_SSN

CONTEXT = Context(
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

DASHED = 0.6  # "536-90-4399"
SPACED = 0.45  # "536 90 4399"
BARE = 0.3  # "536904399": also a routing or account number, needs a cue


def find_ssn(text: str, run: Run) -> list[Hit]:
    groups, seps = run.groups, run.seps
    if len(groups) == 1 and groups[0][1] - groups[0][0] == 9:
        base = BARE
    elif (
        len(groups) == 3
        and seps[0] == seps[1]
        and seps[0] in ("-", " ")
        and [b - a for a, b in groups] == [3, 2, 4]
    ):
        base = DASHED if seps[0] == "-" else SPACED
    else:
        return []
    digits = run.digits(text)
    if not ssn_ok(digits) or len(set(digits)) == 1:
        return []
    return [Hit(US_SSN, run.start, run.end, CONTEXT.score(base, text, run.start, run.end))]
