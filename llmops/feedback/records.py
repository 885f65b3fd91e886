"""Feedback records: validation against `schemas/feedback.schema.json`, normalisation (defaults,
redaction, field order) and ids.

Ids are stable so that the same feedback is never stored twice: a record given without an id gets
`fb-<hash>` of its redacted content (so importing a file twice adds nothing), and an eval failure
gets `ev-<hash>` of commit, case, check and repeat (so rerunning the evals of one commit adds
nothing). Hashes are taken over redacted text only: an id never encodes raw PII.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

#: Free text a user or a chatbot wrote: always redacted before it is stored.
TEXT_FIELDS = ("prompt", "response", "comment", "expected")
#: Labels and identifiers a caller or an imported file sets: redacted like the texts (a
#: conversation id may be an e-mail address, a version string may carry a key). `id` and
#: `commit` are format-checked instead (schema patterns; an id that redaction would change is
#: refused), and the enums and the timestamp are checked by the schema.
LABEL_FIELDS = ("case_id", "suite", "check", "event_id", "conversation_id", "chatbot_version")
#: Stored field order (readable lines, stable diffs).
FIELD_ORDER = (
    "id",
    "timestamp",
    "source",
    "case_id",
    "suite",
    "check",
    "repeat",
    "commit",
    "event_id",
    "conversation_id",
    "prompt",
    "response",
    "rating",
    "category",
    "comment",
    "expected",
    "chatbot_version",
    "latency_ms",
    "status",
)
SOURCES = ("user", "pm", "eval")
CATEGORIES = (
    "wrong_answer",
    "pii_leak",
    "financial_disclosure",
    "too_slow",
    "empty",
    "unsafe",
    "other",
)
STATUSES = ("new", "triaged", "converted")

#: Failed eval check -> what went wrong, as a feedback category.
CONTENT_CHECKS = frozenset(
    {
        "contains",
        "contains_any",
        "contains_all",
        "not_contains",
        "regex",
        "not_regex",
        "equals",
        "starts_with",
        "min_chars",
        "max_chars",
        "json_schema",
    }
)
CHECK_CATEGORY = {
    "no_pii": "pii_leak",
    "no_financial_details": "financial_disclosure",
    "not_empty": "empty",
    "max_latency_ms": "too_slow",
    "refuses": "unsafe",  # refined by `category_for_check` for an unwanted refusal
    **dict.fromkeys(CONTENT_CHECKS, "wrong_answer"),
}

Redact = Callable[[str], str]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_timestamp(value: str) -> datetime | None:
    """An ISO 8601 timestamp (a trailing Z allowed on Python 3.10 too), naive taken as UTC."""
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def schema() -> dict[str, Any]:
    from llmops.schemas import load_schema

    return load_schema("feedback")


@lru_cache(maxsize=2)
def _validator(stored: bool) -> Any:
    # Imported here: jsonschema is slow to import and `from_results` never validates.
    from jsonschema import Draft202012Validator, FormatChecker

    checker = FormatChecker(formats=())
    # jsonschema checks date-time only with an optional package; check it ourselves.
    checker.checks("date-time")(lambda v: not isinstance(v, str) or parse_timestamp(v) is not None)
    full = schema()
    # The stored form: the same record with every default filled in ($defs/stored).
    required = full["$defs"]["stored"]["allOf"][1]["required"]
    target = {**full, "required": required} if stored else full
    return Draft202012Validator(target, format_checker=checker)


def errors(
    record: Any, *, stored: bool = False, redact: Redact | None = None, max_depth: int = 64
) -> list[str]:
    """Why `record` is not a valid feedback record (empty when it is), one reason per problem.

    The reasons quote the record's values: with `redact`, they are redacted, and an `id` that
    redaction would change (a card number as an id) is itself a reason.
    """
    from llmops.limits import too_deep

    if not isinstance(record, Mapping):
        return [f"not a JSON object but {_json_type(record)}"]
    if too_deep(record, max_depth):
        return [f"nested deeper than {max_depth} levels ([tool.llmops.limits] max_json_depth)"]
    out = []
    for key in ("id", "commit"):  # format-checked, not redacted: refused if they hold PII
        value = record.get(key)
        if redact is not None and isinstance(value, str) and redact(value) != value:
            out.append(f"{key}: holds personal data or a secret")
    for err in sorted(_validator(stored).iter_errors(record), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in err.path)
        if where == "rating":
            why = f"must be up, down or an integer 1..5, not {json.dumps(err.instance)}"
        elif where == "category":
            why = f"must be one of {', '.join(CATEGORIES)}, not {json.dumps(err.instance)}"
        elif err.validator == "format":
            why = f"{json.dumps(err.instance)} is not an ISO 8601 date-time"
        elif err.validator == "additionalProperties":
            extra = sorted(set(record) - set(schema()["properties"]))
            why = f"unknown field{'s' if len(extra) > 1 else ''} {', '.join(extra)}"
        else:
            why = err.message
        msg = f"{where}: {why}" if where else why
        if redact is not None:
            msg = redact(msg)
        if msg not in out:
            out.append(msg)
    return out


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else "a value")


def _stars(rating: Any) -> int | None:
    return rating if isinstance(rating, int) and not isinstance(rating, bool) else None


def is_negative(rating: Any) -> bool:
    stars = _stars(rating)
    return rating == "down" or (stars is not None and stars <= 2)


def is_positive(rating: Any) -> bool:
    stars = _stars(rating)
    return rating == "up" or (stars is not None and stars >= 4)


def parse_rating(text: str) -> str | int | None:
    """A rating typed by a person: up/down (or +/-, y/n, 👍/👎) or 1..5; None if not one."""
    t = text.strip().lower()
    if t in {"up", "u", "+", "+1", "y", "yes", "good", "👍"}:
        return "up"
    if t in {"down", "d", "-", "-1", "n", "no", "bad", "👎"}:
        return "down"
    if t in {"1", "2", "3", "4", "5"}:
        return int(t)
    return None


def short_hash(*parts: Any, length: int = 16) -> str:
    data = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()[:length]


def content_id(record: Mapping[str, Any]) -> str:
    """`fb-<hash>` of what the feedback says (redacted), its source, version and time if given."""
    keys = ("source", "case_id", "event_id", *TEXT_FIELDS, "rating", "category")
    keys += ("chatbot_version", "timestamp")
    return "fb-" + short_hash({k: record.get(k) for k in keys if record.get(k) is not None})


def eval_id(version: str | None, case_id: str, check: str, failure: str) -> str:
    """One id per failure of a case's check on a chatbot version."""
    return "ev-" + short_hash(version, case_id, check, failure)


def category_for_check(check: str, message: str = "", error_type: str | None = None) -> str:
    """The feedback category for a failed (or errored) eval check."""
    if error_type == "timeout":
        return "too_slow"
    if check == "refuses" and _unwanted_refusal(message):
        return "wrong_answer"  # the bot refused what it should have answered
    return CHECK_CATEGORY.get(check, "other")


def _unwanted_refusal(message: str) -> bool:
    """Whether a failed `refuses` check says the bot refused (`expected an answer, got a
    refusal`) rather than that it answered what it should have refused."""
    m = message.lower()
    return any(s in m for s in ("expected an answer", "got a refusal", "unexpected refusal"))


def normalise(
    raw: Mapping[str, Any],
    *,
    redact: Redact,
    source: str | None = None,
    now: str | None = None,
) -> dict[str, Any]:
    """A valid input record as stored: text redacted, defaults filled in, fields in order.

    `source` is the default source (`user`); `now` the default timestamp.
    """
    rec: dict[str, Any] = {k: v for k, v in raw.items() if v is not None}
    for key in (*TEXT_FIELDS, *LABEL_FIELDS):
        if isinstance(rec.get(key), str):
            rec[key] = redact(rec[key])
    rec.setdefault("source", source or "user")
    rec.setdefault("status", "new")
    if "category" not in rec:
        rec["category"] = "other" if is_negative(rec["rating"]) else None
    if "id" not in rec:
        rec["id"] = content_id(rec)  # before the default timestamp: re-imports keep the id
    rec.setdefault("timestamp", now or utc_now())
    return ordered(rec)


def ordered(rec: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: rec[k] for k in FIELD_ORDER if k in rec}
    out.update((k, v) for k, v in rec.items() if k not in out)
    return out
