"""Generate the labeled PII corpus: chatbot-like answers with PII, financial details and hard
negatives, in several locales, reproducibly (fixed seed).

    .venv/bin/python benchmarks/make_pii_corpus.py            # rewrites tests/data/pii/corpus.jsonl
    .venv/bin/python benchmarks/make_pii_corpus.py -n 20000 -o /tmp/big.jsonl

One JSON object a line: {"text": ..., "spans": [{"type", "start", "end"}, ...]}. Labels come
from construction: a span is labeled where the generator put a value of that type. Phone numbers
are kept only when `phonenumbers` says they are valid where they were made; every other value is
valid by construction (Faker's checksummed cards, IBANs, SSNs, ABA numbers; addresses and keys
built here with their real checksums). Hard negatives (order numbers, dates, versions, ISBNs,
tracking numbers, prices, quantities, near-miss numbers with a wrong checksum) are unlabeled.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import random
import re
import string
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import phonenumbers
from faker import Faker
from phonenumbers import Leniency, PhoneNumberMatcher

from llmops.fileio import write_atomic

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "pii" / "corpus.jsonl"
SEED = 20240603

# Faker locale -> phone region.
LOCALES = {
    "en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES",
    "it_IT": "IT", "nl_NL": "NL", "en_IN": "IN", "en_CA": "CA", "en_AU": "AU",
}  # fmt: skip
IBAN_LOCALES = (
    "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "de_AT", "de_CH", "nl_BE", "pl_PL",
    "pt_PT", "da_DK", "fi_FI", "no_NO", "cs_CZ", "en_IE",
)  # fmt: skip
# Phone numbers of regions outside the detector's default list (held-out values only).
FOREIGN_LOCALES = ("sv_SE", "pl_PL", "pt_BR", "da_DK", "fi_FI", "cs_CZ", "ja_JP", "nl_BE")
CARD_TYPES = (
    "amex", "diners", "discover", "jcb15", "jcb16", "mastercard", "visa13", "visa16", "visa19",
)  # fmt: skip


class Text:
    """Builds one text and the offsets of what it labels."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.spans: list[dict[str, object]] = []

    def add(self, s: str) -> None:
        self.parts.append(s)
        self.size += len(s)

    def label(self, kind: str, value: str) -> None:
        self.spans.append({"type": kind, "start": self.size, "end": self.size + len(value)})
        self.add(value)

    def fill(self, template: str, values: dict[str, tuple[str | None, str]]) -> None:
        """`template` with {NAME} slots; values[NAME] = (type or None, text)."""
        rest = template
        while "{" in rest:
            head, _, tail = rest.partition("{")
            name, _, rest = tail.partition("}")
            self.add(head)
            kind, value = values[name]
            if kind is None:
                self.add(value)
            else:
                self.label(kind, value)
        self.add(rest)

    def record(self) -> dict[str, object]:
        return {"text": "".join(self.parts), "spans": self.spans}


# --- values --------------------------------------------------------------------------------


class Values:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fakers: dict[str, Faker] = {}
        for i, loc in enumerate((*LOCALES, *IBAN_LOCALES)):
            if loc not in self.fakers:
                f = Faker(loc)
                f.seed_instance(seed + i)
                self.fakers[loc] = f
        self.us = self.fakers["en_US"]

    def faker(self) -> tuple[str, Faker]:
        loc = self.rng.choice(list(LOCALES))
        return loc, self.fakers[loc]

    def phone(self) -> str:
        for _ in range(50):
            loc, f = self.faker()
            value = f.phone_number().strip()
            matches = list(PhoneNumberMatcher(value, LOCALES[loc], leniency=Leniency.VALID))
            if len(matches) == 1 and matches[0].raw_string == value:
                return value
        raise RuntimeError("no valid phone number generated")

    def email(self) -> str:
        _, f = self.faker()
        value = self.rng.choice((f.email, f.company_email, f.free_email, f.ascii_email))()
        return value.upper() if self.rng.random() < 0.03 else value

    def card(self) -> str:
        kind = self.rng.choice(CARD_TYPES)
        d = self.us.credit_card_number(kind)
        style = self.rng.random()
        if style < 0.3:
            return d
        sep = " " if style < 0.75 else "-"
        if (len(d) == 15 and kind == "amex") or len(d) == 14:
            groups = [d[:4], d[4:10], d[10:]]
        else:
            groups = [d[i : i + 4] for i in range(0, len(d), 4)]
        return sep.join(groups)

    def iban(self) -> str:
        value = self.fakers[self.rng.choice(IBAN_LOCALES)].iban()
        if self.rng.random() < 0.5:
            value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def ssn(self, style: str | None = None) -> str:
        d = self.us.ssn().replace("-", "")
        style = style or self.rng.choice(("-", "-", "-", " "))
        return d if style == "" else style.join((d[:3], d[3:5], d[5:]))

    def ip(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.us.ipv4_public()
        if r < 0.7:
            return self.us.ipv4_private()
        v6 = self.us.ipv6()
        if self.rng.random() < 0.5:  # compressed form, as people write it
            import ipaddress

            v6 = str(ipaddress.IPv6Address(v6))
        return v6

    def routing(self) -> str:
        return self.us.aba()

    def account(self) -> str:
        n = self.rng.randint(8, 17)
        return str(self.rng.randint(1, 9)) + "".join(self.rng.choices(string.digits, k=n - 1))

    def swift(self) -> str:
        return self.fakers[self.rng.choice(IBAN_LOCALES)].swift(length=self.rng.choice((8, 11)))

    def cvv(self) -> str:
        return "".join(self.rng.choices(string.digits, k=self.rng.choice((3, 3, 3, 4))))

    def pin(self) -> str:
        return "".join(self.rng.choices(string.digits, k=self.rng.choice((4, 4, 4, 5, 6))))

    def crypto(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return _base58check(bytes([0]) + self.rng.randbytes(20))
        if r < 0.45:
            return _base58check(bytes([5]) + self.rng.randbytes(20))
        if r < 0.6:
            return _segwit("bc", 0, self.rng.randbytes(20))
        if r < 0.7:
            return _segwit("bc", 1, self.rng.randbytes(32))
        return _eth(self.rng.randbytes(20))

    def secret(self) -> str:
        rng = self.rng
        alnum = string.ascii_letters + string.digits

        def rand(k: int, chars: str = alnum) -> str:
            return "".join(rng.choices(chars, k=k))

        kind = rng.randrange(11)
        if kind == 0:
            return "sk-proj-" + rand(48) + rand(8, "_-") + rand(20)
        if kind == 1:
            return "sk-" + rand(48)
        if kind == 2:
            return "AKIA" + rand(16, string.ascii_uppercase + "234567")
        if kind == 3:
            return "ghp_" + rand(36)
        if kind == 4:
            return "github_pat_" + rand(22) + "_" + rand(59)
        if kind == 5:
            return f"xoxb-{rand(12, string.digits)}-{rand(13, string.digits)}-{rand(24)}"
        if kind == 6:
            return rng.choice(("sk_live_", "sk_test_", "rk_live_")) + rand(24)
        if kind == 7:
            return "AIza" + rand(35, alnum + "_-")
        if kind == 8:
            return _jwt(rng)
        if kind == 9:
            return "glpat-" + rand(20, alnum + "_-")
        body = "\n".join(rand(64, alnum + "+/") for _ in range(3))
        return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"

    def held_out_value(self, kind: str) -> str:
        """A value in the benchmark's held-out styles where there are some: phone numbers of
        regions outside the default list written with "+", extensions, Maestro cards, IBANs in
        lower case or with a space after the country code."""
        rng = self.rng
        r = rng.random()
        if kind == "PHONE_NUMBER":
            if r < 0.3:
                return self.foreign_phone()
            if r < 0.45:
                ext = rng.choice((" x", " ext. ", " ext ")) + str(rng.randint(1, 9999))
                return self.phone() + ext
        if kind == "CREDIT_CARD" and r < 0.15:
            return self.us.credit_card_number("maestro")
        if kind == "IBAN_CODE":
            value = self.fakers[rng.choice(IBAN_LOCALES)].iban()
            if r < 0.25:
                return value.lower()
            if r < 0.5:
                body = value[4:]
                groups = " ".join(body[i : i + 4] for i in range(0, len(body), 4))
                return f"{value[:2]} {value[2:4]} {groups}"
            return self.iban()
        return VALUE_OF[kind](self)

    def foreign_phone(self) -> str:
        """A valid number of a region outside the detector's default list, written "+CC ..."."""
        for _ in range(50):
            loc = self.rng.choice(FOREIGN_LOCALES)
            f = self.fakers.setdefault(loc, Faker(loc))
            try:
                num = phonenumbers.parse(f.phone_number(), loc.split("_")[1])
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(num):
                return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        raise RuntimeError("no valid foreign phone number generated")

    def amount(self) -> str:
        rng = self.rng
        value = rng.choice((rng.uniform(0, 999), rng.uniform(1000, 99999), rng.uniform(10, 5000)))
        whole, cents = int(value), round((value - int(value)) * 100) % 100
        style = rng.randrange(7)
        if style == 0:
            return f"${whole:,}.{cents:02d}"
        if style == 1:
            return f"€{whole:,}".replace(",", ".") + f",{cents:02d}"
        if style == 2:
            return f"{whole:,}".replace(",", " ") + " EUR"
        if style == 3:
            return f"£{whole:,}.{cents:02d}"
        if style == 4:
            return f"{whole:,}.{cents:02d} USD"
        if style == 5:
            return f"${whole:,}"
        return f"₹{whole:,}"


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _base58check(payload: bytes) -> str:
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


# bech32 written here again on purpose, not taken from llmops.pii.checksums: labels come from
# construction, so an error in the detector's checksum must not make the corpus agree with it.
_BECH = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _segwit(hrp: str, version: int, program: bytes) -> str:
    acc, bits, data = 0, 0, [version]
    for b in program:  # 8-bit bytes to 5-bit groups
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    const = 1 if version == 0 else 0x2BC830A3
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    mod = _polymod([*expanded, *data, 0, 0, 0, 0, 0, 0]) ^ const
    data += [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH[d] for d in data)


def _eth(raw: bytes) -> str:
    from Crypto.Hash import keccak

    lower = raw.hex()
    digest = keccak.new(digest_bits=256, data=lower.encode()).hexdigest()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(h, 16) >= 8 else c
        for c, h in zip(lower, digest, strict=False)
    )


def _jwt(rng: random.Random) -> str:
    def b64(obj: dict[str, object]) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64({"alg": "HS256", "typ": "JWT"})
    body = b64(
        {"sub": str(rng.randint(10**6, 10**9)), "iat": rng.randint(1_600_000_000, 1_800_000_000)}
    )
    sig = hmac.new(rng.randbytes(16), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


# --- templates: {X} is the labeled value, {N}/{D}... unlabeled helpers -----------------------

TEMPLATES: dict[str, tuple[str, ...]] = {
    "EMAIL_ADDRESS": (
        "You can reach me at {X}.",
        "My email is {X}, please update it.",
        "Contact: {X}",
        "I've sent the statement to {X} as requested.",
        "Please write to {X} if anything changes.",
        "The account is registered under {X}.",
        "{X} is the address we have on file.",
        "Send it to <{X}> or reply here.",
    ),
    "PHONE_NUMBER": (
        "Call me at {X} after 5pm.",
        "My phone number is {X}.",
        "You can reach our branch on {X}.",
        "Phone: {X}",
        "Tel. {X}",
        "Mobile {X}, evenings only.",
        "Please call {X} to confirm.",
        "The number on your profile is {X}.",
        "Text me on {X} when it arrives.",
        "I tried {X} twice but nobody answered.",
        "{X} is my new mobile.",
        "Reach the claims team at {X}.",
    ),
    "CREDIT_CARD": (
        "My card number is {X}.",
        "Please charge {X} for the renewal.",
        "Card: {X}",
        "The Visa ending in the last digits is {X}.",
        "I paid with {X} yesterday.",
        "Use the credit card {X}, expiry 09/27.",
        "{X} was declined at checkout.",
        "Debit card {X} has been blocked.",
    ),
    "IBAN_CODE": (
        "My IBAN is {X}.",
        "Please transfer the refund to {X}.",
        "IBAN: {X}",
        "Send the money to account {X} by Friday.",
        "The payment came from {X}.",
        "{X} is the beneficiary account.",
    ),
    "US_SSN": (
        "My SSN is {X}.",
        "Social Security Number: {X}",
        "The applicant's social security number is {X}.",
        "SSN {X} was used on the form.",
        "For verification: {X} (SSN).",
        "Her SSN: {X}",
    ),
    "IP_ADDRESS": (
        "The login came from {X}.",
        "Your IP address is {X}.",
        "We blocked {X} after five failed attempts.",
        "Server {X} is not responding.",
        "Connection from {X} at 10:42.",
        "{X} requested the reset link.",
    ),
    "US_BANK_ROUTING": (
        "The routing number is {X}.",
        "ABA routing number: {X}",
        "Use routing {X} for direct deposit.",
        "Routing no. {X}, checking account.",
        "Our ABA is {X}.",
    ),
    "US_BANK_NUMBER": (
        "My account number is {X}.",
        "Account #: {X}",
        "Deposit it into checking account {X}.",
        "Acct no. {X} at the main branch.",
        "The savings account {X} is now closed.",
        "Bank account number {X} needs updating.",
    ),
    "SWIFT_CODE": (
        "The SWIFT code is {X}.",
        "SWIFT/BIC: {X}",
        "Use BIC {X} for international transfers.",
        "Our bank's SWIFT is {X}.",
        "BIC code {X}, intermediary bank not needed.",
    ),
    "CARD_CVV": (
        "The CVV is {X}.",
        "CVV: {X}",
        "Security code {X}.",
        "CVC {X}, expires 11/26.",
        "The 3-digit code on the back is {X}.",
    ),
    "CARD_PIN": (
        "My PIN is {X}.",
        "PIN: {X}",
        "I changed my PIN to {X} yesterday.",
        "The new card PIN is {X}.",
        "Your PIN code {X} is now active.",
    ),
    "CRYPTO": (
        "Send the bitcoin to {X}.",
        "My wallet address is {X}.",
        "Deposit address: {X}",
        "Please refund to {X}.",
        "ETH wallet {X}",
        "{X} is my cold wallet.",
    ),
    "SECRET": (
        "Here is my API key: {X}",
        "Use the token {X} to authenticate.",
        "export API_KEY={X}",
        "The key {X} was leaked in the logs.",
        "Authorization: Bearer {X}",
        "{X}",
    ),
    "ACCOUNT_BALANCE": (
        "Your balance is {X}.",
        "Your current balance is {X} as of today.",
        "Available credit: {X}",
        "You have {X} available to spend.",
        "Your account balance stands at {X}.",
        "The outstanding balance on your card is {X}.",
        "You owe {X} on this statement.",
        "Your savings account has {X} in it.",
        "Available balance: {X}",
        "Your remaining balance after the payment is {X}.",
    ),
}

# Hand-written hard negatives: sentences with numbers that are NOT personal data. Slots:
# {i:A-B} an integer, {d:K} K digits, {c:a|b} a choice, {f:name} a Faker value, {day}/{iso} an
# ISO date/timestamp, {date} a date in one of several formats, {bad:kind} a near miss (right
# shape, wrong checksum or range).
NEGATIVES: tuple[str, ...] = (
    "Your order {i:10000000-999999999999} has shipped.",
    "Order #{i:100000-9999999999} was delivered on {day}.",
    "Invoice INV-{i:2015-2025}-{d:5} is attached.",
    "The meeting is on {date}.",
    "Logged at {iso} by the system.",
    "Timestamp: {day} {i:10-23}:{i:10-59}:{i:10-59}",
    "Update to version {i:1-20}.{i:0-30}.{i:0-99}.",
    "Build {i:1-12}.{i:0-9}.{i:1000-30000}.{i:1-999} fixes the bug.",
    "Tracking number: 1Z{alnum:16}",
    "USPS tracking {d:4} {d:4} {d:4} {d:4} {d:4} {d:2}",
    "FedEx tracking {d:12}.",
    "ISBN {f:isbn13}",
    "See ISBN {f:isbn10} for details.",
    "The annual fee is ${c:0|95|99|150|250|450|550}.",
    "The monthly fee of {c:$4.95|€3,50|£5|$12} is waived with direct deposit.",
    "A minimum balance of ${c:1,500|500|2,500|10,000} avoids the fee.",
    "The card costs {c:$0|€49|£25|$95} a year.",
    "Wire transfers cost ${i:15-45} each.",
    "Earn up to ${c:200|300|1,000} cash back.",
    "The city has {i:100-999}{c:,| |.}{d:3}{c:,| |.}{d:3} inhabitants.",
    "We processed {i:1-999},{d:3},{d:3} payments last year.",
    "Between {i:1990-2010} and {i:2011-2024} the rate doubled.",
    "It happened {i:2-12} times in {i:2015-2024}.",
    "The office is at {f:street_address}, {f:city} {f:zipcode_plus4}.",
    "Room {i:100-999}, floor {i:1-30}.",
    "Flight BA{i:100-9999} leaves at {i:10-23}:{i:10-59}.",
    "Ticket {d:4}-{d:4} is closed.",
    "Reference number {i:100000000-99999999999}.",
    "Case {i:1000000-999999999} has been escalated.",
    "The request id is {f:uuid4}.",
    "Commit {f:sha1} introduced the change.",
    "Use color {f:hex_color} for the banner.",
    "Coordinates {f:latitude}, {f:longitude}.",
    "The rate is {i:1-29}.{d:2}% APR.",
    "Your card ending in {d:4} is active.",
    "Call {i:2-9} times a day, {i:10-60} minutes each.",
    "The transfer limit is ${c:10,000|25,000|2,500} per day.",
    "SKU {d:12} is out of stock.",
    "Part number {i:1000000-999999999}-{i:10-99}.",
    "IMPORTANT: CUSTOMER SERVICE WILL NEVER ASK FOR YOUR PASSWORD.",
    "We use scikit-learn and sk-learn style pipelines; see task-management-system-docs.",
    "Population: {i:1-99} {i:100-999} {i:100-999}.",
    "Card {bad:luhn} is a test value.",
    "The IBAN {bad:iban} is invalid.",
    "Routing number {bad:aba} does not exist.",
    "Form number {c:000|666|912}-{i:10-99}-{i:1000-9999}.",
    "Address {i:256-999}.{i:0-255}.{i:0-255}.{i:0-255} is not an IP.",
    "That wallet {bad:btc} failed validation.",
)

# Held-out phrasings, for the benchmark only (`generate(..., held_out=True)`): written apart from
# the templates above, which the committed corpus (and so the quality tests) use, and from the
# unit tests' sentences, so that the benchmark's figures are on wording the detector was not
# tuned on. Their values are drawn in held-out styles too (see Values.held_out_value).
HELD_OUT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "EMAIL_ADDRESS": (
        "Drop a line to {X} whenever you like.",
        "Correspondence address on record: {X}",
        "We will copy {X} on the confirmation.",
        "Is {X} still the best way to contact you?",
    ),
    "PHONE_NUMBER": (
        "Best number to ring: {X}",
        "Give us a call at {X} between nine and five.",
        "Her landline, {X}, goes to voicemail.",
        "Tel: {X} (weekdays)",
        "Fax {X}",
        "We left a voicemail at {X} this morning.",
        "Our hotline {X} is open around the clock.",
    ),
    "CREDIT_CARD": (
        "The card on file, {X}, expires next month.",
        "Refund the amount to card {X}, please.",
        "Charge it to my Mastercard {X}.",
        "Credit card no. {X} has a new limit.",
        "A payment from card {X} bounced.",
    ),
    "IBAN_CODE": (
        "Beneficiary IBAN {X}, reference invoice 1042.",
        "Our bank details: IBAN {X}.",
        "Kindly wire the deposit to {X}.",
        "Salary account {X} (IBAN).",
    ),
    "US_SSN": (
        "Taxpayer ID (SSN) on the return: {X}.",
        "Please confirm your social security number, {X}.",
        "The form lists SSN {X} for the co-applicant.",
        "SSN on file: {X}",
    ),
    "IP_ADDRESS": (
        "The request originated at {X}.",
        "Whitelisted address: {X}",
        "Sign-in attempt from {X} was blocked.",
    ),
    "US_BANK_ROUTING": (
        "For ACH payments use routing number {X}.",
        "Bank routing code {X}, account type checking.",
        "Direct deposit: ABA {X}.",
    ),
    "US_BANK_NUMBER": (
        "Funds go to checking account no. {X}.",
        "Your savings account, number {X}, was credited.",
        "Acct {X} is linked to this card.",
    ),
    "SWIFT_CODE": (
        "For transfers from abroad, the BIC is {X}.",
        "Intermediary bank SWIFT: {X}",
    ),
    "CARD_CVV": (
        "Enter the CVV {X} at checkout.",
        "Card verification code: {X}",
    ),
    "CARD_PIN": (
        "Your new PIN is {X}; keep it secret.",
        "PIN number {X} was entered three times.",
    ),
    "CRYPTO": (
        "Receiving address for the transfer: {X}",
        "Top up via wallet {X}.",
    ),
    "SECRET": (
        "The leaked credential was {X}",
        "API_TOKEN={X}",
    ),
    "ACCOUNT_BALANCE": (
        "As of this morning your balance is {X}.",
        "Your checking account shows {X} available.",
        "Your account balance:\n{X}",
        "You currently owe {X} on the card.",
        "Funds available in your savings: {X}.",
    ),
}
HELD_OUT_NEGATIVES: tuple[str, ...] = (
    "The interest rate is {i:1-29}.{d:2}% for balances above ${c:5,000|10,000|25,000}.",
    "Balances over ${c:2,500|50,000} earn a bonus rate.",
    "Keep a minimum balance of ${c:300|1,000} to avoid the monthly charge.",
    "Overdraft protection covers up to ${c:500|1,000}.",
    "Our branch at {f:street_address} opens at 9.",
    "Order {d:9} was placed on {date}.",
    "Claim {i:10000000-99999999} is under review.",
    "Version {i:1-9}.{i:0-9}.{i:0-9} of the app fixes the login issue.",
    "Your parcel {d:4} {d:4} {d:4} is on its way.",
    "The promotion ends on {date}; {i:2-50} winners will be drawn.",
    "A transfer fee of {c:$2.50|€1,20|£3} applies abroad.",
    "The card number has 16 digits and the CVV has 3.",
    "Receipt {d:8} for {c:$12.40|€8,99}.",
)
DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%B %d, %Y")
SLOT = re.compile(r"\{(\w+)(?::([^}]*))?\}")


def negative(v: Values, pool: tuple[str, ...] = NEGATIVES) -> str:
    def fill(m: re.Match[str]) -> str:
        kind, arg = m.group(1), m.group(2) or ""
        if kind == "i":
            lo, hi = arg.split("-")
            return str(v.rng.randint(int(lo), int(hi)))
        if kind == "d":
            return "".join(v.rng.choices(string.digits, k=int(arg)))
        if kind == "alnum":
            return "".join(v.rng.choices(string.ascii_uppercase + string.digits, k=int(arg)))
        if kind == "c":
            return v.rng.choice(arg.split("|"))
        if kind == "f":
            return str(getattr(v.us, arg)())
        if kind in ("date", "day", "iso"):
            # From a fixed range (not "until now"), so that the corpus is reproducible.
            when = datetime(2000, 1, 1) + timedelta(seconds=v.rng.randrange(25 * 365 * 86400))
            if kind == "iso":
                return when.isoformat() + f".{v.rng.randrange(10**6):06d}"
            return when.strftime("%Y-%m-%d" if kind == "day" else v.rng.choice(DATE_FORMATS))
        return NEAR_MISS[arg](v)

    return SLOT.sub(fill, v.rng.choice(pool))


def _bad_luhn(v: Values) -> str:
    d = v.us.credit_card_number("visa16")
    last = (int(d[-1]) + v.rng.randint(1, 9)) % 10
    return d[:-1] + str(last)


def _bad_iban(v: Values) -> str:
    d = v.fakers[v.rng.choice(IBAN_LOCALES)].iban()
    i = v.rng.randrange(4, len(d))
    ch = d[i]
    repl = str((int(ch) + 1) % 10) if ch.isdigit() else ("A" if ch != "A" else "B")
    return d[:i] + repl + d[i + 1 :]


def _bad_aba(v: Values) -> str:
    d = v.us.aba()
    return d[:-1] + str((int(d[-1]) + 1) % 10)


def _bad_btc(v: Values) -> str:
    addr = _base58check(bytes([0]) + v.rng.randbytes(20))
    i = v.rng.randrange(5, len(addr))
    repl = "2" if addr[i] != "2" else "3"
    return addr[:i] + repl + addr[i + 1 :]


NEAR_MISS: dict[str, Callable[[Values], str]] = {
    "luhn": _bad_luhn,
    "iban": _bad_iban,
    "aba": _bad_aba,
    "btc": _bad_btc,
}


VALUE_OF: dict[str, Callable[[Values], str]] = {
    "EMAIL_ADDRESS": Values.email,
    "PHONE_NUMBER": Values.phone,
    "CREDIT_CARD": Values.card,
    "IBAN_CODE": Values.iban,
    "US_SSN": Values.ssn,
    "IP_ADDRESS": Values.ip,
    "US_BANK_ROUTING": Values.routing,
    "US_BANK_NUMBER": Values.account,
    "SWIFT_CODE": Values.swift,
    "CARD_CVV": Values.cvv,
    "CARD_PIN": Values.pin,
    "CRYPTO": Values.crypto,
    "SECRET": Values.secret,
    "ACCOUNT_BALANCE": Values.amount,
}
TYPES = tuple(VALUE_OF)


def _filler(v: Values) -> str:
    _, f = v.faker()
    if v.rng.random() < 0.6:
        f = v.us  # chatbot answers here are mostly English
    return f.sentence(nb_words=v.rng.randint(6, 16))


# How many entity, hard-negative and filler sentences a text gets, by profile: "dense" packs
# about one entity into 150 characters (to measure quality on many values); "answers" looks
# like a chatbot's replies: a paragraph or two, an entity in about a third of them.
PROFILES = {
    "dense": (
        (0, 1, 2, 3),
        (15, 50, 25, 10),
        (0, 1, 2),
        (45, 40, 15),
        (0, 1, 2, 3),
        (20, 35, 30, 15),
    ),
    "answers": ((0, 1), (70, 30), (0, 1), (70, 30), (3, 4, 5, 6, 7, 8), (1, 1, 1, 1, 1, 1)),
}


def make_text(v: Values, profile: str = "dense", held_out: bool = False) -> dict[str, object]:
    t = Text()
    rng = v.rng
    n_ent, w_ent, n_neg, w_neg, n_fill, w_fill = PROFILES[profile]
    templates = HELD_OUT_TEMPLATES if held_out else TEMPLATES
    sentences: list[tuple[str | None, str]] = []
    for _ in range(rng.choices(n_ent, weights=w_ent)[0]):
        kind = rng.choice(TYPES)
        sentences.append((kind, rng.choice(templates[kind])))
    for _ in range(rng.choices(n_neg, weights=w_neg)[0]):
        sentences.append((None, negative(v, HELD_OUT_NEGATIVES if held_out else NEGATIVES)))
    for _ in range(rng.choices(n_fill, weights=w_fill)[0]):
        sentences.append((None, _filler(v)))
    rng.shuffle(sentences)
    for i, (kind, sentence) in enumerate(sentences):
        if i:
            # After a sentence without a full stop ("Phone: ..."), a new line, as in a chat.
            ended = sentences[i - 1][1].rstrip()[-1:] in ".!?"
            t.add(rng.choice((" ", " ", " ", "\n")) if ended else "\n")
        if kind is None:
            t.add(sentence)
        else:
            value = v.held_out_value(kind) if held_out else VALUE_OF[kind](v)
            t.fill(sentence, {"X": (kind, value)})
    return t.record()


def generate(
    n: int, seed: int = SEED, profile: str = "dense", held_out: bool = False
) -> list[dict[str, object]]:
    """`n` labelled texts. `held_out`: the benchmark's phrasings and value styles, which the
    committed corpus does not use."""
    v = Values(seed)
    return [make_text(v, profile, held_out) for _ in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000, help="number of texts (default 3000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    records = generate(args.n, args.seed)
    write_atomic(args.output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    size = args.output.stat().st_size
    print(f"wrote {len(records)} texts, {size / 1e6:.2f} MB to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
