"""The gate: may these eval results go to `stable`? Pure policy over a results file.

Fail-closed by construction: results that are missing, unreadable or not valid against
`schemas/results.schema.json` raise `InputError` (exit 2) instead of producing a decision, and an
empty run (no checks) blocks. Every figure is recomputed from the per-check records rather than
read from `summary`, so a hand-edited summary cannot open the gate; only the p95 latency comes from
the summary, where the plugin computed it over exchanges (not over checks).

`evaluate(results, policy, baseline)` returns a `Decision`, which renders itself as text lines, a
JSON object, a Markdown job summary and GitHub `::error` annotations.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops import coverage, integrity
from llmops.errors import InputError
from llmops.schemas import load_schema
from llmops.textsafe import md_text, one_line

if TYPE_CHECKING:  # jsonschema loads when results are read, not when an eval run shows its gate
    from jsonschema import Draft202012Validator

FAILING = frozenset({"failed", "error"})
#: Checks whose failure blocks whatever its severity: a leak is never an acceptable percentage.
DEFAULT_BLOCK_CHECKS = ("no_pii", "no_financial_details", "case_file")
DEFAULT_BLOCK_SEVERITIES = ("critical",)
#: How many failing checks the Markdown summary lists; the rest are in the results artifact.
SUMMARY_ROWS = 50
EXCERPT_CHARS = 200


@dataclass(frozen=True)
class Results:
    """A validated results file: its parsed data, where it came from and the sha256 of its bytes."""

    data: dict[str, Any]
    path: Path
    digest: str

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.data["results"]

    @property
    def commit(self) -> str | None:
        return self.data["run"].get("git_commit")


def read_results(path: str | Path) -> Results:
    """Load and validate a results file; any problem is an `InputError` naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        from llmops.reportdir import busy

        owner = busy(path.parent) if path.parent.is_dir() else None
        if owner:
            raise InputError(f"{path}: no such results file: an eval run ({owner}) is writing "
                             "this reports directory now; gate it when it is done") from None
        raise InputError(f"{path}: no such results file (run `pytest evals/` first)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read results: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=integrity.reject_constant)
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError):
            raise InputError(
                f"{path}:{exc.lineno}: results are not valid JSON: {exc.msg}"
            ) from exc
        if isinstance(exc, UnicodeDecodeError):
            raise InputError(f"{path}: results are not UTF-8 text: {exc.reason}") from exc
        raise InputError(f"{path}: results are not valid JSON: {exc}") from exc
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(data))
    if error is not None:
        raise InputError(
            f"{path}: results do not match the schema at {error.json_path}: {error.message}"
        )
    return Results(data=data, path=path, digest=hashlib.sha256(raw).hexdigest())


def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema("results"))


@dataclass(frozen=True)
class Policy:
    """`[tool.llmops.gate]`. A limit set to None (`false` in TOML) is not enforced."""

    min_pass_rate: float | None = 0.98
    max_p95_latency_ms: float | None = 3000.0
    max_error_rate: float | None = 0.02
    block_checks: tuple[str, ...] = DEFAULT_BLOCK_CHECKS
    block_severities: tuple[str, ...] = DEFAULT_BLOCK_SEVERITIES
    #: Red team: the least share of probes resisted per OWASP category ("*": every category).
    min_resist_rate: Mapping[str, float] | None = None
    #: Selections a partial run may have and still pass (e.g. `[{markers = "smoke"}]`); by
    #: default none: every case the commit defines must have run.
    allow_subsets: tuple[Mapping[str, Any], ...] = ()
    #: The chance, over a whole run with repeats, of calling noise a regression.
    alpha: float = 0.05

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str = "[tool.llmops.gate]") -> Policy:
        """Build from the config table; unknown keys and bad values are `InputError`s."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(table) - known)
        if unknown:
            raise InputError(
                f"{source}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        values: dict[str, Any] = {}
        for key in ("min_pass_rate", "max_p95_latency_ms", "max_error_rate"):
            if key in table:
                values[key] = _limit(table[key], key, source)
        for key in ("min_pass_rate", "max_error_rate"):
            if values.get(key) is not None and not 0 <= values[key] <= 1:
                raise InputError(f"{source}: {key} must be between 0 and 1, not {table[key]!r}")
        if "min_resist_rate" in table:
            from llmops.redteam.report import parse_min_resist_rate

            values["min_resist_rate"] = parse_min_resist_rate(table["min_resist_rate"], source)
        if "alpha" in table:
            alpha = table["alpha"]
            if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
                raise InputError(f"{source}: alpha must be a number between 0 and 1 (exclusive), "
                                 f"not {alpha!r}")
            values["alpha"] = float(alpha)
        for key in ("block_checks", "block_severities"):
            if key in table:
                value = table[key]
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise InputError(f"{source}: {key} must be a list of strings")
                values[key] = tuple(value)
        if "allow_subsets" in table:
            values["allow_subsets"] = _subsets(table["allow_subsets"], source)
        return cls(**values)


def _subsets(value: Any, source: str) -> tuple[Mapping[str, Any], ...]:
    keys = coverage.SELECTION_KEYS
    if not isinstance(value, list) or not all(isinstance(v, Mapping) and v for v in value):
        raise InputError(f"{source}: allow_subsets must be a list of tables such as "
                         '{markers = "smoke"}')
    for entry in value:
        for k, v in entry.items():
            if k not in keys:
                raise InputError(f"{source}: allow_subsets: unknown key {k!r} "
                                 f"(known: {', '.join(keys)})")
            if not isinstance(v, str) or not v:
                raise InputError(f"{source}: allow_subsets: {k} must be a non-empty string")
    return tuple(dict(v) for v in value)


def _limit(value: Any, key: str, source: str) -> float | None:
    if value is False or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{source}: {key} must be a number (or false to disable), not {value!r}")
    return float(value)


@dataclass(frozen=True)
class Rule:
    """One threshold rule as evaluated: shown as a row in the summary table."""

    name: str
    label: str
    value: str
    limit: str
    ok: bool


@dataclass(frozen=True)
class Reason:
    """Why the gate blocks; `record` is the failing check behind it, when there is one."""

    rule: str
    message: str
    record: Mapping[str, Any] | None = None


@dataclass
class Decision:
    allowed: bool
    reasons: list[Reason]
    rules: list[Rule]
    metrics: dict[str, Any]
    failures: list[Mapping[str, Any]]
    regressions: list[Mapping[str, Any]] = field(default_factory=list)
    #: With repeats: every (case, check)'s rate, interval and verdict (results.json's `stats`).
    rates: list[Mapping[str, Any]] = field(default_factory=list)
    run: Mapping[str, Any] = field(default_factory=dict)
    results_path: str | None = None
    digest: str | None = None
    baseline_digest: str | None = None

    @property
    def verdict(self) -> str:
        return "allowed" if self.allowed else "blocked"

    def summary_line(self) -> str:
        """One line for tag messages and listings: the verdict and the headline figures."""
        m = self.metrics
        parts = [
            f"pass rate {_pct(m['pass_rate'])} ({m['passed']}/{m['counted']})",
            f"p95 {_ms(m['p95_latency_ms'])}",
            f"error rate {_pct(m['error_rate'])}",
        ]
        if not self.allowed:
            parts.append(f"{len(self.reasons)} blocking reason(s)")
        return f"gate {self.verdict}: " + ", ".join(parts)

    def lines(self) -> list[str]:
        """The human-readable report: each rule, then each reason."""
        out = [f"llmops gate: {self.verdict.upper()}  {self.results_path or ''}".rstrip()]
        if self.run.get("git_commit"):
            out.append(f"  commit {self.run['git_commit']}  target {self.run.get('target', '?')}")
        for rule in self.rules:
            mark = "ok  " if rule.ok else "FAIL"
            out.append(f"  {mark} {rule.label}: {rule.value} (limit {rule.limit})")
        out.extend(f"  {line}" for line in self._baseline_lines())
        if self.rates:
            out.append(f"  pass rates: {self._rates_line()}")
            for r in _stats().notable(self.rates)[:SUMMARY_ROWS]:
                out.append(f"    {r['verdict']:<9} {_stats().rate_text(r):<24} "
                           f"{r['case_id']} [{r['check']}]" + (" flaky" if r["flaky"] else ""))
        if self.reasons:
            out.append("blocked because:")
            out.extend(f"  - {reason.message}" for reason in self.reasons)
        # A results file is input: its strings reach the terminal without control characters.
        return [one_line(line) for line in out]

    def _rates_line(self) -> str:
        st = _stats()
        return st.summary_text(st.summary_fields(self.rates, []))

    def _baseline_lines(self) -> list[str]:
        """The overall pass rate and p95 against the baseline, each with its 95% interval."""
        b = self.metrics.get("baseline")
        if not b:
            return []
        rate, p95 = b["pass_rate"], b["p95_latency_ms"]
        return [
            f"vs baseline: pass rate {_pct(rate['base'])} -> {_pct(rate['new'])} "
            f"(change {_pts(rate['diff'])}, 95% interval {_span(rate, _pts)})",
            f"vs baseline: p95 latency {_ms(p95['base'])} -> {_ms(p95['new'])} "
            f"(change {_signed_ms(p95['diff'])}, 95% interval {_span(p95, _signed_ms)})",
            f"vs baseline: {b['compared_checks']} checks compared by {b['method']} "
            f"(α {b['alpha']:g}, K {b['tarone_k']})",
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "verdict": self.verdict,
            "summary": self.summary_line(),
            "results": self.results_path,
            "results_sha256": self.digest,
            "baseline_sha256": self.baseline_digest,
            "commit": self.run.get("git_commit"),
            "metrics": self.metrics,
            "rules": [rule.__dict__ for rule in self.rules],
            "reasons": [
                {"rule": r.rule, "message": r.message, **_locate(r.record)} for r in self.reasons
            ],
            "failures": [_brief(rec) for rec in self.failures],
            "regressions": [dict(reg) for reg in self.regressions],
        }

    def markdown(self) -> str:
        """A GitHub job summary: verdict, rules table, reasons, the first failing checks."""
        icon = "✅" if self.allowed else "❌"
        out = [f"## {icon} llmops gate: {self.verdict}", ""]
        meta = []
        # Every string from the results is escaped (HTML and Markdown): a chatbot's error body
        # must not put an <img> or a link into the job summary.
        if self.results_path:
            meta.append(f"results {md_text(self.results_path)}")
        if self.run.get("git_commit"):
            meta.append(f"commit {md_text(str(self.run['git_commit'])[:12])}")
        if self.run.get("target"):
            meta.append(f"target {md_text(self.run['target'])}")
        if self.digest:
            meta.append(f"sha256 `{self.digest[:16]}…`")
        if meta:
            out += [", ".join(meta), ""]
        out += ["| Rule | Value | Limit | |", "|---|---|---|---|"]
        for rule in self.rules:
            out.append(
                f"| {rule.label} | {rule.value} | {rule.limit} | {'✅' if rule.ok else '❌'} |"
            )
        if self.metrics.get("baseline"):
            out += ["", "### Against the baseline", ""]
            out += [f"- {_md(line.removeprefix('vs baseline: '))}"
                    for line in self._baseline_lines()]
            if self.regressions:
                out += ["", "| Case | Check | Baseline | Now | p (one-sided) |",
                        "|---|---|---|---|---|"]
                for reg in self.regressions[:SUMMARY_ROWS]:
                    out.append(
                        f"| `{_md(reg['case_id'])}` | `{_md(reg['check'])}` "
                        f"| {reg['base_passed']}/{reg['base_samples']} "
                        f"| {reg['new_passed']}/{reg['new_samples']} | {reg['p_value']:.2g} |"
                    )
        if self.rates:
            rows = _stats().notable(self.rates)
            out += ["", "### Pass rates (95% Wilson intervals)", "", _md(self._rates_line())]
            if rows:
                out += ["", "| Verdict | Case | Check | Pass rate [95% interval] | Min | Flaky |",
                        "|---|---|---|---|---|---|"]
                for r in rows[:SUMMARY_ROWS]:
                    out.append(
                        f"| {r['verdict']} | `{_md(r['case_id'])}` | `{_md(r['check'])}` "
                        f"| {_stats().rate_text(r)} | {_stats().pct(r['min_pass_rate'])} "
                        f"| {'yes' if r['flaky'] else ''} |"
                    )
                if len(rows) > SUMMARY_ROWS:
                    out.append(f"\n… and {len(rows) - SUMMARY_ROWS} more in the results artifact.")
        if self.reasons:
            out += ["", "### Why it is blocked", ""]
            out += [f"- {_md(reason.message)}" for reason in self.reasons[:SUMMARY_ROWS]]
            if len(self.reasons) > SUMMARY_ROWS:
                out.append(f"- … and {len(self.reasons) - SUMMARY_ROWS} more")
        if self.failures:
            out += [
                "",
                f"### Failing checks ({len(self.failures)})",
                "",
                "| Case | Check | Severity | Where | Message |",
                "|---|---|---|---|---|",
            ]
            for rec in self.failures[:SUMMARY_ROWS]:
                where = f"{rec['file']}:{rec['line']}" if rec.get("line") else rec["file"]
                out.append(
                    f"| {_md(rec['case_id'])} | {_md(rec['check'])} | {_md(rec['severity'])} "
                    f"| {_md(where)} | {_md(_message(rec))} |"
                )
            if len(self.failures) > SUMMARY_ROWS:
                rest = len(self.failures) - SUMMARY_ROWS
                out.append(f"\n… and {rest} more in the results artifact.")
        return "\n".join(out) + "\n\n"

    def annotations(self, root: Path | None = None, base: Path | None = None) -> list[str]:
        """GitHub workflow commands, one `::error` per failing check, blocking ones first.

        File paths are made relative to `root` (the repository root) so GitHub can place the
        annotation on the case's own YAML line in a pull request; relative paths in the results
        are taken as relative to `base` (the project root, where the plugin ran).
        """
        out = []
        for rec in self.failures:
            props = {"file": _relative(rec["file"], root, base)}
            if rec.get("line"):
                props["line"] = str(rec["line"])
            props["title"] = f"llmops {rec['severity']} {rec['check']} {rec['outcome']}"
            head = ",".join(f"{k}={_escape_property(v)}" for k, v in props.items())
            text = f"{rec['case_id']} {rec['check']}: {_message(rec)}"
            out.append(f"::error {head}::{escape_data(one_line(text))}")
        return out


def evaluate(
    results: Results | Mapping[str, Any],
    policy: Policy | None = None,
    baseline: Results | Mapping[str, Any] | None = None,
    *,
    key: bytes | None = None,
) -> Decision:
    """Apply `policy` to `results` (and, when given, forbid regressions against `baseline`).
    With a signing `key` (CI's `LLMOPS_RESULTS_KEY`), results not signed with it block."""
    policy = policy or Policy()
    data = results.data if isinstance(results, Results) else results
    records: list[Mapping[str, Any]] = data["results"]
    counted = [r for r in records if r["outcome"] != "skipped"]
    passed = sum(r["outcome"] == "passed" for r in counted)
    failed = sum(r["outcome"] == "failed" for r in counted)
    # A broken case file blocks on its own (a `case_file` record); the error rate is the target's.
    errors = sum(r["outcome"] == "error" and r["check"] != "case_file" for r in counted)
    n = len(counted)
    p95 = data["summary"]["latency_ms"].get("p95")
    metrics: dict[str, Any] = {
        "checks": len(records),
        "counted": n,
        "passed": passed,
        "failed": failed,
        "errors": errors,
        "skipped": len(records) - n,
        "pass_rate": passed / n if n else None,
        "error_rate": errors / n if n else None,
        "p95_latency_ms": p95,
    }

    reasons: list[Reason] = []
    rules: list[Rule] = []
    if not n:
        reasons.append(Reason("no_checks", "no checks ran: an empty run proves nothing"))
    # Figures that do not add up mean the file was edited or broken: no decision rests on it.
    for problem in integrity.problems(data):
        reasons.append(Reason("inconsistent", f"the results do not add up: {problem}"))
    if key is not None and (why := integrity.verify(data, key)):
        reasons.append(Reason("signature", f"{why} ({integrity.KEY_ENV} is set, so only "
                                           "results signed with it count)"))
    cov = coverage.assess(data)
    metrics["coverage"] = {"defined": cov.defined, "covered": cov.covered,
                           "complete": cov.complete}
    subset = coverage.subset_allowed(data["run"].get("selection"), policy.allow_subsets)
    excused = subset is not None and cov.recorded and not cov.bad_skips
    value = f"{cov.covered}/{cov.defined} cases" if cov.recorded else "not recorded"
    limit = "every case" + (f" (subset {_selection(subset)} allowed)" if excused else "")
    coverage_rule = Rule("coverage", "Coverage", value, limit, cov.complete or excused)
    if not (cov.complete or excused):
        sel = _selection(data["run"].get("selection"))
        how = f" (selected with {sel})" if sel else ""
        shard = (data["run"].get("selection") or {}).get("shard")
        hint = (f" (one shard: merge all {shard.get('count')} with `llmops results merge`)"
                if isinstance(shard, Mapping) and shard.get("count") != 1 else "")
        reasons.append(Reason("coverage", f"partial run{how}: {cov.describe()}{hint}"))
    # The plugin writes a failing `case_file` record per broken file; the run's list is the
    # fallback for a results file that only has the list.
    if not any(r["check"] == "case_file" and r["outcome"] in FAILING for r in records):
        for message in data["run"].get("case_file_errors") or ():
            reasons.append(Reason("case_file", f"case file error: {message}"))

    # Per-record blocking: a critical case or a leak check failing is never averaged away. With
    # repeats, a critical case whose check met its min_pass_rate does not block; a leak always does.
    check_stats = _check_stats(data)
    met = {(r["case_id"], r["check"]) for r in check_stats
           if r["min_pass_rate"] < 1 and r["verdict"] == "passed"}
    blocking: list[Mapping[str, Any]] = []
    for rec in counted:
        if rec["outcome"] not in FAILING:
            continue
        if rec["check"] in policy.block_checks:
            kind = "blocked_check"
            label = f"{rec['check']} {rec['outcome']}"
        elif (rec["severity"] in policy.block_severities
              and (rec["case_id"], rec["check"]) not in met):
            kind = "severity"
            label = f"{rec['severity']} case {rec['check']} {rec['outcome']}"
        else:
            continue
        blocking.append(rec)
        reasons.append(Reason(kind, f"{label}: {_who(rec)}: {_message(rec)}", rec))
    leaks = sum(r["check"] in policy.block_checks for r in blocking)
    rules.append(
        Rule(
            "block_severities",
            f"Failing {'/'.join(policy.block_severities) or 'blocking'} cases",
            str(len(blocking) - leaks),
            "0",
            len(blocking) == leaks,
        )
    )
    rules.append(
        Rule(
            "block_checks", f"Failing {', '.join(policy.block_checks)}", str(leaks), "0", not leaks
        )
    )

    if policy.min_pass_rate is not None:
        rate = metrics["pass_rate"]
        ok = rate is not None and rate >= policy.min_pass_rate
        value = f"{_pct(rate)} ({passed}/{n})"
        rules.append(
            Rule("min_pass_rate", "Pass rate", value, f"≥ {_pct(policy.min_pass_rate)}", ok)
        )
        if not ok and n:
            reasons.append(
                Reason(
                    "min_pass_rate",
                    f"pass rate {value} is below the minimum {_pct(policy.min_pass_rate)}",
                )
            )
    if policy.max_p95_latency_ms is not None:
        limit = policy.max_p95_latency_ms
        ok = p95 is not None and p95 <= limit
        rules.append(Rule("max_p95_latency_ms", "p95 latency", _ms(p95), f"≤ {_ms(limit)}", ok))
        if not ok and n:
            why = "was not measured" if p95 is None else f"{_ms(p95)} is above"
            reasons.append(
                Reason("max_p95_latency_ms", f"p95 latency {why} the limit {_ms(limit)}")
            )
    if policy.max_error_rate is not None:
        rate = metrics["error_rate"]
        ok = rate is not None and rate <= policy.max_error_rate
        value = f"{_pct(rate)} ({errors}/{n})"
        rules.append(
            Rule("max_error_rate", "Error rate", value, f"≤ {_pct(policy.max_error_rate)}", ok)
        )
        if not ok and n:
            reasons.append(
                Reason(
                    "max_error_rate",
                    f"error rate {value} is above the maximum {_pct(policy.max_error_rate)} "
                    "(the target failed to answer)",
                )
            )

    if policy.min_resist_rate:
        _resist_rules(policy.min_resist_rate, records, rules, reasons)

    rules.append(coverage_rule)
    regressions: list[Mapping[str, Any]] = []
    baseline_digest = None
    if baseline is not None:
        base = baseline.data if isinstance(baseline, Results) else baseline
        baseline_digest = baseline.digest if isinstance(baseline, Results) else None
        regressions, comparison, how = compare_runs(base, data, policy.alpha)
        if comparison:
            metrics["baseline"] = comparison
        label = "Regressions vs baseline" + (f" ({how})" if comparison else "")
        rules.append(Rule("regressions", label, str(len(regressions)), "0", not regressions))
        for reg in regressions:
            reasons.append(Reason("regression", f"regression: {_regression_text(reg)}", reg))

    # Blocking failures first: GitHub shows only the first few annotations of a step.
    regressed = {(r["case_id"], r["check"]) for r in regressions}
    first = {id(r) for r in blocking}
    failures = [r for r in counted if r["outcome"] in FAILING]
    failures.sort(key=lambda r: (
        id(r) not in first and (r["case_id"], r["check"]) not in regressed,
        _severity_rank(r["severity"]),
    ))
    return Decision(
        allowed=not reasons,
        reasons=reasons,
        rules=rules,
        metrics=metrics,
        failures=failures,
        regressions=regressions,
        rates=check_stats,
        run=data["run"],
        results_path=str(results.path) if isinstance(results, Results) else None,
        digest=results.digest if isinstance(results, Results) else None,
        baseline_digest=baseline_digest,
    )


def _resist_rules(
    limits: Mapping[str, float],
    records: list[Mapping[str, Any]],
    rules: list[Rule],
    reasons: list[Reason],
) -> None:
    """`min_resist_rate`: one rule per OWASP category of red-team probes."""
    from llmops.redteam.report import resist_verdicts

    for category, row, limit, ok in resist_verdicts(limits, records):
        label = "Red-team probes resisted" + ("" if category == "*" else f", {category}")
        if row is None:
            value = "no probes ran"
        else:
            ci = ("" if row["ci_low"] is None
                  else f", 95% CI {_pct(row['ci_low'])}–{_pct(row['ci_high'])}")
            value = f"{_pct(row['resist_rate'])} ({row['resisted']}/{row['probes']}{ci})"
        rules.append(Rule("min_resist_rate", label, value, f"≥ {_pct(limit)}", ok))
        if not ok:
            what = "red-team probes" if category == "*" else f"{category} red-team probes"
            why = "none ran" if row is None else f"{value} were resisted"
            reasons.append(
                Reason("min_resist_rate", f"{what}: {why}; the minimum is {_pct(limit)}")
            )

def _check_stats(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per (case, check) rates and verdicts of a run with repeats or thresholds, recomputed from
    the records (only each case's min_pass_rate comes from `stats`); [] for single samples."""
    from llmops import stats

    thresholds = {s["case_id"]: s.get("min_pass_rate", 1.0) for s in data.get("stats") or ()}
    tallies = stats.tallies(data["results"])
    if not any(t < 1 for t in thresholds.values()) and all(
        t.samples <= 1 for t in tallies.values()
    ):
        return []
    stats.require()
    return stats.check_stats(data["results"], thresholds)


def compare_runs(
    base: Mapping[str, Any], new: Mapping[str, Any], alpha: float
) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """Regressions of `new` against `base`, the overall comparison, and how they were found.

    Single samples on both sides: as always, any failure of a check that passed on the baseline.
    With repeats on either side: a check regresses only when its pass rate dropped significantly
    (one-sided Fisher exact test, Tarone's correction at `alpha` over the run), and the overall
    pass rate and p95 latency are compared with bootstrap intervals over cases.
    """
    from llmops import stats

    base_t, new_t = stats.tallies(base["results"]), stats.tallies(new["results"])
    first = _first_failing(new["results"])
    if all(t.samples <= 1 for t in (*base_t.values(), *new_t.values())):
        out = []
        for rec in find_regressions(base["results"], new["results"]):
            key = (rec["case_id"], rec["check"])
            b, n = base_t.get(key, stats.Tally()), new_t.get(key, stats.Tally())
            out.append({**_brief(rec), **_counts(b, n), "p_value": None})
        return out, {}, "single samples: any failure of a check that passed on the baseline"
    stats.require()
    compared, drops, k = stats.significant_drops(base_t, new_t, alpha)
    out = []
    for d in drops:
        rec = first.get((d.case_id, d.check)) or {"case_id": d.case_id, "check": d.check}
        out.append({
            **_brief(rec),
            **_counts(base_t[(d.case_id, d.check)], new_t[(d.case_id, d.check)]),
            "p_value": d.p_value,
            "p_adjusted": min(1.0, d.p_value * k),
        })
    comparison = {
        "method": "one-sided Fisher exact test per check, Tarone's correction",
        "alpha": alpha,
        "tarone_k": k,
        "compared_checks": len(compared),
        "pass_rate": overall_rate(base, new),
        "p95_latency_ms": overall_p95(base, new),
    }
    return out, comparison, f"Fisher one-sided, α {alpha:g}, Tarone K={k}"


def _counts(b: Any, n: Any) -> dict[str, Any]:
    return {"base_passed": b.passed, "base_samples": b.samples,
            "new_passed": n.passed, "new_samples": n.samples}


def _first_failing(
    records: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], Mapping[str, Any]]:
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for rec in records:
        if rec["outcome"] in FAILING:
            out.setdefault((rec["case_id"], rec["check"]), rec)
    return out


def _case_rates(records: Iterable[Mapping[str, Any]]) -> list[tuple[int, int]]:
    per: dict[str, list[int]] = {}
    for rec in records:
        if rec["check"] == "case_file" or rec["outcome"] == "skipped":
            continue
        c = per.setdefault(rec["case_id"], [0, 0])
        c[0] += rec["outcome"] == "passed"
        c[1] += 1
    return [(p, n) for p, n in per.values()]


def _case_latencies(records: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """One latency per answered sample (not per check), grouped by case."""
    per: dict[str, dict[int, float]] = {}
    for rec in records:
        answered = rec["error_type"] is None and rec["latency_ms"] is not None
        if answered and rec["check"] != "case_file":
            per.setdefault(rec["case_id"], {})[int(rec.get("repeat") or 1)] = rec["latency_ms"]
    return {c: list(v.values()) for c, v in per.items() if v}


def overall_rate(base: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    from llmops import stats

    b, n = _case_rates(base["results"]), _case_rates(new["results"])
    rb = sum(p for p, _ in b) / max(1, sum(c for _, c in b))
    rn = sum(p for p, _ in n) / max(1, sum(c for _, c in n))
    low, high = stats.rate_diff_interval(b, n)
    return {"base": rb, "new": rn, "diff": rn - rb, "ci_low": low, "ci_high": high}


def overall_p95(base: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    from llmops import stats

    pb, pn = base["summary"]["latency_ms"].get("p95"), new["summary"]["latency_ms"].get("p95")
    low, high = stats.quantile_diff_interval(
        _case_latencies(base["results"]), _case_latencies(new["results"])
    )
    diff = pn - pb if pb is not None and pn is not None else None
    return {"base": pb, "new": pn, "diff": diff, "ci_low": low, "ci_high": high}


def _regression_text(reg: Mapping[str, Any]) -> str:
    counts = (f"{reg['base_passed']}/{reg['base_samples']} on the baseline, now "
              f"{reg['new_passed']}/{reg['new_samples']}")
    if reg.get("p_value") is None:
        return (f"{reg['check']} passed on the baseline and now {reg.get('outcome')}: "
                f"{_who(reg)}: {_message(reg)}")
    return (f"{reg['check']} pass rate dropped ({counts}, one-sided p {reg['p_value']:.2g}): "
            f"{_who(reg)}")


def find_regressions(
    baseline: Iterable[Mapping[str, Any]], current: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Current failing records whose (case_id, check) passed on every baseline repeat."""
    base: dict[tuple[str, str], bool] = {}
    for rec in baseline:
        if rec["outcome"] == "skipped":
            continue
        key = (rec["case_id"], rec["check"])
        base[key] = base.get(key, True) and rec["outcome"] == "passed"
    seen: set[tuple[str, str]] = set()
    out = []
    for rec in current:
        key = (rec["case_id"], rec["check"])
        if rec["outcome"] in FAILING and base.get(key) and key not in seen:
            seen.add(key)
            out.append(rec)
    return out


# -- formatting helpers


def _severity_rank(severity: str) -> int:
    return {"critical": 0, "major": 1, "minor": 2}.get(severity, 3)


def _pct(rate: float | None) -> str:
    if rate is None:
        return "n/a"
    return f"{rate * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _ms(value: float | None) -> str:
    # Whole milliseconds, unless rounding would hide why a limit was missed (3000.4 > 3000).
    if value is None:
        return "n/a"
    return f"{value:.0f} ms" if abs(value - round(value)) < 0.05 else f"{value:.1f} ms"


def _signed_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.0f} ms" if abs(value - round(value)) < 0.05 else f"{value:+.1f} ms"


def _pts(value: float | None) -> str:
    """A change of rate in percentage points."""
    return "n/a" if value is None else f"{value * 100:+.1f} pts"


def _span(d: Mapping[str, Any], fmt: Any) -> str:
    if d.get("ci_low") is None:
        return "n/a (fewer than 2 cases)"
    return f"[{fmt(d['ci_low'])}, {fmt(d['ci_high'])}]"


def _stats() -> Any:
    from llmops import stats

    return stats


def _who(rec: Mapping[str, Any]) -> str:
    where = f"{rec['file']}:{rec['line']}" if rec.get("line") else rec["file"]
    return f"{rec['case_id']} ({where})"


def _message(rec: Mapping[str, Any]) -> str:
    """The record's message on one line, bounded; results hold only redacted text already."""
    text = " ".join(str(rec.get("message") or rec["outcome"]).split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _brief(rec: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("case_id", "check", "severity", "outcome", "file", "line", "message", "error_type")
    return {k: rec.get(k) for k in keys}


def _locate(rec: Mapping[str, Any] | None) -> dict[str, Any]:
    if rec is None:
        return {}
    return {
        "case_id": rec["case_id"],
        "check": rec["check"],
        "file": rec["file"],
        "line": rec.get("line"),
    }


def _selection(selection: Mapping[str, Any] | None) -> str:
    """A run's selection as the options that made it: `-k 'x' -m 'y' --cases z --shard 1/3`."""
    sel = selection or {}
    parts = []
    for key, flag in (("keyword", "-k"), ("markers", "-m"), ("cases", "--cases")):
        if sel.get(key):
            parts.append(f"{flag} {sel[key]!r}" if flag != "--cases" else f"{flag} {sel[key]}")
    shard = sel.get("shard")
    if isinstance(shard, Mapping) and shard.get("index") is not None:
        parts.append(f"--shard {shard.get('index')}/{shard.get('count')}")
    return " ".join(parts)


def _md(text: object) -> str:
    """Safe inside a Markdown table cell: HTML and Markdown escaped, one line."""
    return md_text(" ".join(str(text).split()))


def _relative(file: str, root: Path | None, base: Path | None = None) -> str:
    path = Path(file)
    if base is not None and not path.is_absolute():
        path = base / path
    if root is not None and path.is_absolute():
        with contextlib.suppress(ValueError):  # outside the repository: keep it absolute
            path = path.resolve().relative_to(root.resolve())
    return path.as_posix()


def escape_data(text: str) -> str:
    """Text safe as the data of a GitHub workflow command (`::error ...::<data>`)."""
    # The escaping GitHub's runner undoes for workflow command data (toolkit's `escapeData`).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return escape_data(one_line(text)).replace(":", "%3A").replace(",", "%2C")
