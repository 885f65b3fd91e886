"""Feedback coming in: imported files (JSON array or JSONL) and failed eval checks.

Both validate or build records, redact their text, and append them to the store, where an id
already stored is skipped: re-importing a file or re-running the evals of a commit adds nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.errors import InputError
from llmops.feedback.records import (
    Redact,
    category_for_check,
    errors,
    eval_id,
    normalise,
    ordered,
    utc_now,
)
from llmops.feedback.store import FeedbackStore
from llmops.limits import Limits

_HEX = re.compile(r"[0-9a-fA-F]{1,64}")
#: Failed "checks" that are about the suite, not the chatbot: a case file that does not load.
NOT_CHATBOT = frozenset({"case_file"})


@dataclass
class ImportReport:
    added: int = 0
    duplicates: int = 0
    invalid: list[str] = field(default_factory=list)  # `FILE: record N: why`


def read_records(path: Path) -> list[tuple[int, Any, str | None]]:
    """`(N, record, error)` for each record of a JSON array, a JSON object or JSONL (N from 1)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array: one document
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
        except RecursionError as exc:
            raise InputError(f"{path}: JSON nested too deeply to read") from exc
        return [(n, rec, None) for n, rec in enumerate(data, 1)]
    if stripped.startswith("{"):
        try:  # a single (maybe pretty-printed) object
            return [(1, json.loads(text), None)]
        except (json.JSONDecodeError, RecursionError):
            pass  # JSONL
    out: list[tuple[int, Any, str | None]] = []
    n = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        n += 1
        try:
            out.append((n, json.loads(line), None))
        except json.JSONDecodeError as exc:
            out.append((n, None, f"line {lineno}: invalid JSON: {exc.msg}"))
        except RecursionError:  # the C decoder's own bound, well past any record's depth
            out.append((n, None, f"line {lineno}: JSON nested too deeply to read"))
    return out


def import_file(
    path: Path, store: FeedbackStore, *, redact: Redact, max_depth: int = Limits.max_json_depth
) -> ImportReport:
    """Validate every record of `path`; store the valid ones (redacted), report the others
    (their reasons redacted too: a reason quotes the value it refuses)."""
    report = ImportReport()
    now = utc_now()
    valid = []
    for n, rec, problem in read_records(Path(path)):
        why = [problem] if problem else errors(rec, redact=redact, max_depth=max_depth)
        if why:
            report.invalid.append(f"{path}: record {n}: {'; '.join(why)}")
            continue
        valid.append(normalise(rec, redact=redact, now=now))
    result = store.append(valid)
    report.added, report.duplicates = len(result.added), len(result.duplicates)
    return report


def from_results(
    results: Mapping[str, Any], store_path: Path, *, redact: Redact | None = None
) -> int:
    """Store one `source: eval` record per failed or errored check of a results document
    (`reports/results.json`); returns how many were new.

    Ids derive from the chatbot version (else the target), case, check and kind of failure: the
    same failure of the same case and version is recorded once, however many runs, commits or
    repeats see it again.
    Text is redacted again (`llmops.pii.redact` unless `redact` is given): results hold
    redacted text already, but a feedback file must never depend on that.
    """
    run = results.get("run") or {}
    failed = [
        r
        for r in results.get("results") or ()
        if r.get("outcome") in ("failed", "error") and r.get("check") not in NOT_CHATBOT
    ]
    if not failed:
        return 0
    if redact is None:
        from llmops.pii import redact
    commit = run.get("git_commit")
    version = run.get("chatbot_version")
    run_key = f"{version or run.get('target') or ''}"
    when = run.get("finished_at") or run.get("started_at") or utc_now()
    records = []
    for r in failed:
        case_id, check = str(r.get("case_id")), str(r.get("check"))
        message = r.get("message") or ""
        suite = r.get("suite")
        category = category_for_check(check, message, r.get("error_type"))
        rec = {
            "id": eval_id(run_key, case_id, check, f"{r.get('outcome')}/{category}"),
            "timestamp": when,
            "source": "eval",
            # A results file is input too: its labels are redacted like its texts.
            "case_id": redact(case_id),
            "suite": redact(suite) if isinstance(suite, str) else None,
            "check": redact(check),
            "repeat": r.get("repeat"),
            "commit": commit
            if isinstance(commit, str) and _HEX.fullmatch(commit) and redact(commit) == commit
            else None,
            "prompt": redact(r.get("prompt") or ""),
            "response": redact(r["response_excerpt"]) if r.get("response_excerpt") else None,
            "rating": "down",
            "category": category,
            "comment": redact(f"{r.get('outcome')}: {message}".strip()),
            "chatbot_version": redact(version) if isinstance(version, str) else None,
            "latency_ms": r.get("latency_ms"),
            "status": "new",
        }
        records.append(ordered({k: v for k, v in rec.items() if v is not None}))
    return len(FeedbackStore(store_path).append(records).added)


def from_results_file(path: Path, store_path: Path, *, redact: Redact | None = None) -> int:
    return from_results(read_results_file(path), store_path, redact=redact)


def read_results_file(path: Path) -> dict[str, Any]:
    """A results document (`reports/results.json`); InputError naming the file if it is not one.

    Only its shape is checked, not the schema (`llmops.gate.read_results`): feedback takes what
    it can from any run, a gate must refuse what it cannot vouch for.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file (run `pytest evals/` first)") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise InputError(f"{path}: not an llmops results file (no `results` list)")
    return data
