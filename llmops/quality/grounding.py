"""`grounded_in`: every figure in an answer must appear in the reference. Deterministic.

A figure is a money amount, a percentage, a duration (days, hours, ...), a date, a time of day,
a phone number, an e-mail address or a URL. Each is normalised to a key before comparing, so
"$95", "95 USD" and "$95.00" are one amount, "two business days" and "2 business days" one
duration, "9am" and "9:00 a.m." one time, "(800) 555-0199" and "+1 800 555 0199" one phone.

Figures are found in a fixed order (e-mail, URL, date, time, money, percentage, phone,
duration); each claims its span, so "$95" is a money amount and not also a bare number, and the
digits of a phone number are not read as a date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import phonenumbers

#: Longest text scanned (characters): a bound on time. A longer answer fails the check (its
#: figures past the bound are not known to be grounded); a longer reference is cut.
MAX_CHARS = 100_000

_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_UNITS = "one|two|three|four|five|six|seven|eight|nine"
# "twenty-four" before "twenty", longest words first so "fourteen" is not read as "four".
_WORD = (
    rf"(?:(?:{_TENS})[- ](?:{_UNITS})|"
    + "|".join(sorted(_WORDS, key=len, reverse=True))
    + ")"
)
# Bounded repeats everywhere below: a scan stays linear on any text (a run of a million digits
# or dots is tried from its start only, and only so far).
_NUM = r"(?:\d{1,3}(?:,\d{3}){1,6}|\d{1,18})(?:\.\d{1,8})?"
_NUMBER = rf"(?:{_NUM}|{_WORD})"

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)

_CURRENCY = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
    "¥": "JPY", "jpy": "JPY", "yen": "JPY",
    "cad": "CAD", "aud": "AUD", "chf": "CHF", "inr": "INR", "₹": "INR",
    "cent": "USD/100", "cents": "USD/100",
}
_SCALE = {"k": 1000, "thousand": 1000, "m": 10**6, "mn": 10**6, "million": 10**6,
          "bn": 10**9, "b": 10**9, "billion": 10**9}
_CODE = r"(?:usd|eur|gbp|jpy|cad|aud|chf|inr)"
_SCALE_RE = r"(?:thousand|million|billion|bn|mn|k|m|b)"

_I = re.IGNORECASE
_EMAIL = re.compile(
    r"(?<![a-z0-9._%+-])[a-z0-9._%+-]{1,64}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){0,8}"
    r"\.[a-z]{2,24}\b", _I)
_URL = re.compile(
    r"\b(?:https?://|www\.)[^\s<>\"'`]{1,2000}"
    r"|(?<![a-z0-9.-])[a-z0-9][a-z0-9-]{0,62}(?:\.[a-z0-9-]{1,63}){0,8}"
    r"\.(?:com|org|net|gov|edu|io|co|uk|us|eu|bank|info|biz|app|dev|ai)\b"
    r"(?:/[^\s<>\"'`]{0,2000})?",
    _I,
)
_DATE = re.compile(
    r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b"
    r"|\b(?P<m2>\d{1,2})/(?P<d2>\d{1,2})/(?P<y2>\d{4}|\d{2})\b"
    rf"|\b(?P<mn>{_MONTH})\.?\s+(?P<d3>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y3>\d{{4}})\b)?"
    rf"|\b(?P<d4>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mn4>{_MONTH})\b\.?"
    r"(?:,?\s+(?P<y4>\d{4})\b)?",
    _I,
)
_TIME = re.compile(
    r"\b(?P<h>\d{1,2})(?::(?P<mi>[0-5]\d))?\s*(?P<ap>a\.?m\.?|p\.?m\.?)(?![a-z])"
    r"|\b(?P<h24>[01]?\d|2[0-3]):(?P<mi24>[0-5]\d)\b"
    r"|\b(?P<word>noon|midday|midnight)\b",
    _I,
)
_MONEY = re.compile(
    rf"(?P<sym>us\$|[$€£¥₹])\s?(?P<n>{_NUM})(?:\s?(?P<sc>{_SCALE_RE})\b)?"
    rf"|\b(?P<code>{_CODE})\s?(?P<n2>{_NUM})(?:\s?(?P<sc2>{_SCALE_RE})\b)?"
    rf"|(?<![\w.,])(?P<n3>{_NUMBER})\s?(?:(?P<sc3>{_SCALE_RE})\s?)?"
    rf"(?P<cur3>{_CODE}|dollars?|euros?|pounds?|yen|cents?)\b",
    _I,
)
_PERCENT = re.compile(rf"(?<![\w.,])(?P<n>{_NUMBER})\s?(?:%|percent\b|per\s?cent\b)", _I)
_DURATION = re.compile(
    rf"(?<![\w.,$€£])(?P<n>{_NUMBER})(?:\s{{0,3}}(?:-|–|to|or)\s{{0,3}}(?P<n2>{_NUMBER}))?"
    r"[\s-]{0,3}"
    r"(?P<q>business|working|banking|calendar)?[\s-]{0,3}"
    r"(?P<u>minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|yrs?)\b",
    _I,
)
_PHONE_WINDOW = re.compile(r"(?<![\w+])\+?\(?\d[\d ().\-]{5,24}\d(?!\d)")
_UNIT = {"min": "minute", "mins": "minute", "hr": "hour", "hrs": "hour", "yr": "year",
         "yrs": "year"}
_TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True)
class Figure:
    """One figure found in a text: its kind, its normalised key, and where it is."""

    kind: str  # money | percent | duration | date | time | phone | email | url
    key: tuple[object, ...]
    text: str
    start: int
    end: int

    @property
    def label(self) -> str:
        return f"{self.kind} {self.text!r}"


def figures(text: str) -> list[Figure]:
    """Every figure in `text`, in order of position."""
    text = text[:MAX_CHARS]
    claimed = bytearray(len(text))  # 1 where an earlier finder's figure is: linear, not n^2
    found: list[Figure] = []
    for finder in _FINDERS:
        # a range ("2-3 days") is two figures of one span: claim only against earlier finders
        new = [f for f in finder(text) if not any(claimed[f.start:f.end])]
        for f in new:
            claimed[f.start:f.end] = b"\x01" * (f.end - f.start)
        found.extend(new)
    return sorted(found, key=lambda f: f.start)


@dataclass(frozen=True)
class Grounding:
    figures: tuple[Figure, ...]
    ungrounded: tuple[Figure, ...]

    #: The answer was longer than MAX_CHARS: what lies past it was not read.
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return not self.ungrounded and not self.truncated

    def message(self) -> str:
        if self.ok:
            return ""
        if not self.ungrounded:
            return (f"the answer is longer than {MAX_CHARS} characters: figures past that are "
                    "not checked")
        names = ", ".join(f.label for f in self.ungrounded)
        return (f"{len(self.ungrounded)} of {len(self.figures)} figure(s) in the answer are not "
                f"in the reference: {names}")


def ground(answer: str, reference: str | Iterable[str]) -> Grounding:
    """Which figures of `answer` the reference (a text or a list of facts) does not hold."""
    refs = [reference] if isinstance(reference, str) else list(reference)
    keys: set[tuple[object, ...]] = set()
    for ref in refs:
        keys.update(f.key for f in figures(ref))
    found = figures(answer)
    missing = tuple(f for f in found if not _grounded(f, keys))
    return Grounding(tuple(found), missing, truncated=len(answer) > MAX_CHARS)


def _grounded(fig: Figure, keys: set[tuple[object, ...]]) -> bool:
    if fig.key in keys:
        return True
    if fig.kind == "date" and fig.key[1] is None:  # "March 5" is grounded by "March 5, 2027"
        return any(k[0] == "date" and k[2:] == fig.key[2:] for k in keys)
    return False


# --------------------------------------------------------------------------- finders


def _number(s: str) -> Decimal | None:
    s = s.strip().lower().replace(",", "")
    if s in _WORDS:
        return Decimal(_WORDS[s])
    parts = re.split(r"[- ]", s)
    if len(parts) == 2 and all(p in _WORDS for p in parts):
        return Decimal(_WORDS[parts[0]] + _WORDS[parts[1]])
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def _norm(d: Decimal) -> str:
    """One spelling per value: 95, 95.0 and 95.00 are "95"; 3.10 is "3.1"."""
    return format(d.normalize(), "f")


def _emails(text: str) -> Iterator[Figure]:
    for m in _EMAIL.finditer(text):
        yield Figure("email", ("email", m.group().lower()), m.group(), m.start(), m.end())


def _urls(text: str) -> Iterator[Figure]:
    for m in _URL.finditer(text):
        raw = m.group().rstrip(_TRAILING)
        url = re.sub(r"^(?:https?://)?(?:www\.)?", "", raw.lower()).rstrip("/")
        yield Figure("url", ("url", url), raw, m.start(), m.start() + len(raw))


def _dates(text: str) -> Iterator[Figure]:
    for m in _DATE.finditer(text):
        g = m.groupdict()
        if g["y"]:
            y, mo, d = int(g["y"]), int(g["m"]), int(g["d"])
        elif g["m2"]:
            y = int(g["y2"]) + (2000 if len(g["y2"]) == 2 else 0)
            mo, d = int(g["m2"]), int(g["d2"])
        elif g["mn"]:
            y = int(g["y3"]) if g["y3"] else None  # type: ignore[assignment]
            mo, d = _MONTHS[g["mn"].lower()[:3]], int(g["d3"])
        else:
            y = int(g["y4"]) if g["y4"] else None  # type: ignore[assignment]
            mo, d = _MONTHS[g["mn4"].lower()[:3]], int(g["d4"])
        if 1 <= mo <= 12 and 1 <= d <= 31:
            yield Figure("date", ("date", y, mo, d), m.group(), m.start(), m.end())


def _times(text: str) -> Iterator[Figure]:
    for m in _TIME.finditer(text):
        g = m.groupdict()
        if g["word"]:
            hh, mm = (0, 0) if g["word"].lower() == "midnight" else (12, 0)
        elif g["ap"]:
            hh, mm = int(g["h"]), int(g["mi"] or 0)
            if not 1 <= hh <= 12:
                continue
            pm = g["ap"].lower().startswith("p")
            hh = hh % 12 + (12 if pm else 0)
        else:
            hh, mm = int(g["h24"]), int(g["mi24"])
        yield Figure("time", ("time", f"{hh:02d}:{mm:02d}"), m.group(), m.start(), m.end())


def _phones(text: str) -> Iterator[Figure]:
    # phonenumbers' matcher is slow on long digit-rich text: it reads candidate windows only.
    # POSSIBLE, not VALID: a made-up number in an answer is exactly what must be caught, and
    # fictional ranges (555-01xx) are not "valid" numbers.
    for w in _PHONE_WINDOW.finditer(text):
        digits = sum(c.isdigit() for c in w.group())
        # "1000000 customers" is a count: a bare run of digits is a phone from 10 digits on
        if not 7 <= digits <= 15 or (digits < 10 and w.group().isdigit()):
            continue
        matcher = phonenumbers.PhoneNumberMatcher(
            w.group(), "US", leniency=phonenumbers.Leniency.POSSIBLE)
        for m in matcher:
            e164 = phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
            start = w.start() + m.start
            yield Figure("phone", ("phone", e164), m.raw_string, start, start + len(m.raw_string))


def _money(text: str) -> Iterator[Figure]:
    for m in _MONEY.finditer(text):
        g = m.groupdict()
        if g["sym"]:
            cur, n, sc = g["sym"], g["n"], g["sc"]
        elif g["code"]:
            cur, n, sc = g["code"], g["n2"], g["sc2"]
        else:
            cur, n, sc = g["cur3"], g["n3"], g["sc3"]
        value = _number(n)
        if value is None:
            continue
        code = _CURRENCY[cur.lower()]
        if code == "USD/100":
            code, value = "USD", value / 100
        if sc:
            value *= _SCALE[sc.lower()]
        key = ("money", code, _norm(value))
        yield Figure("money", key, m.group().strip(), m.start(), m.end())


def _percents(text: str) -> Iterator[Figure]:
    for m in _PERCENT.finditer(text):
        value = _number(m.group("n"))
        if value is not None:
            yield Figure("percent", ("percent", _norm(value)), m.group(), m.start(), m.end())


def _durations(text: str) -> Iterator[Figure]:
    for m in _DURATION.finditer(text):
        unit = m.group("u").lower()
        unit = _UNIT.get(unit, unit).removesuffix("s")
        q = (m.group("q") or "").lower()
        qual = "business" if q in ("business", "working", "banking") else ""
        for n in (m.group("n"), m.group("n2")):
            value = _number(n) if n else None
            if value is not None:
                key = ("duration", _norm(value), unit, qual)
                yield Figure("duration", key, m.group(), m.start(), m.end())


_FINDERS: tuple[Callable[[str], Iterator[Figure]], ...] = (
    _emails, _urls, _dates, _times, _money, _percents, _phones, _durations,
)
