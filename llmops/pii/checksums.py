"""Check digits and checksums that turn a digit pattern into a real identifier.

Well-kept `python-stdnum` does the registries and check digits (Luhn, IBAN mod-97 with per-country
structure, ABA, SSN areas, BIC, Bitcoin base58check); what it lacks is here: bech32m (BIP-350) and
Ethereum's EIP-55 mixed-case checksum (keccak-256 from pycryptodome).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from stdnum import bic as _bic
from stdnum import bitcoin as _bitcoin
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.us import rtn as _rtn
from stdnum.us import ssn as _ssn


def luhn_ok(digits: str) -> bool:
    return _luhn.is_valid(digits)


def iban_ok(compact: str) -> bool:
    return _iban.is_valid(compact)


def aba_ok(digits: str) -> bool:
    # stdnum checks the 3-7-1 checksum; the first two digits must also be a Federal Reserve
    # routing symbol (00-12 banks, 21-32 thrifts, 61-72 electronic, 80 traveller's cheques).
    if not _rtn.is_valid(digits):
        return False
    head = int(digits[:2])
    return head <= 12 or 21 <= head <= 32 or 61 <= head <= 72 or head == 80


def ssn_ok(digits: str) -> bool:
    # Areas 000, 666 and 9xx, group 00, serial 0000 and the advertised sample numbers fail.
    return _ssn.is_valid(digits)


def bic_ok(code: str) -> bool:
    return _bic.is_valid(code)


def base58check_ok(address: str) -> bool:
    """Legacy Bitcoin addresses (P2PKH '1...', P2SH '3...') with their double-SHA256 checksum."""
    return address[:1] in ("1", "3") and _bitcoin.is_valid(address)


@cache
def iban_lengths() -> dict[str, int]:
    """IBAN length per country, read from stdnum's copy of the SWIFT IBAN registry."""
    lengths: dict[str, int] = {}
    data = resources.files("stdnum").joinpath("iban.dat").read_text(encoding="utf-8")
    for line in data.splitlines():
        m = re.match(r'([A-Z]{2}) .*bban="([^"]+)"', line)
        if m:
            lengths[m.group(1)] = 4 + sum(int(n) for n in re.findall(r"\d+", m.group(2)))
    return lengths


# --- bech32 / bech32m (BIP-173, BIP-350), after the BIPs' reference code ---------------------

_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
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
