"""SECRET: API keys, tokens and private keys of well-known formats.

Each format starts with a fixed prefix, found by plain substring search; the token after it is
taken with one character class (greedy, nothing after it, so no backtracking) and only then held
against the format. The search resumes after the token, so the work is linear in the text.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Final

from llmops.pii.hit import Hit
from llmops.pii.types import SECRET

TOKEN: Final = re.compile(r"[A-Za-z0-9_\-.]{1,12000}")
URL_TOKEN: Final = re.compile(r"[A-Za-z0-9_\-./:]{1,400}")


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    prefix: str
    shape: re.Pattern[str]  # fullmatch on the token
    score: float = 0.9
    mixed: bool = False  # the random part must mix digits, upper and lower case letters
    url: bool = False


def _f(
    name: str, prefix: str, shape: str, score: float = 0.9, mixed: bool = False, url: bool = False
) -> Format:
    return Format(name, prefix, re.compile(shape), score, mixed, url)


FORMATS: tuple[Format, ...] = (
    _f(
        "openai/anthropic",
        "sk-",
        r"sk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)[0-9]{2}-)?[A-Za-z0-9_\-]{20,400}",
        mixed=True,
    ),
    _f("stripe", "sk_", r"sk_(?:live|test)_[A-Za-z0-9]{16,247}", 0.95),
    _f("stripe-restricted", "rk_", r"rk_(?:live|test)_[A-Za-z0-9]{16,247}", 0.95),
    _f("aws-access-key", "AKIA", r"AKIA[A-Z2-7]{16}", 0.95),
    _f("aws-temporary-key", "ASIA", r"ASIA[A-Z2-7]{16}", 0.9),
    _f("google-api-key", "AIza", r"AIza[0-9A-Za-z_\-]{35}", 0.95),
    *(_f("github-token", f"gh{c}_", r"gh[pousr]_[A-Za-z0-9]{36,251}", 0.95) for c in "pousr"),
    _f("github-fine-grained", "github_pat_", r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}", 0.95),
    _f("gitlab-token", "glpat-", r"glpat-[A-Za-z0-9_\-]{20,64}", 0.95),
    _f("slack-token", "xox", r"xox[abposr]-(?:[0-9]{6,16}-){0,3}[A-Za-z0-9\-]{8,255}", 0.95),
    _f(
        "slack-webhook",
        "https://hooks.slack.com/",
        r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,40}",
        0.95,
        url=True,
    ),
    _f("sendgrid", "SG.", r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}", 0.95),
    _f("npm-token", "npm_", r"npm_[A-Za-z0-9]{36}", 0.95),
    _f("huggingface-token", "hf_", r"hf_[A-Za-z]{34}", 0.9),
    _f(
        "jwt",
        "eyJ",
        r"eyJ[A-Za-z0-9_\-]{8,4000}\.eyJ[A-Za-z0-9_\-]{8,8000}\.[A-Za-z0-9_\-]{16,4000}",
    ),
)

_PEM_HEAD: Final = re.compile(r"-----BEGIN ((?:[A-Z0-9]{1,12} ){0,3})PRIVATE KEY( BLOCK)?-----")
_PEM_TAIL: Final = re.compile(r"-----END (?:[A-Z0-9]{1,12} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY: Final = re.compile(r"[A-Za-z0-9+/=\s:,\-]{0,20000}")
PEM_SCORE: Final = 0.99


def _mixed(s: str) -> bool:
    return (
        any(c.isdigit() for c in s) and any(c.isupper() for c in s) and any(c.islower() for c in s)
    )


def _jwt_ok(token: str) -> bool:
    """The header decodes to a JSON object naming an algorithm or type."""
    head = token.split(".", 1)[0]
    try:
        data = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and ("alg" in data or "typ" in data)


def _fits(fmt: Format, token: str) -> bool:
    if not fmt.shape.fullmatch(token):
        return False
    if fmt.mixed and not _mixed(token[3:]):
        return False
    return fmt.name != "jwt" or _jwt_ok(token)


# The formats worth a search, by (the text has a "_", the text has a "-"), in FORMATS order.
_SEARCHED: Final = {
    (underscore, dash): tuple(
        f
        for f in FORMATS
        if not (("_" in f.prefix and not underscore) or ("-" in f.prefix and not dash))
    )
    for underscore in (False, True)
    for dash in (False, True)
}


def find_secrets(text: str) -> list[Hit]:
    hits: list[Hit] = []
    # Most prefixes hold a "_" or a "-"; prose often has neither, and then they need no search.
    for fmt in _SEARCHED["_" in text, "-" in text]:
        at = text.find(fmt.prefix)
        while at >= 0:
            nxt = at + len(fmt.prefix)
            if at and (text[at - 1].isalnum() or text[at - 1] in "_-"):
                at = text.find(fmt.prefix, nxt)
                continue
            m = (URL_TOKEN if fmt.url else TOKEN).match(text, at)
            assert m is not None  # the prefix itself matches
            token = m.group()
            # Punctuation after a token is usually the sentence's, but a key may end in "-".
            for cand in dict.fromkeys((token, token.rstrip(".-_/:"), token.rstrip(".:/"))):
                if _fits(fmt, cand):
                    hits.append(Hit(SECRET, at, at + len(cand), fmt.score))
                    break
            at = text.find(fmt.prefix, max(at + len(token), nxt))
    if "-----BEGIN " in text:
        hits.extend(_private_keys(text))
    return hits


def _private_keys(text: str) -> list[Hit]:
    hits: list[Hit] = []
    at = text.find("-----BEGIN ")
    while at >= 0:
        head = _PEM_HEAD.match(text, at)
        if head is None:
            at = text.find("-----BEGIN ", at + 11)
            continue
        tail_at = text.find("-----END ", head.end(), head.end() + 20000)
        tail = _PEM_TAIL.match(text, tail_at) if tail_at >= 0 else None
        if tail is not None:
            end = tail.end()
        else:  # a truncated key: the header and whatever body follows
            body = _PEM_BODY.match(text, head.end())
            end = body.end() if body else head.end()
            end = head.end() + len(text[head.end() : end].rstrip())
        hits.append(Hit(SECRET, at, end, PEM_SCORE))
        at = text.find("-----BEGIN ", end)
    return hits
