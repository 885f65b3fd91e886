"""PHONE_NUMBER: Google's `phonenumbers` decides, on candidate windows only.

`PhoneNumberMatcher` with leniency VALID is exact but costs tens of microseconds a call, and one
call per region. So a candidate run first passes a cheap test built from the same metadata: does
its national significant number have a possible length and fit the region's general pattern?
Only regions that pass get a matcher call, on the run's own window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import Leniency, PhoneMetadata, PhoneNumberFormat, PhoneNumberMatcher

from llmops.pii import phonemeta
from llmops.pii.candidates import DATE, THOUSANDS, Run
from llmops.pii.context import NOT_PII, Context
from llmops.pii.hit import Hit
from llmops.pii.types import PHONE_NUMBER

DEFAULT_REGIONS: Final = ("US", "GB", "DE", "FR", "IN", "ES", "IT", "NL", "CA", "AU")

CONTEXT: Final = Context(
    PHONE_NUMBER,
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
        "answering",
        "not answering",
        "office",
        "desk",
        "direct line",
        "extension",
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
)

# Base scores: how sure the shape alone makes us once `phonenumbers` says VALID.
INTERNATIONAL: Final = 0.9  # "+44 20 7946 0958": nobody writes an order number with a "+"
FORMATTED: Final = 0.6  # "(415) 555-2671", "020 7946 0958"
TRUNK: Final = 0.5  # "0481908646": a national trunk prefix; quantities do not start with 0
BARE: Final = 0.4  # "4155552671", "912 345 678" (reads as a quantity too): needs a phone cue
# No region's metadata calls it valid, but it is written as a phone number is: a "+" or "00"
# and a possible length for its country code ("+1-054-353-1726"), or a phone cue before it.
POSSIBLE_INTERNATIONAL: Final = 0.75
CUED_LOCAL: Final = 0.6  # "Phone: 451 5986", "call me on 9472 7916": a phone cue, 6-15 digits
MIN_DIGITS: Final = 6  # a cued local number; a valid one has at least 7

# Shapes that are something else first: SSN-like 3-2-4, ZIP+4, a decimal, a dotted quad.
_OTHER_SHAPES: Final = re.compile(
    r"[0-9]{3}([- ])[0-9]{2}\1[0-9]{4}|[0-9]{5}-[0-9]{4}|[0-9]+\.[0-9]+|"
    r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
)

# An extension after the number: "x123", "ext. 12", "extension 4".
EXTENSION: Final = re.compile(r"[ ]{0,2}(?:x|ext\.?|extension)[ ]{0,2}[0-9]{1,6}(?![0-9])", re.I)


_NUMBER_TYPES: Final = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
    "voip", "pager", "uan", "voicemail",
)  # fmt: skip


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
        general = md.general_desc
        assert general is not None and general.national_number_pattern, region
        return cls(
            region=region,
            cc=str(md.country_code),
            national_prefix=md.national_prefix or "",
            prefix_re=re.compile(parse) if parse else None,
            lengths=frozenset(general.possible_length or ()),
            pattern=re.compile(general.national_number_pattern),
            idd=re.compile(md.international_prefix) if md.international_prefix else None,
        )

    def shape(self) -> str:
        """A regex for the digits of a number of this region as people write it: optionally
        the country code or the national prefix, then a national number of one of the region's
        number types (fixed line, mobile, toll free...); or the international call prefix and
        then anything of 7-15 digits."""
        md = PhoneMetadata.metadata_for_region(self.region)
        kinds = [getattr(md, k, None) for k in _NUMBER_TYPES]
        patterns = [d.national_number_pattern for d in kinds if d and d.national_number_pattern]
        general = "|".join(f"(?:{p})" for p in patterns) or self.pattern.pattern
        prefix = f"(?:{self.prefix_re.pattern})" if self.prefix_re is not None else ""
        forms = [f"(?:{general})", f"{self.cc}(?:{general})"]
        if prefix:
            forms.append(f"{prefix}(?:{general})")
        if self.idd is not None:
            forms.append(f"(?:{self.idd.pattern})[0-9]{{7,15}}")
        return "|".join(f for f in forms if f)

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
        return m is not None and 7 <= len(digits) - m.end() <= 15


class PhoneFinder:
    """Finds VALID phone numbers of the given regions in candidate runs."""

    def __init__(self, regions: Iterable[str] = DEFAULT_REGIONS) -> None:
        self.regions = tuple(dict.fromkeys(r.strip().upper() for r in regions if r.strip()))
        self._plans = [_Plan.of(r) for r in self.regions]
        self._any_re: re.Pattern[str] | None = None

    @property
    def _any(self) -> re.Pattern[str]:
        """One regex for the cheap test of every region: a C call instead of a Python loop.
        Compiled on first use: its ~29 KB take `re` ~80 ms, which a run whose answers hold no
        phone-like digits should not pay at start-up (RE2 compiles it in 7 ms, but matches
        6x slower, and this test runs on every digit run)."""
        if self._any_re is None:
            self._any_re = re.compile(
                "|".join(f"(?P<{p.region}>{p.shape()})" for p in self._plans)
            )
        return self._any_re

    def find(self, text: str, run: Run, threshold: float) -> list[Hit]:
        """Phone numbers in a run: from its first group, as long as the number goes; what is left
        of the run after a number may hold another one ("042583009 06596140964")."""
        hits: list[Hit] = []
        first = 0
        groups = run.groups
        while first < len(groups):
            piece = run.tail(first)
            hit = self._find(text, piece, threshold, inner=first > 0)
            if hit is None:
                # Not a number from here: try after the next white space, if any.
                seps = run.seps
                i = first
                while i < len(seps) and " " not in seps[i]:
                    i += 1
                if i >= len(seps):
                    break
                first = i + 1
                continue
            hits.append(hit)
            while first < len(groups) and groups[first][1] < hit.end:
                first += 1  # to the group the number ends in, then past it
            first += 1
        return hits

    def _find(self, text: str, run: Run, threshold: float, inner: bool = False) -> Hit | None:
        """A number from the start of `run`; `inner` when the run is the rest of a longer one,
        where only a "+" or a trunk "0" says a new number starts."""
        start = run.start
        lead = text[start - 1] if start else ""
        plus = lead == "+"
        if lead and lead in "+(":
            start -= 1
        if run.ndigits < MIN_DIGITS:
            return None
        if lead == "." or (start >= 2 and text[start - 1] in ".," and text[start - 2].isdigit()):
            return None  # the decimals of a number
        sign: int | None = None  # the context, asked once a number could pass
        # The longest leading groups that make a valid number ("020 7946 0958" of
        # "020 7946 0958 2"); a number ends where white space ends a group, not inside a
        # dotted or dashed sequence ("0825... 198.114.195.243" is a number and an address).
        groups, seps = run.groups, run.seps
        last = len(groups) - 1
        total = 0
        ends = []
        for j, (a, b) in enumerate(groups):
            total += b - a
            if total > 17:
                break
            if total >= MIN_DIGITS and (j == last or seps[j].isspace()):
                ends.append(j)
        fallback: Hit | None = None  # the longest number no region validates, if written as one
        for j in reversed(ends):
            body = text[run.start : groups[j][1]]
            date = DATE.match(body)
            if date and (date.end() == len(body) or body[date.end()] in " T"):
                continue
            other = THOUSANDS.fullmatch(body) or _OTHER_SHAPES.fullmatch(body)
            if plus:
                base = INTERNATIONAL
            elif inner or j == 0:
                base = TRUNK if body[0] == "0" else BARE
            elif other:
                base = BARE
            else:
                base = FORMATTED
            # Context before phonenumbers: a bare number without a phone cue (or a formatted
            # one next to "order", "invoice") cannot reach the threshold anyway.
            if sign is None:
                sign = CONTEXT.nearest(text, run.start, run.end)
            score = CONTEXT.apply(base, sign)
            if score < threshold:
                continue
            stop = groups[j][1]
            if j == last:
                ext = EXTENSION.match(text, stop)
                stop = ext.end() if ext else stop
            if not plus and _STREET.match(text, groups[j][1]):
                continue  # a house number and its street
            digits = run.digits(text, 0, j)
            if len(digits) >= 7:
                candidate = text[start:stop]
                for region in self._regions_for(digits, plus):
                    number = _valid(candidate, region)
                    if number:
                        return Hit(PHONE_NUMBER, start, stop, score, number)
            if fallback is not None or len(digits) > 15:
                continue
            if (plus or digits.startswith("00")) and _possible_international(digits, plus):
                fallback = Hit(PHONE_NUMBER, start, stop, max(score, POSSIBLE_INTERNATIONAL))
            elif sign > 0 and not inner and _local_shape(body, groups, j, other is not None):
                fallback = Hit(PHONE_NUMBER, start, stop, CUED_LOCAL)
        return fallback

    def _regions_for(self, digits: str, plus: bool) -> Iterator[str]:
        if plus:
            yield self.regions[0] if self.regions else "US"  # the region is moot after "+"
            return
        m = self._any.fullmatch(digits)
        if m is None:
            return  # no region has such a number: the common case for what is no phone
        first = m.lastgroup
        yield first  # type: ignore[misc]
        for plan in self._plans:
            if plan.region != first and (plan.international(digits) or plan.plausible(digits)):
                yield plan.region


@lru_cache(maxsize=1024)
def _possible_international(digits: str, plus: bool) -> bool:
    """Is "+digits" (or "00" then digits) a number of a possible length for its country code?"""
    if not plus:
        digits = digits[2:]
    if not 7 <= len(digits) <= 15:
        return False
    try:
        num = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_possible_number(num))


def _local_shape(body: str, groups: list[tuple[int, int]], j: int, other: bool) -> bool:
    """Does a cued number look like a phone number as people write one: at most six groups,
    none longer than 12 digits; thousands-shaped only as three or more groups of three."""
    sizes = [b - a for a, b in groups[: j + 1]]
    if len(sizes) > 6 or max(sizes) > 12:
        return False
    if other:  # "73 448 266" but not "1 000 000" nor a decimal
        return len(sizes) >= 3 and sizes[0] >= 2 and "." not in body
    return True


# A street address after the number: "14 3684 Court Street", "32 2914 184th Street".
_STREET: Final = re.compile(
    r"(?:st|nd|rd|th)?[ ]{1,3}(?:[^\W\d_][\w'.-]{0,30}[ ]{1,3}){0,2}(?:street|st|lane|ln|road|rd|"
    r"avenue|ave|parkway|pkwy|boulevard|blvd|drive|dr|way|court|ct|place|pl|square|sq|terrace|"
    r"highway|hwy|suite|apt|apartment)\b",
    re.IGNORECASE,
)


_matcher_verify: Callable[..., bool] | None
try:  # the matcher's own VALID test, without the matcher's search (slow on any text)
    from phonenumbers.phonenumbermatcher import _verify as _matcher_verify
except ImportError:  # pragma: no cover - a phonenumbers without it: run the matcher itself
    _matcher_verify = None


@lru_cache(maxsize=4096)
def _valid(candidate: str, region: str) -> str | None:
    """E.164 of `candidate` if it is a phone number of leniency VALID written in `region`
    (a valid number, with the national prefix where the region requires it), else None.
    Cached: support lines and a customer's own number come back again and again."""
    got = phonemeta.valid(candidate, region)  # the same answer from the metadata, 10x faster
    return library_valid(candidate, region) if got is phonemeta.UNKNOWN else got


def library_valid(candidate: str, region: str) -> str | None:
    """`_valid` as `phonenumbers` itself answers it, uncached: where phonemeta cannot, and the
    reference its tests and benchmark hold it to."""
    if _matcher_verify is None:
        for m in PhoneNumberMatcher(candidate, region, leniency=Leniency.VALID):
            if m.start == 0 and m.end == len(candidate):
                return phonenumbers.format_number(m.number, PhoneNumberFormat.E164)
        return None
    try:
        num = phonenumbers.parse(candidate, region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        return None
    if not _matcher_verify(Leniency.VALID, num, candidate, None):
        return None
    return phonenumbers.format_number(num, PhoneNumberFormat.E164)


def clear_cache() -> None:
    _valid.cache_clear()


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
