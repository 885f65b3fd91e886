"""The detector: one cheap pass for candidates, recognizers on candidates only, then overlaps
resolved, the threshold and the allowlist applied.

Work is linear in the text: each regex used on the whole text starts with a literal or a
character class and has bounded repetition; every candidate costs a bounded amount of work; and
the scan never goes back before a position it has passed.

Module constants across the package are typed `Final`: compiled (see native.py), they are read
as C statics instead of being looked up by name in the module's dict on every use.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from functools import lru_cache
from typing import Final

from llmops.pii import balance, bank, cards, crypto, echo, network, phone, secrets, ssn
from llmops.pii.allow import Allowlist
from llmops.pii.candidates import (
    DATE,
    MAX_DIGITS,
    MORE_DIGITS,
    SEPS,
    STRETCH,
    Run,
    alnum_left,
    alnum_right,
    next_run,
)
from llmops.pii.email import find_emails
from llmops.pii.finding import Finding
from llmops.pii.hit import Hit
from llmops.pii.normalize import normalize
from llmops.pii.types import (
    ACCOUNT_BALANCE,
    ALL_TYPES,
    CARD_CVV,
    CARD_PIN,
    CREDIT_CARD,
    CRYPTO,
    EMAIL_ADDRESS,
    FINANCIAL_TYPES,
    IBAN_CODE,
    IP_ADDRESS,
    PHONE_NUMBER,
    PII_TYPES,
    SECRET,
    SWIFT_CODE,
    US_BANK_NUMBER,
    US_BANK_ROUTING,
    US_SSN,
)

# Characters right before an amount's digits ("$5", "EUR 5", "Rs. 5").
_MONEY_LEAD: Final = frozenset(balance.SYMBOLS + " \u00a0")
# Types whose cue words are looked for in the lower-cased text.
_LOWER_CUED: Final = frozenset((SWIFT_CODE, CARD_CVV, CARD_PIN))
# A run claimed this surely by another recognizer is no phone number.
_SURE: Final = 0.8
# Texts up to this size are remembered, so that `pii()` and `financial()` on one answer scan once.
_CACHE_CHARS: Final = 100_000


class Detector:
    """Finds PII and financial details in text. Thread-safe; cheap to call repeatedly."""

    def __init__(
        self,
        *,
        allow: Iterable[str] = (),
        regions: Iterable[str] | None = None,
        threshold: float = 0.5,
        entities: Iterable[str] | None = None,
    ) -> None:
        if isinstance(regions, str):
            regions = (regions,)
        if isinstance(allow, str):
            allow = (allow,)
        self.regions = tuple(regions) if regions is not None else phone.DEFAULT_REGIONS
        self.threshold = float(threshold)
        wanted = frozenset(entities) if entities is not None else ALL_TYPES
        unknown = wanted - ALL_TYPES
        if unknown:
            raise ValueError(f"unknown entity types: {', '.join(sorted(unknown))}")
        self.entities = wanted
        self._cue_words = not wanted.isdisjoint(_LOWER_CUED)
        self._phones = phone.PhoneFinder(self.regions)
        self.allowlist = Allowlist(allow, self._phones.regions)
        self._cached = lru_cache(maxsize=256)(self._normal_hits)

    # --- public --------------------------------------------------------------------------------

    def scan(
        self,
        text: str,
        *,
        entities: Collection[str] | None = None,
        allow_types: Collection[str] = (),
        context: Iterable[str] = (),
    ) -> list[Finding]:
        """Findings sorted by start, never overlapping, each at or above the threshold.
        `context`: the other messages of the conversation; any value found in them is a finding
        wherever it comes back in `text`, with or without a cue (an echoed identifier)."""
        if not isinstance(text, str):
            raise TypeError(f"scan() wants a str, not {type(text).__name__}")
        if not text:
            return []
        hits = self._hits(text)
        if context:
            hits = _merge(hits, self._echoes(text, context))
        skip = set(allow_types)
        return [
            Finding(h.type, h.start, h.end, round(h.score, 2))
            for h in hits
            if h.type not in skip and (entities is None or h.type in entities)
        ]

    def pii(
        self, text: str, *, allow_types: Collection[str] = (), context: Iterable[str] = ()
    ) -> list[Finding]:
        """Identifiers of a person, their accounts or credentials (the `no_pii` check)."""
        return self.scan(text, entities=PII_TYPES, allow_types=allow_types, context=context)

    def financial(
        self, text: str, *, allow_types: Collection[str] = (), context: Iterable[str] = ()
    ) -> list[Finding]:
        """Payment instruments, their codes and account balances (`no_financial_details`)."""
        return self.scan(text, entities=FINANCIAL_TYPES, allow_types=allow_types, context=context)

    def redact(self, text: str, context: Iterable[str] = ()) -> str:
        """Every finding replaced by "<ENTITY_TYPE>"; other occurrences of a detected value too,
        so that no detected value survives anywhere in the text. With `context` (the other
        messages of the conversation), the values found there are redacted here too."""
        findings = self.scan(text, context=context)
        if not findings:
            return text
        spans = [(f.start, f.end, f.type) for f in findings]
        values = {text[f.start : f.end]: f.type for f in findings}
        if len(values) <= 256:  # bounded: a value found once is looked for everywhere
            for value, kind in values.items():
                at = text.find(value)
                while at >= 0:
                    spans.append((at, at + len(value), kind))
                    at = text.find(value, at + 1)
        spans.sort(key=lambda s: (s[0], -s[1]))
        out: list[str] = []
        pos = 0
        for start, end, kind in spans:
            if end <= pos:
                continue
            if start < pos:  # overlaps the last replacement: extend it
                pos = end
                continue
            out.append(text[pos:start])
            out.append(f"<{kind}>")
            pos = end
        out.append(text[pos:])
        return "".join(out)

    # --- normalised text and echoed values ---------------------------------------------------

    def _hits(self, text: str) -> tuple[Hit, ...]:
        """The pass over the normalised text, its findings mapped back to `text`'s offsets."""
        if len(text) <= _CACHE_CHARS:
            return self._cached(text)
        return self._normal_hits(text)

    def _normal_hits(self, text: str) -> tuple[Hit, ...]:
        norm = normalize(text)
        if norm is None:
            return self._detect(text)
        out: list[Hit] = []
        for h in self._detect(norm.text):
            a, b = norm.span(h.start, h.end)
            out.append(Hit(h.type, a, b, h.score, h.norm))
        return tuple(out)

    def _echoes(self, text: str, context: Iterable[str]) -> list[Hit]:
        """Where a value found in the conversation's other messages comes back in `text`."""
        values: dict[str, str] = {}
        for source in context:
            if not isinstance(source, str) or not source or source == text:
                continue
            for h in self._hits(source):
                key = echo.key(source[h.start : h.end])
                if key and key not in values:
                    values[key] = h.type
            if len(values) >= echo.MAX_VALUES:
                break
        if not values:
            return []
        norm = normalize(text)
        seen = norm.text if norm is not None else text
        hits: list[Hit] = []
        for key, kind in values.items():
            if kind not in self.entities:
                continue
            for a, b in echo.find(seen, key):
                if norm is not None:
                    a, b = norm.span(a, b)
                hits.append(Hit(kind, a, b, echo.SCORE))
        return hits

    # --- the pass ----------------------------------------------------------------------------

    def _detect(self, text: str) -> tuple[Hit, ...]:
        want = self.entities
        hits: list[Hit] = []
        if SECRET in want:
            hits += secrets.find_secrets(text)
        if EMAIL_ADDRESS in want and "@" in text:
            hits += find_emails(text)
        # For cue words: SWIFT/BIC here, CVV/PIN in _numbers.
        lower = text.lower() if self._cue_words else ""
        if SWIFT_CODE in want and len(lower) == len(text) and (
            "swift" in lower or "bic" in lower or "bank id" in lower
        ):
            hits += bank.find_swift(text, lower)
        blocked = sorted([(h.start, h.end) for h in hits]) if hits else []
        hits += self._numbers(text, blocked, lower)
        return self._resolve(text, hits)

    def _numbers(self, text: str, blocked: list[tuple[int, int]], lower: str) -> list[Hit]:
        """Everything that starts from a run of digits."""
        want = self.entities
        thr = self.threshold
        n = len(text)
        hits: list[Hit] = []
        bi = 0
        pos = 0
        # Short codes (CVV, PIN) need a cue word: without one anywhere, skip them all. Asked
        # the first time a short run shows up.
        codes: bool | None = None if (CARD_CVV in want or CARD_PIN in want) else False
        while True:
            s, e = next_run(text, pos)
            if s < 0:
                break
            pos = stop = e  # e may be cut back below; stop stays the run's end
            # Inside something already found (an email, a key): skip past it.
            while bi < len(blocked) and blocked[bi][1] <= s:
                bi += 1
            if bi < len(blocked) and blocked[bi][0] <= s:
                pos = blocked[bi][1]
                continue
            # Past the cap: a long stretch of digits and separators is no identifier.
            # (Only a run at the cap can go on: others ended where MORE_DIGITS fails.)
            if e - s >= MAX_DIGITS and e < n and MORE_DIGITS.match(text, e):
                stretch = STRETCH.match(text, e)
                pos = stretch.end() if stretch else e
                if CREDIT_CARD in want:  # a card written in groups is still one in there
                    hits += cards.find_in_stretch(text, s, pos)
                continue
            prev = text[s - 1] if s else " "
            nxt = text[e] if e < n else " "
            if prev in " ." and s >= 3 and IBAN_CODE in want and _country_before(text, s - 1):
                # "NO 93 8601 1117 947", "ME.25...": the country code stands apart.
                iban = bank.find_iban(text, s - 3)
                if iban is not None:
                    hits.append(iban)
                    pos = iban.end
                    continue
            if prev.isalpha() or nxt.isalpha() or prev in ":_" or nxt == ":":
                done = self._token(text, s, e, hits)
                if done is not None:
                    pos = done
                    continue
                if prev.isalpha() or prev == "_":
                    # Digits inside a word ("A320", "x86_64", a hash): skip the whole word.
                    pos = max(e, alnum_right(text, e))
                    continue
                if _identifier_tail(text, e):
                    # The last group starts a token ("... 0x2EDa..."): keep the digits before
                    # it, and come back to the token on its own.
                    cut = max(text.rfind(" ", s, e), text.rfind("\u00a0", s, e))
                    if cut <= s:
                        pos = max(e, alnum_right(text, e))
                        continue
                    pos = cut + 1
                    e = len(text[:cut].rstrip(SEPS))
                    if e <= s:
                        continue
            if e - s <= 2 and prev not in _MONEY_LEAD and not balance.money_after(text, e):
                continue  # one or two digits: a day, a count; nothing to find here
            amount = balance.find_amount(text, s, stop)
            if amount is not None:
                a, b = amount
                if ACCOUNT_BALANCE in want:
                    score = balance.score_amount(text, a, b)
                    if score >= thr:
                        hits.append(Hit(ACCOUNT_BALANCE, a, b, score))
                pos = b  # a price is no phone or account number; rescan what follows it
                continue
            if e - s < 7 and text[s:e].isdigit():
                # Up to 6 digits in one group: only a CVV or PIN could be here.
                if codes is None and e - s >= 3:
                    codes = cards.has_code_cue(lower)
                if codes and e - s >= 3:
                    hits += cards.find_codes(text, Run.of(text, s, e))
                continue
            run = Run.of(text, s, e)
            if codes is None and run.ndigits <= 6:
                codes = cards.has_code_cue(lower)
            hits += self._run(text, run, bool(codes))
        return hits

    def _token(self, text: str, s: int, e: int, hits: list[Hit]) -> int | None:
        """Digits inside an alphanumeric token: an IBAN, a wallet address, an IPv6 address."""
        want = self.entities
        if IP_ADDRESS in want and (text[e : e + 1] == ":" or text[s - 1 : s] == ":"):
            v6 = network.find_ipv6(text, s, e)
            if v6 is not None:
                if v6.score >= self.threshold:
                    hits.append(v6)
                return v6.end
        a = alnum_left(text, s)
        if IBAN_CODE in want and s - a == 2 and (text[a:s].isupper() or text[a:s].islower()):
            iban = bank.find_iban(text, a)
            if iban is not None:
                hits.append(iban)
                return iban.end
        b = alnum_right(text, e) if CRYPTO in want else e
        if b - a >= 26:
            wallet = crypto.find_wallet(text, a, b)
            if wallet is not None:
                if wallet.score >= self.threshold:
                    hits.append(wallet)
                return b
        return None

    def _run(self, text: str, run: Run, codes: bool) -> list[Hit]:
        want = self.entities
        nd = run.ndigits
        body = text[run.start : run.end]
        if len(run.groups) > 1 and DATE.fullmatch(body):
            return []
        hits: list[Hit] = []
        if IP_ADDRESS in want and "." in run.seps:
            hits += network.find_ipv4(text, run)
        if CREDIT_CARD in want and nd >= cards.MIN_DIGITS:
            hits += cards.find_cards(text, run)
        if nd >= 9:
            if US_SSN in want:
                hits += ssn.find_ssn(text, run)
            if US_BANK_ROUTING in want:
                hits += bank.find_routing(text, run)
        if US_BANK_NUMBER in want and 8 <= nd <= 17:
            hits += bank.find_account(text, run)
        if codes and 3 <= nd <= 6:
            hits += cards.find_codes(text, run)
        if PHONE_NUMBER in want and nd >= phone.MIN_DIGITS:
            # Phone numbers in what no sure finding holds: a run can hold several values
            # ("415-555-2671-4111-1111-1111-1111" is a phone number and a card).
            sure = [h for h in hits if h.score >= _SURE]
            if not sure:
                hits += self._phones.find(text, run, self.threshold)
            else:
                groups = run.groups
                i = 0
                while i < len(groups):
                    a, b = groups[i]
                    if any(h.start < b and a < h.end for h in sure):
                        i += 1
                        continue
                    j = i
                    while j + 1 < len(groups) and not any(
                        h.start < groups[j + 1][1] and groups[j + 1][0] < h.end for h in sure
                    ):
                        j += 1
                    part = run.part(i, j)
                    if part.ndigits >= phone.MIN_DIGITS:
                        hits += self._phones.find(text, part, self.threshold)
                    i = j + 1
        return hits

    def _resolve(self, text: str, hits: list[Hit]) -> tuple[Hit, ...]:
        """Drop what is under the threshold or allowed; of overlapping hits keep the likeliest
        (then the longest)."""
        if not hits:
            return ()
        thr = self.threshold
        live = [h for h in hits if h.score >= thr and h.type in self.entities]
        if self.allowlist and live:
            live = [h for h in live if not self.allowlist.allows(text, h)]
        if len(live) <= 1:
            return tuple(live)
        live.sort(key=lambda h: (h.start, -h.end))
        out: list[Hit] = []
        cluster: list[Hit] = []
        reach = -1
        for h in live:  # clusters of overlapping hits; resolve each on its own
            if cluster and h.start >= reach:
                out += _best(cluster)
                cluster = []
            cluster.append(h)
            reach = max(reach, h.end)
        if cluster:
            out += _best(cluster)
        out.sort(key=lambda h: h.start)
        return tuple(out)


def clear_caches() -> None:
    """Forget what was memoised across texts (phone numbers checked, context cues): for
    benchmarks that must not be flattered by repeated values."""
    from llmops.pii import context

    phone.clear_cache()
    context.forget()


def _identifier_tail(text: str, end: int) -> bool:
    """Do letters and digits go on after the run ("0400045014878d12b8...")? A unit ("12kg"),
    an ordinal ("2nd") or a phone extension ("x123") does not make an identifier."""
    tail = text[end : alnum_right(text, end)]
    return len(tail) > 3 and not _EXTENSION.fullmatch(tail)


def _country_before(text: str, sep: int) -> bool:
    """Two ASCII letters of one case right before `sep`, and no letter or digit before them."""
    cc = text[sep - 2 : sep]
    if not (cc.isascii() and cc.isalpha() and (cc.isupper() or cc.islower())):
        return False
    return sep == 2 or not text[sep - 3].isalnum()


_EXTENSION: Final = re.compile(r"(?:x|ext)[0-9]{1,6}", re.IGNORECASE)


def _merge(own: tuple[Hit, ...], echoed: list[Hit]) -> tuple[Hit, ...]:
    """The text's own findings, and the echoes that overlap none of them (nor each other)."""
    if not echoed:
        return own
    out = list(own)
    for h in sorted(echoed, key=lambda h: (h.start, -h.end)):
        if all(h.end <= k.start or k.end <= h.start for k in out):
            out.append(h)
    out.sort(key=lambda h: h.start)
    return tuple(out)


def _best(cluster: list[Hit]) -> list[Hit]:
    if len(cluster) == 1:
        return cluster
    kept: list[Hit] = []
    for h in sorted(cluster, key=lambda h: (-h.score, -(h.end - h.start), h.start)):
        if all(h.end <= k.start or k.end <= h.start for k in kept):
            kept.append(h)
    return kept
