"""IP_ADDRESS: dotted IPv4 (octets checked as `ipaddress` checks them) and IPv6 (checked by
`ipaddress`)."""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from llmops.pii.candidates import Run
from llmops.pii.context import Context
from llmops.pii.hit import Hit
from llmops.pii.types import IP_ADDRESS

CONTEXT: Final = Context(
    IP_ADDRESS,
    positive=(
        "ip",
        "ip address",
        "ipv4",
        "ipv6",
        "address",
        "host",
        "server",
        "client",
        "from ip",
        "remote",
        "connected from",
        "connection",
        "connections",
        "login from",
        "logged in from",
        "gateway",
        "dns",
        "proxy",
    ),
    negative=(
        "version",
        "ver",
        "v",
        "build",
        "release",
        "firmware",
        "update",
        "patch",
        "sdk",
        "python",
        "node",
        "java",
        "chrome",
        "windows",
        "ios",
        "android",
        "section",
        "chapter",
        "figure",
        "table",
        "step",
        "rule",
        "article",
    ),
    boost=0.3,
    penalty=0.45,
)

V4_SCORE: Final = 0.6
V6_SCORE: Final = 0.75
# IPv6 characters around a run that touches ':' or a hex letter.
_V6_CHARS: Final = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_V6_BACK: Final = re.compile(r"[0-9A-Fa-f:.]{1,45}")


def _octet_ok(octet: str) -> bool:
    """What `ipaddress.IPv4Address` accepts as an octet: 0-255, no leading zero (a cheaper test
    than building the address; the tests hold the two to the same answers)."""
    return len(octet) <= 3 and (len(octet) == 1 or octet[0] != "0") and int(octet) <= 255


def find_ipv4(text: str, run: Run) -> list[Hit]:
    """Four groups of 1-3 digits joined by dots (not part of a longer dotted number)."""
    groups, seps = run.groups, run.seps
    hits: list[Hit] = []
    for i in range(len(groups) - 3):
        if seps[i] != "." or seps[i + 1] != "." or seps[i + 2] != ".":
            continue
        if (i > 0 and seps[i - 1] == ".") or (i + 3 < len(seps) and seps[i + 3] == "."):
            continue
        if not all(_octet_ok(text[ga:gb]) for ga, gb in run.groups[i : i + 4]):
            continue
        a, b = run.span(i, i + 3)
        hits.append(Hit(IP_ADDRESS, a, b, CONTEXT.score(V4_SCORE, text, run.start, run.end)))
    return hits


def find_ipv6(text: str, start: int, end: int) -> Hit | None:
    """An IPv6 address around the digits at text[start:end], which touch ':' or hex letters."""
    lo = max(0, start - 45)
    back = _V6_BACK.match(text[lo:start][::-1])
    a = start - (back.end() if back else 0)
    m = _V6_CHARS.match(text, a)
    if m is None:
        return None
    cand = m.group().rstrip(".:")
    if cand.startswith(":") and not cand.startswith("::"):
        cand, a = cand[1:], a + 1
    colons = cand.count(":")
    if colons < 2 or ("::" not in cand and colons != 7):
        return None
    b = a + len(cand)
    if (a and (text[a - 1].isalnum() or text[a - 1] == "_")) or (
        b < len(text) and text[b].isalnum()
    ):
        return None
    try:
        ipaddress.IPv6Address(cand)
    except ValueError:
        return None
    return Hit(IP_ADDRESS, a, b, CONTEXT.score(V6_SCORE, text, a, b))
