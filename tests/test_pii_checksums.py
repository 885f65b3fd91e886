"""The fast check digits agree with python-stdnum's, and the crypto checks with the BIPs' and
EIP-55's published vectors."""

from __future__ import annotations

import random
import string

import pytest
from stdnum import bic, iban, luhn
from stdnum.us import rtn, ssn

from llmops.pii.checksums import (
    aba_ok,
    base58check_ok,
    bic_ok,
    eip55_checksummed,
    iban_lengths,
    iban_ok,
    luhn_ok,
    segwit_ok,
    ssn_ok,
)

rng = random.Random(7)


def digits(n: int) -> str:
    return "".join(rng.choices(string.digits, k=n))


def test_luhn_matches_stdnum() -> None:
    for _ in range(3000):
        d = digits(rng.randint(12, 19))
        assert luhn_ok(d) == luhn.is_valid(d), d


def test_aba_matches_stdnum_checksum_and_fed_prefixes() -> None:
    for _ in range(3000):
        d = digits(9)
        head = int(d[:2])
        fed = head <= 12 or 21 <= head <= 32 or 61 <= head <= 72 or head == 80
        assert aba_ok(d) == (rtn.is_valid(d) and fed), d
    assert aba_ok("021000021") and aba_ok("121000358")
    assert not aba_ok("021000022") and not aba_ok("12100035")


def test_ssn_matches_stdnum() -> None:
    samples = [digits(9) for _ in range(3000)] + ["078051120", "666123456", "900123456"]
    for d in samples:
        assert ssn_ok(d) == ssn.is_valid(d), d


def test_iban_matches_stdnum() -> None:
    from faker import Faker

    countries = ["en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_PT", "de_CH"]
    for loc in countries:
        f = Faker(loc)
        f.seed_instance(3)
        for _ in range(60):
            good = f.iban()
            i = rng.randrange(4, len(good))
            bad = good[:i] + ("0" if good[i] != "0" else "1") + good[i + 1 :]
            for value in (good, bad):
                assert iban_ok(value) == iban.is_valid(value), value
    assert iban_lengths()["DE"] == 22 and iban_lengths()["NO"] == 15


def test_bic_matches_stdnum() -> None:
    for code in ("DEUTDEFF", "DEUTDEFF500", "NWBKGB2L", "ABCDXX12", "ABCDZZ12"):
        assert bic_ok(code) == bic.is_valid(code), code


# Published vectors: BIP-173 / BIP-350 and EIP-55.
SEGWIT_VALID = [
    "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",
    "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
    "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297",
    "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
]
SEGWIT_INVALID = [
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",  # bad checksum
    "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3t4",  # mixed case
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # v1 with bech32 checksum
    "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",  # bech32 (not m) for v2
]


@pytest.mark.parametrize("address", SEGWIT_VALID)
def test_segwit_valid(address: str) -> None:
    assert segwit_ok(address)


@pytest.mark.parametrize("address", SEGWIT_INVALID)
def test_segwit_invalid(address: str) -> None:
    assert not segwit_ok(address)


def test_base58check() -> None:
    assert base58check_ok("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
    assert base58check_ok("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy")
    assert not base58check_ok("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb")
    assert not base58check_ok("1A1zP1eP5QGefi2DMPTfTL5SLmv7Divf0a")  # '0' is not base58


@pytest.mark.parametrize(
    "address",
    [
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "fB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "dbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "D1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_eip55_vectors(address: str) -> None:
    assert eip55_checksummed(address)
    assert not eip55_checksummed(address.swapcase())


def test_ipv4_octets_match_ipaddress() -> None:
    import ipaddress

    from llmops.pii.network import _octet_ok

    octets = [str(i) for i in range(1000)] + ["0" + str(i) for i in range(100)] + ["00", "000"]
    for o in octets:
        try:
            ipaddress.IPv4Address(f"{o}.1.1.1")
            expected = True
        except ValueError:
            expected = False
        assert _octet_ok(o) is expected, o
