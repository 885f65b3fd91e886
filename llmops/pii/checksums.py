"""Check digits and checksums that turn a digit pattern into a real identifier.

These run on every candidate, so they are plain arithmetic on digit strings (a few microseconds)
rather than calls into `python-stdnum`, whose validators clean and reformat their input first and
cost ten times as much. stdnum stays the source of the registries (IBAN structures, BIC country
codes) and the tests hold every check here against stdnum's on many generated values. Bech32m
(BIP-350) and Ethereum's EIP-55 (keccak-256 from pycryptodome) are not in stdnum.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from typing import Final

_DOUBLE: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # Luhn: the digit sum of 2*d


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        total += _DOUBLE[d] if i & 1 else d
    return total % 10 == 0


def aba_ok(digits: str) -> bool:
    """The ABA 3-7-1 checksum, and a Federal Reserve routing symbol in the first two digits
    (00-12 banks, 21-32 thrifts, 61-72 electronic, 80 traveller's cheques)."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    d = [ord(c) - 48 for c in digits]
    if (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10:
        return False
    head = d[0] * 10 + d[1]
    return head <= 12 or 21 <= head <= 32 or 61 <= head <= 72 or head == 80


_SSN_SAMPLES: Final = frozenset({"078051120", "457555462", "219099999"})  # advertised, never issued


def ssn_ok(digits: str) -> bool:
    """Areas 000, 666 and 9xx, group 00, serial 0000 and the advertised samples are no SSN."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits not in _SSN_SAMPLES


def bic_ok(code: str) -> bool:
    """4 letters of bank, an ISO 3166 country, 2 of location, optionally 3 of branch."""
    return len(code) in (8, 11) and code[4:6] in bic_countries()


_B58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58)}


def base58check_ok(address: str) -> bool:
    """Legacy Bitcoin addresses (P2PKH '1...', P2SH '3...') with their double-SHA256 checksum."""
    if address[:1] not in ("1", "3"):
        return False
    n = 0
    for c in address:
        v = _B58_INDEX.get(c)
        if v is None:
            return False
        n = n * 58 + v
    pad = len(address) - len(address.lstrip("1"))
    raw = b"\0" * pad + n.to_bytes((n.bit_length() + 7) // 8, "big")
    if len(raw) != 25:
        return False
    payload, check = raw[:21], raw[21:]
    if payload[0] not in (0, 5):
        return False
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == check


def iban_ok(compact: str) -> bool:
    """Registry length and BBAN structure of the country, then the ISO 7064 mod-97 check."""
    shape = iban_structures().get(compact[:2])
    if shape is None or not shape.fullmatch(compact, 4):
        return False
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_BASE36)) % 97 == 1


# Letters as ISO 13616 numbers them: A=10 ... Z=35 (digits stay as they are).
_BASE36: Final = {ord(c): str(i) for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10)}


@cache
def bic_countries() -> frozenset[str]:
    """ISO 3166 country codes: the regions phonenumbers knows (every country has a phone
    service), and Kosovo's user-assigned XK."""
    import phonenumbers

    return frozenset(phonenumbers.SUPPORTED_REGIONS) | {"XK"}


@cache
def _registry() -> dict[str, str]:
    """Country -> BBAN structure ("8!n10!n"), from stdnum's copy of the SWIFT IBAN registry."""
    data = resources.files("stdnum").joinpath("iban.dat").read_text(encoding="utf-8")
    found = (re.match(r'([A-Z]{2}) .*bban="([^"]+)"', line) for line in data.splitlines())
    return {m.group(1): m.group(2) for m in found if m}


@cache
def iban_lengths() -> dict[str, int]:
    """IBAN length per country."""
    return {
        cc: 4 + sum(int(n) for n in re.findall(r"\d+", bban)) for cc, bban in _registry().items()
    }


@cache
def iban_structures() -> dict[str, re.Pattern[str]]:
    """The BBAN of each country as a regex: "4!n" four digits, "8!c" eight alphanumerics..."""
    kinds = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Za-z0-9]", "e": " "}
    out = {}
    for cc, bban in _registry().items():
        parts = re.findall(r"(\d+)!?([nace])", bban)
        out[cc] = re.compile("".join(f"{kinds[k]}{{{n}}}" for n, k in parts))
    return out


# --- bech32 / bech32m (BIP-173, BIP-350), after the BIPs' reference code ---------------------

_BECH32_CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST: Final = 1
_BECH32M_CONST: Final = 0x2BC830A3


def _bech32_polymod(values: list[int]) -> int:
    chk = 1
    for v in values:  # the BIP's generator loop, unrolled: five tests instead of a loop each
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        if top & 1:
            chk ^= 0x3B6A57B2
        if top & 2:
            chk ^= 0x26508E6D
        if top & 4:
            chk ^= 0x1EA119FA
        if top & 8:
            chk ^= 0x3D4233DD
        if top & 16:
            chk ^= 0x2A1462B3
    return chk


def segwit_ok(address: str) -> bool:
    """A native segwit address: bech32 for witness v0, bech32m for v1+ (taproot)."""
    if address.lower() != address and address.upper() != address:
        return False  # mixed case is invalid by the spec
    addr = address.lower()
    hrp, sep, data = addr.rpartition("1")
    if not sep or hrp not in ("bc", "tb") or not 6 <= len(data) <= 87:
        return False
    try:
        values = [_BECH32_CHARSET.index(c) for c in data]
    except ValueError:
        return False
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    const = _bech32_polymod(expanded + values)
    version = values[0]
    if version > 16 or const != (_BECH32_CONST if version == 0 else _BECH32M_CONST):
        return False
    # The witness program: 5-bit groups to bytes, 2..40 bytes; v0 is exactly 20 or 32.
    nbits = (len(values) - 7) * 5
    size = nbits // 8
    if nbits % 8 >= 5 or not 2 <= size <= 40:
        return False
    return version != 0 or size in (20, 32)


# --- Ethereum EIP-55 ---------------------------------------------------------------------------


def eip55_checksummed(hex40: str) -> bool:
    """True when `hex40`'s letter case spells the keccak-256 checksum of its lower-case form."""
    from Crypto.Hash import keccak  # pycryptodome; imported only when an address shows up

    lower = hex40.lower()
    digest = keccak.new(digest_bits=256, data=lower.encode("ascii")).hexdigest()
    for ch, h in zip(hex40, digest, strict=False):
        if ch.isalpha() and (ch.isupper() != (int(h, 16) >= 8)):
            return False
    return True
