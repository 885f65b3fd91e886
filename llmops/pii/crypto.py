"""CRYPTO: wallet addresses whose checksum holds. Bitcoin legacy (base58check), native segwit
(bech32/bech32m) and Ethereum (EIP-55 mixed case; all-lower or all-upper hex has no checksum, so
it needs a cue)."""

from __future__ import annotations

import re
from typing import Final

from llmops.pii.checksums import base58check_ok, eip55_checksummed, segwit_ok
from llmops.pii.context import Context
from llmops.pii.hit import Hit
from llmops.pii.types import CRYPTO

CONTEXT: Final = Context(
    CRYPTO,
    positive=(
        "wallet",
        "address",
        "eth",
        "ether",
        "ethereum",
        "btc",
        "bitcoin",
        "crypto",
        "send",
        "deposit",
        "metamask",
        "usdt",
        "usdc",
        "erc20",
        "erc-20",
        "token",
    ),
    negative=("hash", "tx", "transaction", "commit", "sha", "digest", "checksum"),
    boost=0.4,
    penalty=0.3,
)

CHECKED: Final = 0.95
UNCHECKED: Final = 0.45  # lower- or upper-case 0x address: right shape, no checksum to test

_BASE58: Final = re.compile(r"[13][1-9A-HJ-NP-Za-km-z]{25,34}")
_SEGWIT: Final = re.compile(
    r"(?:bc1|tb1)[02-9ac-hj-np-z]{11,87}|(?:BC1|TB1)[02-9AC-HJ-NP-Z]{11,87}"
)
_ETH: Final = re.compile(r"0x[0-9a-fA-F]{40}")


def find_wallet(text: str, start: int, end: int) -> Hit | None:
    """A wallet address exactly filling the alphanumeric token text[start:end]."""
    n = end - start
    head = text[start]
    if head in "13" and 26 <= n <= 35:
        if _BASE58.fullmatch(text, start, end) and base58check_ok(text[start:end]):
            return Hit(CRYPTO, start, end, CHECKED)
    elif head in "btBT" and 14 <= n <= 90:
        if _SEGWIT.fullmatch(text, start, end) and segwit_ok(text[start:end]):
            return Hit(CRYPTO, start, end, CHECKED)
    elif head == "0" and n == 42 and _ETH.fullmatch(text, start, end):
        hexpart = text[start + 2 : end]
        if hexpart.lower() == hexpart or hexpart.upper() == hexpart:
            return Hit(CRYPTO, start, end, CONTEXT.score(UNCHECKED, text, start, end))
        if eip55_checksummed(hexpart):
            return Hit(CRYPTO, start, end, CHECKED)
    return None
