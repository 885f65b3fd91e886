"""Secrets scrubbed by value: the literal values of the secrets this process was given.

The PII detector finds secrets by their shape (an `sk-...` key, a JWT); a key of no recognisable
shape (32 hex digits, Azure style) that a server echoes in an error body or an answer would pass
it. So every string is also stripped of the exact values of the secrets configured here,
whatever their format:

- environment variables whose name says they hold a secret (`*API_KEY*`, `*_KEY`, `*TOKEN*`,
  `*SECRET*`, `*PASSWORD*`, ...), which is where llmops reads its keys from (and
  `LLMOPS_RESULTS_KEY`, the results' signing key);
- the user name and password of a target URL, and secret-looking query values;
- header values and anything else a caller `register`s (e.g. a target's Authorization header).

    from llmops import scrub
    scrub.register(api_key)
    scrub.text(message)           # every known secret replaced by <SECRET>
    scrub.deep(document)          # the same for every string in a JSON-like document

The set is read from the environment once (call `reset()` when the environment changed); each
scrub is one `str.replace` per known value, after a cheap test that the text can hold one.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

MASK = "<SECRET>"
#: Environment variable names that hold secrets.
SECRET_NAME = re.compile(
    r"(?i)(api[_-]?key|apikey|token|secret|passw(or)?d|passwd|credential|private[_-]?key|"
    r"access[_-]?key|auth|bearer|session[_-]?key|signature|(?:^|_)key(?:_|$))"
)
#: Shorter values are not scrubbed: "abc" or "true" would mangle ordinary text.
MIN_CHARS = 8
#: ... but these name where a secret is kept, not the secret (SSH_AUTH_SOCK, *_TOKEN_FILE).
_NOT_SECRET = re.compile(r"(?i)(_FILE|_PATH|_SOCK|_DIR|_URL)$")
_SECRET_QUERY = re.compile(r"(?i)(key|token|secret|password|auth|sig)")

_lock = threading.Lock()
_registered: set[str] = set()
_values: tuple[str, ...] | None = None


def _variants(value: str) -> set[str]:
    """The value and the forms it travels in: URL-encoded, and trimmed."""
    value = value.strip()
    if len(value) < MIN_CHARS:
        return set()
    return {v for v in (value, quote(value, safe=""), unquote(value)) if len(v) >= MIN_CHARS}


def from_environment(environ: Mapping[str, str] | None = None) -> set[str]:
    env = os.environ if environ is None else environ
    out: set[str] = set()
    for name, value in env.items():
        if SECRET_NAME.search(name) and not _NOT_SECRET.search(name):
            out |= _variants(value)
        elif "://" in value and "@" in value:  # a URL with credentials in it
            out |= from_url(value)
    return out


def from_url(url: str) -> set[str]:
    """The credentials a URL carries: user, password, their Basic-auth form, secret queries."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    out: set[str] = set()
    if parts.password:
        out |= _variants(parts.password)
        user_pass = f"{unquote(parts.username or '')}:{unquote(parts.password)}"
        out |= _variants(base64.b64encode(user_pass.encode()).decode())
    if parts.username and parts.password is None:  # https://TOKEN@host: the name is the secret
        out |= _variants(parts.username)
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if _SECRET_QUERY.search(key):
            out |= _variants(value)
    return out


def register(*values: str | None) -> None:
    """Add secret values (a header, a key read from somewhere else) to scrub from now on."""
    global _values
    new = set().union(*(_variants(v) for v in values if v))
    if not new:
        return
    with _lock:
        _registered.update(new)
        _values = None


def register_url(url: str) -> None:
    register(*from_url(url))


def reset() -> None:
    """Read the environment again on the next scrub (registered values are kept)."""
    global _values
    with _lock:
        _values = None


def forget() -> None:
    """Drop registered values too (tests)."""
    global _values
    with _lock:
        _registered.clear()
        _values = None


def values() -> tuple[str, ...]:
    """The values scrubbed, longest first (so a value never leaves part of a longer one)."""
    global _values
    current = _values
    if current is None:
        with _lock:
            found = from_environment() | _registered
            current = _values = tuple(sorted(found, key=lambda v: (-len(v), v)))
    return current


def text(s: str) -> str:
    """`s` with every known secret value replaced by <SECRET>."""
    known = values()
    if not known or not s or len(s) < MIN_CHARS:
        return s
    for value in known:
        if value in s:
            s = s.replace(value, MASK)
    return s


def deep(doc: Any) -> Any:
    """A copy of a JSON-like document (dicts, lists, strings) with every string scrubbed, keys
    included. Iterative: a deeply nested document cannot exhaust the stack."""
    if not values():
        return doc
    if isinstance(doc, str):
        return text(doc)
    if not isinstance(doc, dict | list | tuple):
        return doc
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(doc, root, 0)]
    while stack:
        item, parent, key = stack.pop()
        if isinstance(item, str):
            parent[key] = text(item)
        elif isinstance(item, dict):
            copy: dict[Any, Any] = {}
            parent[key] = copy
            for k, v in item.items():
                k2 = text(k) if isinstance(k, str) else k
                copy[k2] = None
                stack.append((v, copy, k2))
        elif isinstance(item, list | tuple):
            items: list[Any] = [None] * len(item)
            parent[key] = items
            stack.extend((v, items, i) for i, v in enumerate(item))
        else:
            parent[key] = item
    return root[0]


def deep_in_place(doc: Any) -> Any:
    """`deep` for a document of our own making, which nothing else holds a clean copy of: its
    strings scrubbed where they lie, without a second copy of the whole (the results of 10,000
    cases are ~100 MB of dicts). Returns `doc`."""
    if not values():
        return doc
    if isinstance(doc, str):
        return text(doc)
    if isinstance(doc, tuple):
        doc = list(doc)  # as `deep` gives it
    if not isinstance(doc, dict | list):
        return doc  # a number, a bool, None: nothing to scrub
    stack: list[Any] = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k in [k for k in item if isinstance(k, str) and text(k) != k]:
                item[text(k)] = item.pop(k)
            slots: Any = item.items()  # values replaced in place: the keys stay as they are
        else:
            slots = enumerate(item)
        for k, v in slots:
            if isinstance(v, str):
                clean = text(v)
                if clean is not v:
                    item[k] = clean
            elif isinstance(v, dict | list):
                stack.append(v)
            elif isinstance(v, tuple):
                item[k] = list(v)
                stack.append(item[k])
    return doc


def contains_secret(s: str) -> bool:
    return any(v in s for v in values()) if s else False

