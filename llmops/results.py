"""Results: one record per check of one exchange, and the `results.json` document (see
`schemas/results.schema.json`). Text enters a record only redacted; findings are typed spans.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmops import __version__
from llmops.cases import Case
from llmops.checks import Verdict
from llmops.quantiles import quantiles
from llmops.runner import Exchange

EXCERPT_CHARS = 300
OUTCOMES = ("passed", "failed", "error", "skipped")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def excerpt(text: str | None, redact: Any, limit: int = EXCERPT_CHARS) -> str | None:
    """Redact the whole text first (a cut must never split a value and leak half), then cut."""
    if text is None:
        return None
    clean = redact(text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def record(
    case: Case,
    check: str,
    outcome: str,
    *,
    redact: Any,
    message: str = "",
    exchange: Exchange | None = None,
    verdict: Verdict | None = None,
    repeat: int = 1,
) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "file": case.file,
        "line": case.line,
        "suite": case.suite,
        "tags": case.tag_list,
        "severity": case.severity,
        "check": check,
        "prompt": excerpt(case.prompt, redact),
        "repeat": repeat,
        "outcome": outcome,
        "message": redact(message),
        "latency_ms": round(exchange.latency_ms, 3)
        if exchange and exchange.latency_ms is not None
        else None,
        "error_type": exchange.error_type if exchange else None,
        "response_excerpt": excerpt(exchange.response, redact) if exchange else None,
        "findings": [
            {k: f[k] for k in ("type", "start", "end", "score") if k in f}
            for f in (verdict.findings if verdict else ())
        ],
    }


def exchanges(
    asked: Mapping[tuple[str, int], Exchange], redactor: Any
) -> tuple[list[dict[str, Any]], dict[tuple[str, int], int]]:
    """Every exchange once, whole and redacted (the evidence a check's excerpt points into), and
    the index of each (case_id, repeat) in that list. `redactor(exchange)` gives the redaction
    for that exchange: with its conversation as context, so a value the user gave and the
    answer echoes is redacted in the answer too."""
    out: list[dict[str, Any]] = []
    index: dict[tuple[str, int], int] = {}
    for key in sorted(asked):
        ex = asked[key]
        redact = redactor(ex)
        index[key] = len(out)
        usage = {k: v for k, v in (ex.usage or {}).items()
                 if isinstance(v, int) and not isinstance(v, bool)}
        out.append({
            "case_id": key[0],
            "repeat": key[1],
            "messages": [{"role": m.get("role", ""), "content": redact(m.get("content") or "")}
                         for m in ex.messages],
            "response": redact(ex.response) if ex.response is not None else None,
            "latency_ms": round(ex.latency_ms, 3) if ex.latency_ms is not None else None,
            "first_token_ms": round(ex.first_token_ms, 3)
            if ex.first_token_ms is not None else None,
            "error_type": ex.error_type,
            "error": redact(ex.error) if ex.error else None,
            "attempts": ex.attempts,
            "finish_reason": ex.finish_reason,
            "usage": usage,
            **({"generation": ex.generation} if ex.generation is not None else {}),
        })
    return out, index


def file_error_record(file: str, line: int | None, message: str) -> dict[str, Any]:
    """A case file that does not load is itself a failing record: it must block, not vanish."""
    return {
        "case_id": file,
        "file": file,
        "line": line,
        "suite": "case-files",
        "tags": [],
        "severity": "critical",
        "check": "case_file",
        "prompt": None,
        "repeat": 1,
        "outcome": "error",
        "message": message,
        "latency_ms": None,
        "error_type": None,
        "response_excerpt": None,
        "findings": [],
    }


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {o: 0 for o in OUTCOMES}
    for r in records:
        counts[r["outcome"]] += 1
    executed = counts["passed"] + counts["failed"] + counts["error"]
    summary: dict[str, Any] = {
        "cases": len({r["case_id"] for r in records if r["check"] != "case_file"}),
        "checks": executed,
        "passed": counts["passed"],
        "failed": counts["failed"],
        "errors": counts["error"],
        "skipped": counts["skipped"],
        "pass_rate": round(counts["passed"] / executed, 6) if executed else 0.0,
        "error_rate": round(counts["error"] / executed, 6) if executed else 0.0,
        "latency_ms": {"p50": None, "p95": None, "p99": None, "max": None},
        "suites": {},
    }
    # One latency per exchange (not per check), of exchanges that got an answer.
    latency: dict[tuple[Any, Any], float] = {}
    for r in records:
        if r.get("error_type") is None and r.get("latency_ms") is not None:
            latency.setdefault((r["case_id"], r.get("repeat")), float(r["latency_ms"]))
    if latency:
        values = list(latency.values())
        p50, p95, p99 = quantiles(values, (0.5, 0.95, 0.99))
        summary["latency_ms"] = {
            "p50": round(p50, 3),
            "p95": round(p95, 3),
            "p99": round(p99, 3),
            "max": round(max(values), 3),
        }
    suites: dict[str, dict[str, int]] = {}
    for r in records:
        if r["outcome"] == "skipped":
            continue
        g = suites.setdefault(str(r["suite"]), {"checks": 0, "passed": 0, "failed": 0, "errors": 0})
        g["checks"] += 1
        g[{"passed": "passed", "failed": "failed", "error": "errors"}[r["outcome"]]] += 1
    for name in sorted(suites):
        g = suites[name]
        summary["suites"][name] = {**g, "pass_rate": round(g["passed"] / g["checks"], 6)}
    return summary


#: Files that decide a run's outcome without being cases or code of the bot: an untracked or
#: ignored one (an `evals/conftest.py` that passes every check) makes the tree dirty.
RUN_INPUTS = (
    "pyproject.toml", "pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg",
    ":(glob)**/conftest.py", ":(glob)*.py", "evals",
)
#: Most dirty paths named in a results file.
DIRTY_SHOWN = 20


def git_info(root: Path, inputs: Iterable[str | Path] = ()) -> dict[str, Any]:
    """Commit, branch and dirtiness of the work tree; None where git has no answer.

    Dirty: a tracked file changed anywhere, or an untracked or ignored file among the run's
    inputs (`RUN_INPUTS` plus `inputs`: the cases directory, the chatbot versions directory).
    Byte-code caches do not count.
    """

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout

    commit = (git("rev-parse", "HEAD") or "").strip()
    branch = (git("rev-parse", "--abbrev-ref", "HEAD") or "").strip()
    top = (git("rev-parse", "--show-toplevel") or "").strip()
    status = git("status", "--porcelain", "--untracked-files=no")
    paths: list[str] = []
    if status is not None and top:
        specs = [*RUN_INPUTS, *(_pathspec(root, p) for p in inputs)]
        extra = git("status", "--porcelain", "--untracked-files=all", "--ignored=traditional",
                    "--", *[s for s in specs if s]) or ""
        for line in (status + extra).splitlines():
            path = line[3:].strip()
            if "__pycache__/" in path or path.endswith((".pyc", ".pyo")):
                continue
            if path and path not in paths:
                paths.append(path)
    return {
        "git_commit": commit or None,
        "git_branch": None if branch in ("", "HEAD") else branch,
        "git_dirty": None if status is None else bool(paths),
        "git_dirty_paths": paths[:DIRTY_SHOWN],
    }


def _pathspec(root: Path, path: str | Path) -> str | None:
    """`path` relative to `root` for git, or None when it lies outside the project."""
    p = Path(path)
    try:
        rel = (p if p.is_absolute() else root / p).resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return rel.as_posix() if str(rel) != "." else None


#: Version of the results.json format: 2 added selection and coverage, and `stats` and
#: `case_stats` for repeated samples.
SCHEMA_VERSION = 2


def document(
    records: list[dict[str, Any]],
    *,
    started_at: str,
    target: str,
    chatbot_version: str | None,
    cases_digest: str,
    root: Path,
    repeat: int = 1,
    repeat_max: int | None = None,
    concurrency: int = 1,
    case_file_errors: Iterable[str] = (),
    selection: dict[str, Any] | None = None,
    coverage: dict[str, Any] | None = None,
    inputs: Iterable[str | Path] = (),
    extra_run: dict[str, Any] | None = None,
    thresholds: Mapping[str, float] | None = None,
    statistical: bool = False,
) -> dict[str, Any]:
    """The results document. A `statistical` run (more than one sample of a case, or a case
    whose `min_pass_rate` is below 1) also gets `stats` and `case_stats`: rates, intervals and
    verdicts against `thresholds` (case id -> min_pass_rate; needs scipy)."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "id": uuid.uuid4().hex,
            "started_at": started_at,
            "finished_at": now_iso(),
            **git_info(root, inputs),
            "target": target,
            "chatbot_version": chatbot_version,
            "cases_digest": cases_digest,
            "llmops_version": __version__,
            "repeat": repeat,
            **({"repeat_max": repeat_max} if repeat_max else {}),
            "requests": len({(r["case_id"], r.get("repeat") or 1) for r in records
                             if r["check"] != "case_file" and r["outcome"] != "skipped"}),
            "concurrency": concurrency,
            "case_file_errors": list(case_file_errors),
            "selection": selection or {},
            **({"coverage": coverage} if coverage is not None else {}),
            **(extra_run or {}),
        },
        "summary": summarize(records),
        "results": records,
    }
    if statistical:
        add_stats(doc, thresholds or {})
    return doc


def add_stats(doc: dict[str, Any], thresholds: Mapping[str, float]) -> None:
    """Add `stats`, `case_stats` and the summary's statistics to a results document."""
    from llmops import stats

    checks = stats.check_stats(doc["results"], thresholds)
    cases = stats.case_stats(doc["results"], checks)
    doc["summary"].update(stats.summary_fields(checks, cases))
    doc["stats"] = checks
    doc["case_stats"] = cases
