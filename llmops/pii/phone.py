"""PHONE_NUMBER: Google's `phonenumbers` decides, on candidate windows only.

`PhoneNumberMatcher` with leniency VALID is exact but costs tens of microseconds a call, and one
call per region. So a candidate run first passes a cheap test built from the same metadata: does
its national significant number have a possible length and fit the region's general pattern?
Only regions that pass get a matcher call, on the run's own window.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import Leniency, PhoneMetadata, PhoneNumberFormat, PhoneNumberMatcher

from llmops.pii.candidates import DATE, THOUSANDS, Run
from llmops.pii.context import NOT_PII, Context
from llmops.pii.hit import Hit
from llmops.pii.types import PHONE_NUMBER

DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "IN", "ES", "IT", "NL", "CA", "AU")

CONTEXT = Context(
    positive=(
        "phone",
        "phone number",
        "telephone",
        "tel",
        "call",
        "calling",
        "called",
        "mobile",
        "cell",
        "cellphone",
        "dial",
        "ring",
        "fax",
        "contact",
        "reach",
        "reached",
        "text",
        "text me",
        "sms",
        "whatsapp",
        "hotline",
        "helpline",
        "landline",
        "telefon",
        "telefono",
        "teléfono",
        "téléphone",
        "tél",
        "portable",
        "handy",
        "numero",
        "número",
        "numéro",
        "appelez",
        "llame",
        "chiama",
        "rufen",
        "bel",
        "order line",
        "answered",
        "voicemail",
        "dialed",
        "dialled",
        "rang",
    ),
    negative=(
        *NOT_PII,
        "routing",
        "routing number",
        "aba",
        "account number",
        "acct",
        "a/c",
        "iban",
        "card",
        "card number",
        "ssn",
        "social security",
        "swift",
        "bic",
        "pin",
        "cvv",
    ),
    boost=0.3,
    penalty=0.35,
    after=32,
)

# Base scores: how sure the shape alone makes us once `phonenumbers` says VALID.
INTERNATIONAL = 0.7  # "+44 20 7946 0958"
FORMATTED = 0.6  # "(415) 555-2671", "020 7946 0958"
TRUNK = 0.5  # "0481908646": a national trunk prefix; quantities do not start with 0
BARE = 0.4  # "4155552671", "912 345 678" (reads as a quantity too): needs a phone cue

# Shapes that are something else first: SSN-like 3-2-4, ZIP+4, a decimal, a dotted quad.
_OTHER_SHAPES = re.compile(
    r"[0-9]{3}([- ])[0-9]{2}\1[0-9]{4}|[0-9]{5}-[0-9]{4}|[0-9]+\.[0-9]+|"
    r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
)

# An extension after the number: "x123", "ext. 12", "extension 4".
EXTENSION = re.compile(r"[ ]{0,2}(?:x|ext\.?|extension)[ ]{0,2}[0-9]{1,6}(?![0-9])", re.I)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the cheap test needs of one region's metadata."""

    region: str
    cc: str
    national_prefix: str
    prefix_re: re.Pattern[str] | None
    lengths: frozenset[int]
    pattern: re.Pattern[str]
    idd: re.Pattern[str] | None

    @classmethod
    def of(cls, region: str) -> _Plan:
        md = PhoneMetadata.metadata_for_region(region)
        if md is None:
            raise ValueError(f"unknown phone region {region!r}")
        parse = md.national_prefix_for_parsing
        return cls(
            region=region,
            cc=str(md.country_code),
            national_prefix=md.national_prefix or "",
            prefix_re=re.compile(parse) if parse else None,
            lengths=frozenset(md.general_desc.possible_length or ()),
            pattern=re.compile(md.general_desc.national_number_pattern),
            idd=re.compile(md.international_prefix) if md.international_prefix else None,
        )

    def plausible(self, digits: str) -> bool:
        """Could `digits`, written nationally in this region, be one of its numbers?"""
        for nsn in self._national_forms(digits):
            if len(nsn) in self.lengths and self.pattern.fullmatch(nsn):
                return True
        return False

    def _national_forms(self, digits: str) -> Iterator[str]:
        yield digits
        if self.prefix_re is not None:
            m = self.prefix_re.match(digits)
            if m and m.end():
                yield digits[m.end() :]
        if digits.startswith(self.cc):
            yield digits[len(self.cc) :]  # "44 20 7946 0958" without its "+"

    def international(self, digits: str) -> bool:
        """Does `digits` start with this region's international call prefix ("00", "011")?"""
        if self.idd is None:
            return False
        m = self.idd.match(digits)
        return bool(m) and 7 <= len(digits) - m.end() <= 15


class PhoneFinder:
    """Finds VALID phone numbers of the given regions in candidate runs."""

    def __init__(self, regions: Iterable[str] = DEFAULT_REGIONS) -> None:
        self.regions = tuple(dict.fromkeys(r.strip().upper() for r in regions if r.strip()))
        self._plans = [_Plan.of(r) for r in self.regions]

    def find(self, text: str, run: Run, threshold: float) -> list[Hit]:
        start, end = run.start, run.end
        lead = text[start - 1] if start else ""
        plus = lead == "+"
        if lead in "+(":
            start -= 1
        nd = run.ndigits
        if not 7 <= nd <= 17 and not (nd > 17 and len(run.groups) > 2):
            return []
        body = text[run.start : run.end]
        date = DATE.match(body)
        if date and (date.end() == len(body) or body[date.end()] in " T"):
            return []
        if lead == "." or (start >= 2 and text[start - 1] in ".," and text[start - 2].isdigit()):
            return []  # the decimals of a number
        digits = run.digits(text)
        if plus:
            base = INTERNATIONAL
        elif THOUSANDS.fullmatch(body) or _OTHER_SHAPES.fullmatch(body):
            base = BARE
        elif len(run.groups) == 1:
            base = TRUNK if digits[0] == "0" else BARE
        else:
            base = FORMATTED
        # Context first: it is cheaper than phonenumbers, and a bare number without a phone cue
        # (or a formatted one next to "order", "invoice") cannot reach the threshold anyway.
        score = CONTEXT.score(base, text, start, end)
        if score < threshold:
            return []
        ext = EXTENSION.match(text, end)
        window_end = ext.end() if ext else end
        window = text[start:window_end]
        for region in self._regions_for(_forms(text, run, digits), plus):
            # A number starts where the run starts, or right after another number: one found
            # in the middle of a run ("2024-08-01 13...") is a piece of something else.
            hits: list[Hit] = []
            edge = 0
            for a, b, e164 in _match(window, region):
                if window[edge:a].strip(" -/()\u00a0"):
                    break
                hits.append(Hit(PHONE_NUMBER, start + a, start + b, score, e164))
                edge = b
            if hits:
                return hits
        return []

    def _regions_for(self, forms: list[str], plus: bool) -> Iterator[str]:
        if plus:
            yield self.regions[0] if self.regions else "US"  # the region is moot after "+"
            return
        for plan in self._plans:
            if any(plan.international(d) or plan.plausible(d) for d in forms):
                yield plan.region


def _forms(text: str, run: Run, digits: str) -> list[str]:
    """The digit strings a run may stand for: all of it, and (for a run that holds a number and
    more, "020 7946 0958 2") its leading groups of 7 to 15 digits."""
    forms = [digits] if len(digits) <= 15 else []
    total = 0
    for i, (a, b) in enumerate(run.groups[:-1]):
        total += b - a
        if total > 15:
            break
        if total >= 7:
            forms.append(run.digits(text, 0, i))
    return forms


@lru_cache(maxsize=4096)
def _match(window: str, region: str) -> tuple[tuple[int, int, str], ...]:
    """Matches of the VALID leniency in `window`, as (start, end, E.164). Cached: support lines
    and a customer's own number come back again and again."""
    out = []
    for m in PhoneNumberMatcher(window, region, leniency=Leniency.VALID):
        out.append((m.start, m.end, phonenumbers.format_number(m.number, PhoneNumberFormat.E164)))
    return tuple(out)


def e164(value: str, regions: Iterable[str]) -> str | None:
    """The E.164 form of a phone number written in any of `regions` (for the allowlist)."""
    for region in regions:
        try:
            num = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(num):
            return phonenumbers.format_number(num, PhoneNumberFormat.E164)
    return None
