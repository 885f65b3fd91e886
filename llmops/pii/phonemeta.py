"""An exact fast path for `phonenumbers`' VALID verdict on a phone candidate.

`phone._valid` asks `phonenumbers.parse` and the matcher's VALID check about one candidate (a
slice of text of digits and separators, maybe an extension) written in one region: tens of
microseconds a call. `valid(candidate, region)` answers the same question from the same
metadata, compiled once per region and lazily per number length, in a few microseconds: the
E.164 string, None, or `UNKNOWN` where it does not mirror the library, so the caller asks the
library. UNKNOWN: vanity numbers (three letters or more), "xx" carrier codes, more than one "+",
characters outside the candidate alphabet, all-zero numbers, unknown regions.

    got = phonemeta.valid("020 7946 0958", "GB")   # "+442079460958"
    if got is phonemeta.UNKNOWN:
        got = ...  # phonenumbers

The steps mirror, in order: `parse` (`_extract_possible_number`, `_is_viable_phone_number`,
`_maybe_strip_extension`, `_maybe_extract_country_code`,
`_maybe_strip_national_prefix_carrier_code`, `_test_number_length`), `is_valid_number`
(`region_code_for_number`, `_number_type_helper`) and the matcher's
`_contains_only_valid_x_chars` and `_is_national_prefix_present_if_required`.
tests/test_pii_phonemeta.py checks them against the library on written, mutated and random
candidates; benchmarks/bench_phonemeta.py on the detector's own calls.
"""

from __future__ import annotations

import enum
import re
from typing import Final, Literal

from phonenumbers import PhoneMetadata
from phonenumbers.phonemetadata import NumberFormat, PhoneNumberDesc
from phonenumbers.phonenumberutil import (
    _EXTN_PATTERN,
    _SECOND_NUMBER_START_PATTERN,
    _UNWANTED_END_CHAR_PATTERN,
    _VALID_PHONE_NUMBER_PATTERN,
    _VALID_START_CHAR_PATTERN,
    COUNTRY_CODE_TO_REGION_CODE,
    SUPPORTED_REGIONS,
)


class Unknown(enum.Enum):
    """The fast path's "don't know": ask phonenumbers."""

    UNKNOWN = "unknown"


UNKNOWN: Final = Unknown.UNKNOWN
Verdict = str | None | Literal[Unknown.UNKNOWN]

# phonenumbers' limits (phonenumberutil._MIN_LENGTH_FOR_NSN and friends).
_MIN_NSN: Final = 2
_MAX_NSN: Final = 17
_MAX_CC_DIGITS: Final = 3
_MAX_INPUT: Final = 250

# _test_number_length's verdicts.
_POSSIBLE: Final = 0
_LOCAL_ONLY: Final = 1
_TOO_SHORT: Final = 2
_INVALID_LENGTH: Final = 3
_TOO_LONG: Final = 4
_KEEPS_STRIP: Final = (_POSSIBLE, _TOO_LONG)  # parse keeps a stripped national prefix on these only

# The candidate alphabet: digits, the separators phone.py's candidates hold, "+", and ASCII
# letters (extensions). Thin spaces are not in phonenumbers' _VALID_PUNCTUATION: one between
# digits makes the string not a viable number, one before or after them is trimmed.
_ALPHABET: Final = re.compile("[0-9 \u00a0\u2009\u202f\\-./()+A-Za-z]*")
_NON_DIGITS: Final = re.compile("[^0-9]+")
# A number ending in a digit, then an extension as phone.EXTENSION finds them (ASCII letters
# spelled out: re.IGNORECASE would also take the Kelvin sign for a "k" and so on).
_SIMPLE_EXTENSION: Final = re.compile(
    "(.*[0-9]) {0,2}(?:[xX]|[eE][xX][tT]\\.?|[eE][xX][tT][eE][nN][sS][iI][oO][nN]) {0,2}"
    "([0-9]{1,6})"
)
_LETTERS3: Final = re.compile("(?:.*?[A-Za-z]){3}")  # phonenumbers' _VALID_ALPHA_PHONE_PATTERN

# phonenumberutil._FIRST_GROUP_ONLY_PREFIX_PATTERN
_FIRST_GROUP_ONLY: Final = re.compile("\\(?\\\\1\\)?")

# The type descs whose match makes a number valid (_number_type_helper != UNKNOWN).
_TYPES: Final = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line",
)  # fmt: skip


def _lengths(desc: PhoneNumberDesc | None) -> tuple[int, ...]:
    return tuple(desc.possible_length or ()) if desc is not None else ()


def _pattern(desc: PhoneNumberDesc | None) -> str:
    return (desc.national_number_pattern or "") if desc is not None else ""


def _format_requires_prefix(fmt: NumberFormat) -> bool:
    """Does a number of this format, written nationally, need its national prefix (VALID)?"""
    rule = fmt.national_prefix_formatting_rule
    if not rule or fmt.national_prefix_optional_when_formatting:
        return False
    return _FIRST_GROUP_ONLY.fullmatch(rule) is None


class _Meta:
    """One PhoneMetadata, compiled for the steps of parse and is_valid_number."""

    def __init__(self, md: PhoneMetadata) -> None:
        self.cc = int(md.country_code or 0)
        self.ccs = str(self.cc)
        general = md.general_desc
        self.general_pattern = _pattern(general)
        self.general = re.compile(self.general_pattern) if self.general_pattern else None
        self.general_lengths = _lengths(general)
        self.supported = bool(self.general_lengths)  # else _test_number_length raises
        local = tuple(general.possible_length_local_only or ()) if general is not None else ()
        self.length_verdicts = tuple(self._length_verdict(n, local) for n in range(_MAX_INPUT + 1))
        self.idd = re.compile(md.international_prefix) if md.international_prefix else None
        parse = md.national_prefix_for_parsing
        self.prefix = re.compile(parse) if parse else None
        self.transform = md.national_prefix_transform_rule or ""
        if self.transform and self.prefix is not None and self.prefix.groups == 0:
            self.supported = False  # phonenumbers would raise IndexError
        # Descs whose match makes the number valid; mobile only where it differs from fixed line.
        descs = [getattr(md, name) for name in _TYPES]
        if not md.same_mobile_and_fixed_line_pattern:
            descs.append(md.mobile)
        self._types = [(_lengths(d), _pattern(d)) for d in descs if d is not None and _pattern(d)]
        self._valid_by_length: dict[int, re.Pattern[str] | None] = {}
        self.leading_digits = (
            re.compile(md.leading_digits) if md.leading_digits is not None else None
        )
        # The format choice of _is_national_prefix_present_if_required, as one regex whose named
        # group says which format (the first one whose leading digits and pattern fit) won.
        formats = list(md.number_format or ())
        self.needs: dict[str, bool] = {}
        self.formats: re.Pattern[str] | None = None
        if any(_format_requires_prefix(f) for f in formats):
            alternatives = []
            for i, fmt in enumerate(formats):
                lead = fmt.leading_digits_pattern
                ahead = f"(?=(?:{lead[-1]}))" if lead else ""
                alternatives.append(f"(?P<f{i}>{ahead}(?:{fmt.pattern}))")
                self.needs[f"f{i}"] = _format_requires_prefix(fmt)
            self.formats = re.compile("|".join(alternatives))

    def _length_verdict(self, n: int, local: tuple[int, ...]) -> int:
        """_test_number_length(number of length n, metadata, UNKNOWN)."""
        lengths = self.general_lengths
        if not lengths:
            return _INVALID_LENGTH
        if n in local:
            return _LOCAL_ONLY
        if lengths[0] == n:
            return _POSSIBLE
        if lengths[0] > n:
            return _TOO_SHORT
        if lengths[-1] < n:
            return _TOO_LONG
        return _POSSIBLE if n in lengths[1:] else _INVALID_LENGTH

    def general_match(self, number: str) -> bool:
        """_match_national_number(number, general_desc, False)."""
        return self.general is not None and self.general.fullmatch(number) is not None

    def strip_prefix(self, number: str) -> tuple[str, bool]:
        """_maybe_strip_national_prefix_carrier_code without the carrier code: the number and
        whether a national prefix (or carrier code) was stripped."""
        prefix = self.prefix
        if not number or prefix is None:
            return number, False
        m = prefix.match(number)
        if m is None:
            return number, False
        if not self.transform or m.group(prefix.groups) is None:
            stripped = number[m.end() :]
        else:
            stripped = prefix.sub(self.transform, number, count=1)
        # Kept when the number was viable with its prefix and is not without it.
        if self.general_match(number) and not self.general_match(stripped):
            return number, False
        return stripped, True

    def is_valid(self, nsn: str) -> bool:
        """_number_type_helper(nsn, metadata) != UNKNOWN, as one fullmatch per length."""
        n = len(nsn)
        try:
            pattern = self._valid_by_length[n]
        except KeyError:
            pattern = self._valid_by_length[n] = self._compile_valid(n)
        return pattern is not None and pattern.fullmatch(nsn) is not None

    def _compile_valid(self, n: int) -> re.Pattern[str] | None:
        if not self.general_pattern:
            return None
        if self.general_lengths and n not in self.general_lengths:
            return None
        alternatives = [p for lengths, p in self._types if not lengths or n in lengths]
        if not alternatives:
            return None
        types = "|".join(f"(?:{p})" for p in alternatives)
        return re.compile(f"(?=(?:{self.general_pattern})\\Z)(?:{types})")

    def prefix_required(self, nsn: str) -> bool:
        """Does the format phonenumbers picks for `nsn` want the national prefix written?"""
        if self.formats is None:
            return False
        m = self.formats.fullmatch(nsn)
        return m is not None and self.needs[m.lastgroup or ""]


_NON_GEO: Final = "001"
_METAS: dict[str, _Meta] = {}


def _meta(cc: int, region: str) -> _Meta | None:
    """The compiled metadata_for_region_or_calling_code(cc, region)."""
    key = f"{region}:{cc}" if region == _NON_GEO else region
    meta = _METAS.get(key)
    if meta is None:
        md = PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
        if md is None:
            return None
        meta = _METAS[key] = _Meta(md)
    return meta


class _Code:
    """One country calling code: the metadata parse uses for its numbers, and the regions that
    share it in region_code_for_number's order."""

    def __init__(self, cc: int) -> None:
        regions = COUNTRY_CODE_TO_REGION_CODE[cc]
        main = _meta(cc, regions[0])
        assert main is not None, cc
        self.main = main
        self.supported = main.supported
        self.single = len(regions) == 1
        steps: list[tuple[re.Pattern[str] | None, _Meta]] = []
        for region in regions:
            meta = _meta(cc, region)
            if meta is not None:
                steps.append((meta.leading_digits, meta))
                self.supported = self.supported and meta.supported
        self.steps = tuple(steps)
        # _is_national_prefix_present_if_required uses metadata_for_region (no non-geo entity).
        self.formatting = main if PhoneMetadata.metadata_for_region(regions[0]) else None

    def is_valid(self, nsn: str) -> bool:
        """is_valid_number for a number of this code: the region region_code_for_number picks
        (the first whose leading digits fit, or that has the number), then its verdict."""
        if self.single:
            return self.main.is_valid(nsn)
        for leading, meta in self.steps:
            if leading is not None:
                if leading.match(nsn):
                    return meta.is_valid(nsn)
            elif meta.is_valid(nsn):
                return True
        return False


_CODES: dict[int, _Code] = {}


def _code(cc: int) -> _Code:
    code = _CODES.get(cc)
    if code is None:
        code = _CODES[cc] = _Code(cc)
    return code


# Calling codes by their digits: no code starts with "0", so int(digits) is a code iff digits is.
_CODES_BY_DIGITS: Final = {str(cc): cc for cc in COUNTRY_CODE_TO_REGION_CODE}


def _plain_digits(candidate: str) -> str | None:
    """The digits of a candidate of digits and separators, with a "+" first if one comes
    before them (after separators only, as _extract_possible_number leaves it); None for
    anything else. Chained replace is the fastest way in Python."""
    digits = (
        candidate.replace(" ", "")
        .replace("-", "")
        .replace(".", "")
        .replace("(", "")
        .replace(")", "")
        .replace("/", "")
        .replace("\u00a0", "")
    )
    if digits.isascii() and (digits.isdigit() or (digits[:1] == "+" and digits[1:].isdigit())):
        return digits
    return None


def _viable(number: str) -> bool:
    """_is_viable_phone_number."""
    return len(number) >= _MIN_NSN and _VALID_PHONE_NUMBER_PATTERN.fullmatch(number) is not None


def _country_code(digits: str) -> tuple[int, str]:
    """_extract_country_code: the calling code that starts `digits` and the rest, or (0, ...)."""
    if not digits or digits[0] == "0":
        return 0, digits
    for i in range(1, min(len(digits), _MAX_CC_DIGITS) + 1):
        cc = _CODES_BY_DIGITS.get(digits[:i])
        if cc is not None:
            return cc, digits[i:]
    return 0, digits


class FastValid:
    """`phone._valid(candidate, region)` for one region, from phonenumbers' metadata."""

    def __init__(self, region: str) -> None:
        if region not in SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {region!r}")
        self.region = region
        meta = _meta(0, region)
        assert meta is not None, region
        self.meta = meta
        self.own = _code(meta.cc)

    def __call__(self, candidate: str) -> Verdict:
        if len(candidate) > _MAX_INPUT:
            return UNKNOWN
        digits = _plain_digits(candidate)
        if digits is not None:
            raw = digits
        else:
            # An extension the way phone.EXTENSION finds them ("... x683", "... ext. 12") after
            # a plain number: parse strips exactly these digits (no earlier place can start an
            # extension, the number ending in a digit), and the only "x" leads to them.
            ext = _SIMPLE_EXTENSION.fullmatch(candidate)
            if ext is None:
                return self._general(candidate)
            digits = _plain_digits(ext.group(1))
            if digits is None:
                return self._general(candidate)
            raw = digits.lstrip("+") + ext.group(2)
        if digits[:1] == "+":
            digits = digits[1:]
            if len(digits) < 3:
                return UNKNOWN  # _is_viable_phone_number's two-digit case; no caller's
            return self._international(digits)
        if len(digits) < 3:
            return UNKNOWN
        return self._national(digits, raw)

    def _general(self, candidate: str) -> Verdict:
        """Any other candidate of the alphabet: an extension ("(541) 697-1743 x683"), a thin
        space, a stray "+", read as parse reads them, with phonenumbers' own patterns.
        Vanity numbers and carrier codes go to phonenumbers."""
        if len(candidate) > _MAX_INPUT or not _ALPHABET.fullmatch(candidate):
            return UNKNOWN
        # _extract_possible_number
        start = _VALID_START_CHAR_PATTERN.search(candidate)
        if start is None:
            return None
        body = candidate[start.start() :]
        end = _UNWANTED_END_CHAR_PATTERN.search(body)
        if end is not None:
            body = body[: end.start()]
        second = _SECOND_NUMBER_START_PATTERN.search(body)
        if second is not None:
            body = body[: second.start()]
        if not _viable(body):
            return None
        # _maybe_strip_extension
        extension: str | None = None
        number = body
        ext = _EXTN_PATTERN.search(body)
        if ext is not None and _viable(body[: ext.start()]):
            extension = next((g for g in ext.groups() if g is not None), None)
            if extension is not None:
                number = body[: ext.start()]
        # _normalize: three letters make a vanity number ("1-800-FLOWERS"); fewer are dropped.
        if _LETTERS3.match(number) or number.count("+") > 1:
            return UNKNOWN
        digits = _NON_DIGITS.sub("", number)
        plus = number[:1] == "+"
        if len(digits) < 3:
            return UNKNOWN
        # _contains_only_valid_x_chars: each "x" (but a last one) leads to the extension digits.
        lower = candidate.lower()
        i = lower.find("x")
        while 0 <= i < len(candidate) - 1:
            if lower[i + 1] == "x":
                return UNKNOWN  # a carrier code ("xx"): is_number_match territory
            if _NON_DIGITS.sub("", candidate[i:]) != extension:
                return None
            i = lower.find("x", i + 1)
        if plus:
            return self._international(digits)
        return self._national(digits, _NON_DIGITS.sub("", candidate))

    def _international(self, digits: str) -> Verdict:
        """A number after "+": FROM_NUMBER_WITH_PLUS_SIGN."""
        if len(digits) <= _MIN_NSN:
            return None  # TOO_SHORT_AFTER_IDD
        cc, rest = _country_code(digits)
        if cc == 0:
            # INVALID_COUNTRY_CODE: parse tries again without the "+", as an IDD or the
            # region's own code, and gives up if neither is there.
            return self._national(digits, digits, retry=True)
        return self._finish(_code(cc), rest)

    def _national(self, digits: str, raw: str, retry: bool = False) -> Verdict:
        """_maybe_extract_country_code without a "+", then the rest of parse. `raw`: all the
        digits of the candidate (an extension's too). `retry`: the digits followed a "+" with
        no known country code; parse gives up unless they start with an IDD or the region's
        own code."""
        meta = self.meta
        idd = meta.idd
        if idd is not None:
            m = idd.match(digits)
            if m is not None and digits[m.end() : m.end() + 1] != "0":
                rest = digits[m.end() :]
                if len(rest) <= _MIN_NSN:
                    return None  # TOO_SHORT_AFTER_IDD
                cc, national = _country_code(rest)
                if cc == 0:
                    return None  # INVALID_COUNTRY_CODE, and no "+" to retry without
                return self._finish(_code(cc), national)
        if digits.startswith(meta.ccs):
            potential, _ = meta.strip_prefix(digits[len(meta.ccs) :])
            if (
                not meta.general_match(digits) and meta.general_match(potential)
            ) or meta.length_verdicts[len(digits)] == _TOO_LONG:
                # FROM_NUMBER_WITHOUT_PLUS_SIGN: "44 20 7946 0958" in GB.
                return self._finish(self.own, potential)
        if retry:
            return None  # "Could not interpret numbers after plus-sign."
        return self._finish_national(digits, raw)

    def _finish(self, code: _Code, number: str) -> Verdict:
        """The rest of parse for a number with its country code (after "+", an IDD or the
        region's own code): the code's main metadata, no national prefix rule to check."""
        if not code.supported:
            return UNKNOWN
        if len(number) < _MIN_NSN:
            return None  # TOO_SHORT_NSN
        kept = _national_number(code.main, number)
        return UNKNOWN if kept is None else _e164(code, kept[0])

    def _finish_national(self, digits: str, raw: str) -> Verdict:
        """The rest of parse for a number written nationally (FROM_DEFAULT_COUNTRY): the
        region's own metadata, then the matcher's national prefix rule on the same digits."""
        code = self.own
        meta = self.meta
        if not code.supported:
            return UNKNOWN
        kept = _national_number(meta, digits)
        if kept is None:
            return UNKNOWN
        number, had_prefix = kept
        got = _e164(code, number)
        if got is None or got is UNKNOWN:
            return got
        formatting = code.formatting
        if formatting is not None and formatting.formats is not None:
            if formatting is not meta or raw != digits:
                had_prefix = formatting.strip_prefix(raw)[1]
            if not had_prefix and formatting.prefix_required(number):
                return None  # "20 7946 0958" in GB: VALID wants the "0" where formats show it
        return got


def _national_number(meta: _Meta, number: str) -> tuple[str, bool] | None:
    """parse's national prefix step: the number it keeps (stripped where the stripped length
    passes _test_number_length), and whether a prefix was there; None past _MAX_INPUT."""
    stripped, had_prefix = meta.strip_prefix(number)
    if len(stripped) > _MAX_INPUT:
        return None
    kept = stripped if meta.length_verdicts[len(stripped)] in _KEEPS_STRIP else number
    return kept, had_prefix


def _e164(code: _Code, number: str) -> Verdict:
    """The end of parse and is_valid_number for the national number `number` of `code`."""
    if len(number) < _MIN_NSN or len(number) > _MAX_NSN:
        return None  # TOO_SHORT_NSN, TOO_LONG
    if not number.strip("0"):
        return UNKNOWN  # national_number 0: format_number falls back to the raw input
    if not code.is_valid(number):
        return None
    return f"+{code.main.ccs}{number}"


_FAST: dict[str, FastValid] = {}


def valid(candidate: str, region: str) -> Verdict:
    """What `phone._valid(candidate, region)` returns (E.164 or None), or UNKNOWN."""
    fast = _FAST.get(region)
    if fast is None:
        if region not in SUPPORTED_REGIONS:
            return UNKNOWN
        fast = _FAST[region] = FastValid(region)
    return fast(candidate)
