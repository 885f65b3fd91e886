"""Regular expressions a PM writes (`regex`, `not_regex`, a json_schema's `pattern`), run on RE2.

Python's `re` backtracks: `(a+)+$` against 33 characters of an answer runs for minutes, and one
such pattern in a case file hangs the whole run. RE2 (`google-re2`) matches in time linear in
the text, whatever the pattern, and bounds the memory a pattern may compile to. It does not
support what needs backtracking (backreferences `\\1`, lookaround `(?=`, `(?<!`, ...):
such a pattern is refused when the cases load, with the reason, rather than run slowly.

`backtracking_risk` says which patterns would be exponential on a backtracking engine (nested
repeats), so `llmops cases validate` can warn a PM whose pattern is also used elsewhere.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why and what to write instead."""


_HINTS = (
    ("(?=", "lookahead is not supported"),
    ("(?!", "negative lookahead is not supported"),
    ("(?<=", "lookbehind is not supported"),
    ("(?<!", "negative lookbehind is not supported"),
    ("(?>", "atomic groups are not supported"),
    ("\\Z", "use \\z for the end of the text"),
)


def _options(ignore_case: bool) -> Any:
    options = re2.Options()
    options.log_errors = False  # the error is raised, and reported once, by us
    options.case_sensitive = not ignore_case
    return options


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str, ignore_case: bool = False) -> Any:
    """The compiled pattern; `PatternError` when RE2 cannot run it."""
    try:
        return re2.compile(pattern, _options(ignore_case))
    except re2.error as exc:
        raise PatternError(_explain(pattern, exc)) from None
    except (TypeError, ValueError) as exc:  # e.g. a NUL the binding refuses
        raise PatternError(str(exc)) from None


def _explain(pattern: str, exc: Exception) -> str:
    raw = exc.args[0] if exc.args else exc
    why = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    if re.search(r"\\[1-9]", pattern):
        why += " (backreferences are not supported)"
    for needle, hint in _HINTS:
        if needle in pattern:
            why += f" ({hint})"
            break
    return f"{why}; patterns run on RE2, a linear-time engine"


def search(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    return compile_pattern(pattern, ignore_case).search(text) is not None


def problem(pattern: str) -> str | None:
    """Why `pattern` cannot be used (None when it can)."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        return str(exc)
    return None


def backtracking_risk(pattern: str) -> str | None:
    """Why `pattern` would take exponential time on a backtracking engine (Python's `re`,
    JavaScript, PCRE), or None: a repeat nested in a repeat, as in `(a+)+` or `(\\w*)*`."""
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse  # type: ignore[no-redef]
    try:
        parsed = sre_parse.parse(pattern)
    except Exception:  # RE2-only syntax, or not a pattern at all: nothing to say
        return None
    try:
        nested = _nested_repeat(parsed, 0, sre_parse)
    except RecursionError:
        return None
    return "a repeat nested in a repeat" if nested else None


def _nested_repeat(items: Any, outer: int, sre_parse: Any) -> bool:
    consts = sre_parse
    repeats = {consts.MAX_REPEAT, consts.MIN_REPEAT}
    repeats |= {getattr(consts, "POSSESSIVE_REPEAT", consts.MAX_REPEAT)}
    for op, av in items:
        if op in repeats:
            _lo, hi, sub = av
            unbounded = hi == consts.MAXREPEAT or hi > 1
            if unbounded and outer:
                return True
            if _nested_repeat(sub, outer + (1 if unbounded else 0), sre_parse):
                return True
            continue
        if op == consts.SUBPATTERN:
            children = [av[-1]]
        elif op == consts.BRANCH:
            children = av[1]
        else:
            continue
        if any(_nested_repeat(child, outer, sre_parse) for child in children):
            return True
    return False
