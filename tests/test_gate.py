"""The gate: every rule, baseline regressions, fail-closed input, job summary and annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from llmops import gate
from llmops.cli import main
from llmops.errors import InputError
from llmops.schemas import load_schema

COMMIT = "a" * 40


def record(
    case_id: str = "card-freeze",
    check: str = "not_empty",
    outcome: str = "passed",
    severity: str = "major",
    file: str = "cases/payments.yaml",
    line: int | None = 3,
    message: str = "",
    latency_ms: float | None = 120.0,
) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "file": file,
        "line": line,
        "suite": Path(file).stem,
        "tags": [],
        "severity": severity,
        "check": check,
        "outcome": outcome,
        "message": message or outcome,
        "latency_ms": latency_ms,
        "error_type": "timeout" if outcome == "error" else None,
        "response_excerpt": None,
        "findings": [],
    }


def results(
    records: list[dict[str, Any]], p95: float | None = 500.0, **run: Any
) -> dict[str, Any]:
    """A schema-valid, consistent results document around `records`, as the plugin writes it:
    the summary computed from the records (every answered record's latency set to `p95`, so
    that is the run's p95), and the coverage of a full run of exactly these cases."""
    from llmops.results import summarize

    for r in records:
        if r["latency_ms"] is not None and r["error_type"] is None:
            r["latency_ms"] = p95
    expected: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["check"] == "case_file":
            continue
        entry = expected.setdefault(r["case_id"], {"case_id": r["case_id"], "checks": [],
                                                   "skip": True})
        if r["check"] not in entry["checks"]:
            entry["checks"].append(r["check"])
        entry["skip"] = entry["skip"] and r["outcome"] == "skipped"
    summary = summarize(records)
    data = {
        "schema_version": 2,
        "run": {
            "id": "run-1",
            "started_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:00:05Z",
            "git_commit": COMMIT,
            "git_branch": "main",
            "target": "reference",
            "cases_digest": "0" * 64,
            "llmops_version": "0.1.0",
            "selection": {},
            "coverage": {"cases_dir": "cases", "defined": len(expected),
                         "selected": len(expected), "complete": True,
                         "expected": sorted(expected.values(), key=lambda e: e["case_id"])},
            **run,
        },
        "summary": summary,
        "results": records,
    }
    Draft202012Validator(load_schema("results")).validate(data)
    return data


#: The checks every case carries (the safe defaults of DESIGN.md), then a content check.
CASE_CHECKS = ("not_empty", "max_latency_ms", "no_pii", "no_financial_details", "contains_any")
SEVERITIES = ("critical", "major", "minor")


def passing(n: int = 10) -> list[dict[str, Any]]:
    """`n` passing records of a realistic run: every case carries the safe-default checks (so
    passing `no_pii` and `no_financial_details` records are there), and every third case is
    critical, so that a gate which counted a *passing* leak check or critical case as blocking
    would block every fixture here."""
    return [
        record(
            case_id=f"case-{i // len(CASE_CHECKS)}",
            check=CASE_CHECKS[i % len(CASE_CHECKS)],
            severity=SEVERITIES[(i // len(CASE_CHECKS)) % len(SEVERITIES)],
            line=3 + 4 * (i // len(CASE_CHECKS)),
        )
        for i in range(n)
    ]


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


POLICY = gate.Policy(min_pass_rate=0.9, max_p95_latency_ms=3000, max_error_rate=0.05)


# -- the rules ----------------------------------------------------------------------------------


def test_all_passing_is_allowed() -> None:
    decision = gate.evaluate(results(passing()), POLICY)
    assert decision.allowed
    assert decision.reasons == []
    assert decision.metrics["pass_rate"] == 1.0
    assert (
        decision.summary_line() == "gate allowed: pass rate 100% (10/10), p95 500 ms, error rate 0%"
    )


@pytest.mark.parametrize("outcome", ["failed", "error"])
def test_a_critical_case_failing_blocks_whatever_the_pass_rate(outcome: str) -> None:
    records = [
        *passing(99),
        record("balance", "refuses", outcome, "critical", line=40, message="did not refuse"),
    ]
    decision = gate.evaluate(results(records), POLICY)
    assert not decision.allowed
    assert decision.metrics["pass_rate"] == 0.99
    [reason] = [r for r in decision.reasons if r.rule == "severity"]
    assert reason.record["case_id"] == "balance"
    assert "critical case refuses" in reason.message
    assert "balance (cases/payments.yaml:40)" in reason.message
    assert "did not refuse" in reason.message


@pytest.mark.parametrize("check", ["no_pii", "no_financial_details"])
def test_a_leak_blocks_even_in_a_minor_case(check: str) -> None:
    records = [*passing(99), record("greet", check, "failed", "minor", message="EMAIL_ADDRESS")]
    decision = gate.evaluate(results(records), POLICY)
    assert not decision.allowed
    assert [r.rule for r in decision.reasons] == ["blocked_check"]
    assert decision.reasons[0].message.startswith(f"{check} failed: greet")


def test_a_minor_failure_alone_does_not_block_above_the_pass_rate() -> None:
    records = [*passing(19), record("tone", "contains_any", "failed", "minor")]
    decision = gate.evaluate(results(records), POLICY)
    assert decision.allowed
    assert decision.metrics["pass_rate"] == 0.95
    assert [r["case_id"] for r in decision.failures] == ["tone"]


def test_block_lists_are_configurable() -> None:
    # 199/200 is above every rate limit: only the block list can decide.
    records = [*passing(199), record("tone", "contains_any", "failed", "major")]
    assert gate.evaluate(results(records), gate.Policy.from_table({})).allowed
    policy = gate.Policy.from_table({"block_severities": ["critical", "major"]})
    assert policy.block_severities == ("critical", "major")
    decision = gate.evaluate(results(records), policy)
    assert [(r.rule, r.record["case_id"]) for r in decision.reasons] == [("severity", "tone")]
    assert decision.reasons[0].message.startswith("major case contains_any failed: tone (")
    assert decision.rules[0].label == "Failing critical/major cases"
    leak = [*passing(99), record("greet", "no_pii", "failed", "minor")]
    assert not gate.evaluate(results(leak), gate.Policy()).allowed
    assert gate.evaluate(results(leak), gate.Policy(block_checks=())).allowed


def test_a_realistic_passing_run_has_nothing_blocking() -> None:
    """Passing leak checks and passing critical cases are what a real run is made of."""
    records = passing(30)
    assert {r["check"] for r in records} >= {"no_pii", "no_financial_details"}
    assert any(r["severity"] == "critical" for r in records)
    decision = gate.evaluate(results(records), gate.Policy())
    assert decision.allowed and decision.reasons == [] and decision.failures == []
    assert [(rule.name, rule.value, rule.ok) for rule in decision.rules[:2]] == [
        ("block_severities", "0", True),
        ("block_checks", "0", True),
    ]


def test_blocking_counts_each_kind_once() -> None:
    records = [
        *passing(200),
        record("leak", "no_pii", "failed", "critical"),  # a leak in a critical case: one reason
        record("money", "no_financial_details", "error", "minor"),
        record("vital", "refuses", "failed", "critical"),
        record("vital", "contains", "failed", "major"),  # not blocking: major, not a leak check
    ]
    decision = gate.evaluate(results(records), gate.Policy(min_pass_rate=0.5))
    assert [(r.rule, r.record["case_id"]) for r in decision.reasons] == [
        ("blocked_check", "leak"),
        ("blocked_check", "money"),
        ("severity", "vital"),
    ]
    assert decision.reasons[0].message.startswith("no_pii failed: leak (")
    assert decision.reasons[1].message.startswith("no_financial_details error: money (")
    assert decision.reasons[2].message.startswith("critical case refuses failed: vital (")
    by_name = {rule.name: rule for rule in decision.rules}
    assert (by_name["block_severities"].value, by_name["block_severities"].ok) == ("1", False)
    assert (by_name["block_checks"].value, by_name["block_checks"].ok) == ("2", False)
    assert by_name["block_severities"].label == "Failing critical cases"


def test_an_empty_block_severities_list_is_labelled_and_blocks_nothing() -> None:
    records = [*passing(200), record("vital", "refuses", "failed", "critical")]
    policy = gate.Policy.from_table({"block_severities": []})
    decision = gate.evaluate(results(records), policy)
    assert decision.allowed
    assert decision.rules[0].label == "Failing blocking cases"
    assert (decision.rules[0].value, decision.rules[0].ok) == ("0", True)


@pytest.mark.parametrize(("passed", "allowed"), [(89, False), (90, True)])
def test_min_pass_rate_boundary(passed: int, allowed: bool) -> None:
    records = passing(passed) + [
        record(f"bad-{i}", "contains", "failed") for i in range(100 - passed)
    ]
    decision = gate.evaluate(results(records), POLICY)
    assert decision.allowed is allowed
    if not allowed:
        [reason] = decision.reasons
        assert reason.rule == "min_pass_rate"
        assert reason.message == "pass rate 89% (89/100) is below the minimum 90%"


@pytest.mark.parametrize(("p95", "allowed"), [(3000.0, True), (3000.5, False), (None, False)])
def test_max_p95_latency(p95: float | None, allowed: bool) -> None:
    decision = gate.evaluate(results(passing(), p95=p95), POLICY)
    assert decision.allowed is allowed
    if not allowed:
        assert [r.rule for r in decision.reasons] == ["max_p95_latency_ms"]
        # The figure keeps the decimal that puts it over the limit.
        why = "was not measured" if p95 is None else "3000.5 ms is above"
        assert decision.reasons[0].message == f"p95 latency {why} the limit 3000 ms"


def test_max_error_rate_and_skips_do_not_count() -> None:
    records = (
        passing(95)
        + [record(f"down-{i}", "not_empty", "error") for i in range(6)]
        + [record(f"skip-{i}", "contains", "skipped") for i in range(50)]
    )
    decision = gate.evaluate(results(records), gate.Policy(min_pass_rate=0.5, max_error_rate=0.05))
    assert decision.metrics["counted"] == 101
    assert decision.metrics["skipped"] == 50
    assert decision.metrics["error_rate"] == pytest.approx(6 / 101)
    assert [r.rule for r in decision.reasons] == ["max_error_rate"]
    assert "(6/101)" in decision.reasons[0].message


def test_limits_can_be_disabled_with_false() -> None:
    policy = gate.Policy.from_table({"max_p95_latency_ms": False, "min_pass_rate": 0.5})
    assert policy.max_p95_latency_ms is None
    assert gate.evaluate(results(passing(), p95=99999.0), policy).allowed


@pytest.mark.parametrize("key", ["min_pass_rate", "max_error_rate"])
def test_rate_limits_can_be_disabled_with_false(key: str) -> None:
    policy = gate.Policy.from_table({key: False})
    assert getattr(policy, key) is None
    # Half the checks fail, a quarter err: only the limit that is still on blocks.
    records = [
        *passing(10),
        *(record(f"bad-{i}", "contains", "failed") for i in range(5)),
        *(record(f"down-{i}", "contains", "error") for i in range(5)),
    ]
    decision = gate.evaluate(results(records), policy)
    assert key not in {rule.name for rule in decision.rules}
    other = {"min_pass_rate": "max_error_rate", "max_error_rate": "min_pass_rate"}[key]
    assert [r.rule for r in decision.reasons] == [other]


def test_every_limit_off_leaves_only_the_block_lists() -> None:
    policy = gate.Policy.from_table(
        {"min_pass_rate": False, "max_error_rate": False, "max_p95_latency_ms": False}
    )
    assert (policy.min_pass_rate, policy.max_error_rate, policy.max_p95_latency_ms) == (
        None,
        None,
        None,
    )
    records = [*passing(5), *(record(f"down-{i}", "contains", "error") for i in range(5))]
    decision = gate.evaluate(results(records, p95=None), policy)
    assert decision.allowed
    assert [rule.name for rule in decision.rules] == [
        "block_severities", "block_checks", "coverage"  # coverage has no off switch
    ]


def test_defaults_apply_without_a_gate_table() -> None:
    policy = gate.Policy.from_table({})
    assert policy == gate.Policy()
    assert (policy.min_pass_rate, policy.max_p95_latency_ms, policy.max_error_rate) == (
        0.98,
        3000.0,
        0.02,
    )
    assert policy.block_checks == ("no_pii", "no_financial_details", "case_file")
    assert policy.block_severities == ("critical",)
    assert policy.block_checks == gate.DEFAULT_BLOCK_CHECKS
    assert policy.block_severities == gate.DEFAULT_BLOCK_SEVERITIES


@pytest.mark.parametrize(
    ("failed", "p95", "allowed"),
    [(2, 3000.0, True), (3, 3000.0, False), (2, 3001.0, False)],
)
def test_default_limits_decide(failed: int, p95: float, allowed: bool) -> None:
    records = [
        *passing(100 - failed),
        *(record(f"bad-{i}", "contains", "failed", "minor") for i in range(failed)),
    ]
    assert gate.evaluate(results(records, p95=p95), gate.Policy.from_table({})).allowed is allowed


@pytest.mark.parametrize(("errors", "allowed"), [(5, True), (6, False)])
def test_error_rate_exactly_at_its_limit_is_allowed(errors: int, allowed: bool) -> None:
    records = [
        *passing(100 - errors),
        *(record(f"down-{i}", "contains", "error") for i in range(errors)),
    ]
    policy = gate.Policy(min_pass_rate=0.5, max_error_rate=0.05)
    decision = gate.evaluate(results(records), policy)
    assert decision.metrics["error_rate"] == errors / 100
    assert decision.allowed is allowed
    [rule] = [rule for rule in decision.rules if rule.name == "max_error_rate"]
    assert (rule.value, rule.limit, rule.ok) == (f"{errors}% ({errors}/100)", "≤ 5%", allowed)
    if not allowed:
        assert [r.message for r in decision.reasons] == [
            "error rate 6% (6/100) is above the maximum 5% (the target failed to answer)"
        ]


def test_a_broken_case_file_is_not_a_target_error() -> None:
    records = [*passing(99), record("cases/bad.yaml", "case_file", "error", "critical", line=4)]
    decision = gate.evaluate(results(records), gate.Policy(max_error_rate=0.0, min_pass_rate=0.5))
    assert decision.metrics["errors"] == 0 and decision.metrics["error_rate"] == 0.0
    assert [r.rule for r in decision.reasons] == ["blocked_check"]


def test_figures_come_from_the_records_not_the_summary() -> None:
    data = results(passing(5) + [record("x", "contains", "failed")] * 5)
    data["summary"]["pass_rate"] = 1.0  # a doctored summary changes nothing
    decision = gate.evaluate(data, POLICY)
    assert decision.metrics["pass_rate"] == 0.5
    assert not decision.allowed


def test_an_empty_run_blocks() -> None:
    decision = gate.evaluate(results([]), POLICY)
    assert not decision.allowed
    assert decision.reasons[0].rule == "no_checks"


def test_case_file_errors_block() -> None:
    data = results(passing(), case_file_errors=["cases/bad.yaml:4: unknown key 'expct'"])
    decision = gate.evaluate(data, POLICY)
    assert [r.message for r in decision.reasons] == [
        "case file error: cases/bad.yaml:4: unknown key 'expct'"
    ]
    # As the plugin writes it: a failing record per broken file, and the run's list (said once).
    broken = [*passing(), record("cases/bad.yaml", "case_file", "error", "critical", line=4)]
    data = results(broken, case_file_errors=["cases/bad.yaml:4: unknown key 'expct'"])
    assert [r.rule for r in gate.evaluate(data, POLICY).reasons] == ["blocked_check"]


def test_case_file_errors_block_beside_other_failures() -> None:
    """The run's list is the fallback whenever no `case_file` record failed, whatever else did."""
    records = [*passing(99), record("tone", "contains", "failed", "minor")]
    data = results(records, case_file_errors=["cases/bad.yaml:4: unknown key 'expct'"])
    decision = gate.evaluate(data, gate.Policy(min_pass_rate=0.5))
    assert [(r.rule, r.message) for r in decision.reasons] == [
        ("case_file", "case file error: cases/bad.yaml:4: unknown key 'expct'")
    ]
    assert decision.reasons[0].record is None
    # a passing case_file record (a file that loaded) does not stand for the broken one either
    records.append(record("cases/ok.yaml", "case_file", "passed", "critical", line=None))
    data = results(records, case_file_errors=["cases/bad.yaml:4: unknown key 'expct'"])
    assert [r.rule for r in gate.evaluate(data, gate.Policy(min_pass_rate=0.5)).reasons] == [
        "case_file"
    ]


def test_failures_are_ordered_blocking_first_then_by_severity() -> None:
    """The order decides which annotations GitHub shows: the first few of a step."""
    records = [
        *passing(300),
        record("minor-1", "contains", "failed", "minor"),
        record("major-1", "contains", "error", "major"),
        record("crit-1", "contains", "failed", "critical"),
        record("minor-2", "contains", "failed", "minor"),
        record("leak", "no_pii", "failed", "minor"),
        record("major-2", "contains", "failed", "major"),
    ]
    policy = gate.Policy(min_pass_rate=0.5, max_error_rate=0.5, block_severities=())
    decision = gate.evaluate(results(records), policy)
    order = ["leak", "crit-1", "major-1", "major-2", "minor-1", "minor-2"]
    assert [r["case_id"] for r in decision.failures] == order
    assert [a.split("::")[2].split()[0] for a in decision.annotations()] == order
    # a regression is blocking too: it comes before the non-blocking critical failure
    base = results([*passing(300), record("minor-2", "contains", "passed", "minor")])
    decision = gate.evaluate(results(records), policy, base)
    assert [r["case_id"] for r in decision.failures][:3] == ["minor-2", "leak", "crit-1"]


# -- baseline --------------------------------------------------------------------------------------


def test_a_check_that_passed_on_the_baseline_may_not_fail_now() -> None:
    base = results([*passing(20), record("old-bug", "contains", "failed")])
    current = passing(20)
    # case-1 is a major case: its not_empty now fails and its contains_any errs
    current[5] = record("case-1", "not_empty", "failed", line=7)
    current[9] = record("case-1", "contains_any", "error", line=7)
    now = results(
        [
            *current,
            record("old-bug", "contains", "failed"),
            record("brand-new", "contains", "failed"),
        ]
    )
    decision = gate.evaluate(now, gate.Policy(min_pass_rate=0.5, max_error_rate=0.5), base)
    assert not decision.allowed
    assert [(r["case_id"], r["check"], r["outcome"]) for r in decision.regressions] == [
        ("case-1", "not_empty", "failed"),
        ("case-1", "contains_any", "error"),
    ]
    assert {r.rule for r in decision.reasons} == {"regression"}
    assert (
        "regression: not_empty passed on the baseline and now failed" in decision.reasons[0].message
    )
    [rule] = [r for r in decision.rules if r.name == "regressions"]
    assert rule.value == "2"


def test_a_key_that_was_flaky_on_the_baseline_is_not_a_regression() -> None:
    base = [record("f", "contains", "passed"), record("f", "contains", "failed")]
    assert gate.find_regressions(base, [record("f", "contains", "failed")]) == []
    assert len(gate.find_regressions(base[:1], [record("f", "contains", "failed")] * 2)) == 1


def test_a_skipped_baseline_record_does_not_end_the_baseline() -> None:
    base = [
        record("a", "contains", "skipped"),
        record("b", "contains", "passed"),
        record("a", "regex", "passed"),
    ]
    now = [record("b", "contains", "failed"), record("a", "regex", "error")]
    assert [(r["case_id"], r["check"]) for r in gate.find_regressions(base, now)] == [
        ("b", "contains"),
        ("a", "regex"),
    ]
    # skipped on the baseline proves nothing either way: failing now is no regression
    assert gate.find_regressions(base, [record("a", "contains", "failed")]) == []
    # nor is a check that was skipped now, or one that passes now
    skipped_now = [record("b", "contains", "skipped"), record("a", "regex", "passed")]
    assert gate.find_regressions(base, skipped_now) == []


def test_baseline_digest_is_reported(tmp_path: Path) -> None:
    import hashlib

    base_path = write(tmp_path / "base.json", results(passing(20), id="base-run"))
    now = gate.read_results(write(tmp_path / "now.json", results(passing(20))))
    decision = gate.evaluate(now, POLICY, gate.read_results(base_path))
    assert decision.baseline_digest == hashlib.sha256(base_path.read_bytes()).hexdigest()
    assert decision.to_dict()["baseline_sha256"] == decision.baseline_digest
    assert decision.to_dict()["results_sha256"] == now.digest != decision.baseline_digest
    assert gate.evaluate(now, POLICY).to_dict()["baseline_sha256"] is None
    # a baseline given as a plain mapping has no file, so no digest
    assert gate.evaluate(now, POLICY, results(passing(20))).baseline_digest is None


# -- policy from configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "why"),
    [
        ({"min_pass_rate": 0.9, "max_p59": 1}, "unknown key 'max_p59'"),
        ({"min_pass_rate": 1.5}, "min_pass_rate must be between 0 and 1, not 1.5"),
        ({"min_pass_rate": -0.01}, "min_pass_rate must be between 0 and 1, not -0.01"),
        ({"max_error_rate": 1.01}, "max_error_rate must be between 0 and 1, not 1.01"),
        ({"max_error_rate": -1}, "max_error_rate must be between 0 and 1, not -1"),
        ({"max_error_rate": "low"}, "max_error_rate must be a number"),
        ({"min_pass_rate": True}, "min_pass_rate must be a number"),
        ({"max_p95_latency_ms": "1s"}, "max_p95_latency_ms must be a number"),
        ({"block_checks": "no_pii"}, "block_checks must be a list of strings"),
        ({"block_severities": "critical"}, "block_severities must be a list of strings"),
        ({"block_severities": ["critical", 1]}, "block_severities must be a list of strings"),
        ({"alpha": 0}, "alpha must be a number between 0 and 1"),
        ({"alpha": 1.5}, "alpha must be a number between 0 and 1"),
        ({"alpha": True}, "alpha must be a number between 0 and 1"),
    ],
)
def test_bad_policy_is_input_error(table: dict[str, Any], why: str) -> None:
    with pytest.raises(InputError, match=f"^\\[tool\\.llmops\\.gate\\]: {why}"):
        gate.Policy.from_table(table)


def test_unknown_policy_key_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as info:
        gate.Policy.from_table({"zeta": 1, "alpha_": 2}, source="pyproject.toml [gate]")
    assert str(info.value) == (
        "pyproject.toml [gate]: unknown key 'alpha_' (known: allow_subsets, alpha, block_checks, "
        "block_severities, max_error_rate, max_p95_latency_ms, min_pass_rate, min_resist_rate)"
    )


@pytest.mark.parametrize("key", ["min_pass_rate", "max_error_rate"])
@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0])
def test_rate_limits_take_the_closed_range(key: str, value: float) -> None:
    policy = gate.Policy.from_table({key: value})
    assert getattr(policy, key) == float(value)
    assert isinstance(getattr(policy, key), float)


def test_policy_values_from_toml_are_kept() -> None:
    policy = gate.Policy.from_table(
        {
            "min_pass_rate": 0.75,
            "max_p95_latency_ms": 1500,
            "max_error_rate": 0.1,
            "block_checks": ["no_pii"],
            "block_severities": ["critical", "major"],
        }
    )
    assert policy == gate.Policy(0.75, 1500.0, 0.1, ("no_pii",), ("critical", "major"))


# -- fail-closed reading ---------------------------------------------------------------------------


def test_read_results_keeps_the_digest(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", results(passing()))
    loaded = gate.read_results(path)
    import hashlib

    assert loaded.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.commit == COMMIT
    assert loaded.records == loaded.data["results"] and len(loaded.records) == 10
    assert loaded.path == path


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no such results file"),
        (b'{\n  "run": ,\n}', r"r\.json:2: results are not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (json.dumps({"run": {}, "summary": {}}).encode(), "do not match the schema at \\$"),
    ],
)
def test_unusable_results_are_input_errors(tmp_path: Path, content: bytes | None, why: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=why):
        gate.read_results(path)


def test_schema_error_names_the_record(tmp_path: Path) -> None:
    data = results(passing(3))
    data["results"][2]["outcome"] = "pased"
    with pytest.raises(InputError, match=r"at \$\.results\[2\]\.outcome: 'pased' is not one of"):
        gate.read_results(write(tmp_path / "r.json", data))


def test_a_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        gate.read_results(tmp_path)
    assert str(info.value) == f"{tmp_path}: cannot read results: Is a directory"


def test_decisions_and_policies_cannot_be_altered() -> None:
    """The policy, the results and each rule and reason are values: nobody edits a verdict."""
    import dataclasses

    decision = gate.evaluate(results([record("x", "no_pii", "failed")]), POLICY)
    for value, name in [
        (POLICY, "min_pass_rate"),
        (decision.rules[0], "ok"),
        (decision.reasons[0], "message"),
        (gate.Results({}, Path("r.json"), "0"), "digest"),
    ]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, None)


# -- the command -----------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.llmops.gate]\nmin_pass_rate = 0.9\nmax_p95_latency_ms = 3000\n"
        "max_error_rate = 0.05\n"
    )
    (tmp_path / "reports").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def blocked_results() -> dict[str, Any]:
    return results(
        [
            *passing(30),
            record("tone", "contains_any", "failed", "minor", line=12, message="no 'sorry'"),
            record(
                "leak", "no_pii", "failed", "major", "cases/greet.yaml", 7, "EMAIL_ADDRESS at 3"
            ),
        ]
    )


def test_gate_command_allows_with_exit_0(project: Path, capsys: pytest.CaptureFixture) -> None:
    write(project / "reports" / "results.json", results(passing()))
    assert main(["gate"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "llmops gate: ALLOWED  " + str(project / "reports/results.json")
    assert out.splitlines()[1] == f"  commit {COMMIT}  target reference"
    assert "ok   Pass rate: 100% (10/10) (limit ≥ 90%)" in out
    assert "::error" not in out


def test_gate_command_blocks_with_exit_1_and_prints_each_reason(
    project: Path, capsys: pytest.CaptureFixture
) -> None:
    write(project / "r.json", blocked_results())
    assert main(["gate", "r.json"]) == 1
    out = capsys.readouterr().out
    assert "llmops gate: BLOCKED  r.json" in out
    assert (
        "blocked because:\n  - no_pii failed: leak (cases/greet.yaml:7): EMAIL_ADDRESS at 3" in out
    )
    assert "FAIL Failing no_pii, no_financial_details, case_file: 1" in out


def test_gate_json(project: Path, capsys: pytest.CaptureFixture) -> None:
    write(project / "r.json", blocked_results())
    assert main(["gate", "r.json", "--json"]) == 1
    decision = json.loads(capsys.readouterr().out)
    assert decision["allowed"] is False
    assert decision["commit"] == COMMIT
    assert [r["rule"] for r in decision["reasons"]] == ["blocked_check"]
    assert decision["reasons"][0]["file"] == "cases/greet.yaml"
    assert [f["case_id"] for f in decision["failures"]] == ["leak", "tone"]
    assert len(decision["results_sha256"]) == 64


@pytest.mark.parametrize(
    ("records", "rule", "message"),
    [
        ([], "no_checks", "no checks ran: an empty run proves nothing"),
        (
            [*passing(8), record("x", "contains", "failed"), record("y", "contains", "failed")],
            "min_pass_rate",
            "pass rate 80% (8/10) is below the minimum 90%",
        ),
    ],
)
def test_gate_json_for_a_block_with_no_record(
    project: Path,
    capsys: pytest.CaptureFixture,
    records: list[dict[str, Any]],
    rule: str,
    message: str,
) -> None:
    write(project / "r.json", results(records))
    assert main(["gate", "r.json", "--json"]) == 1
    decision = json.loads(capsys.readouterr().out)
    assert decision["allowed"] is False and decision["verdict"] == "blocked"
    assert decision["reasons"][0] == {"rule": rule, "message": message}
    assert decision["baseline_sha256"] is None


def test_gate_json_with_a_baseline_names_its_digest(
    project: Path, capsys: pytest.CaptureFixture
) -> None:
    import hashlib

    base = write(project / "base.json", results(passing(20)))
    write(project / "now.json", results(passing(20)))
    assert main(["gate", "now.json", "--baseline", "base.json", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["baseline_sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    assert decision["rules"][-1] == {
        "name": "regressions",
        "label": "Regressions vs baseline",
        "value": "0",
        "limit": "0",
        "ok": True,
    }


def test_gate_reads_block_severities_from_the_config(
    project: Path, capsys: pytest.CaptureFixture
) -> None:
    write(project / "r.json", results([*passing(99), record("tone", "contains", "failed")]))
    assert main(["gate", "r.json"]) == 0  # 99%: a major failure alone does not block
    with (project / "pyproject.toml").open("a") as f:
        f.write('block_severities = ["critical", "major"]\n')
    assert main(["gate", "r.json"]) == 1
    assert "  - major case contains failed: tone (cases/payments.yaml:3): failed" in (
        capsys.readouterr().out
    )


def test_gate_defaults_without_a_gate_table(project: Path, capsys: pytest.CaptureFixture) -> None:
    (project / "pyproject.toml").write_text("[tool.llmops]\ncases = 'cases'\n")
    records = [*passing(97), *(record(f"bad-{i}", "contains", "failed") for i in range(3))]
    write(project / "r.json", results(records, p95=3000.0))
    assert main(["gate", "r.json"]) == 1  # 97% < the default 98%
    out = capsys.readouterr().out
    assert "FAIL Pass rate: 97% (97/100) (limit ≥ 98%)" in out
    assert "ok   p95 latency: 3000 ms (limit ≤ 3000 ms)" in out
    assert "ok   Error rate: 0% (0/100) (limit ≤ 2%)" in out


def test_gate_baseline_option(project: Path, capsys: pytest.CaptureFixture) -> None:
    write(project / "base.json", results([*passing(30), record("tone", "contains_any")]))
    now = [*passing(30), record("tone", "contains_any", "failed", "minor")]
    write(project / "now.json", results(now))
    assert main(["gate", "now.json"]) == 0
    assert main(["gate", "now.json", "--baseline", "base.json"]) == 1
    assert "regression: contains_any passed on the baseline and now failed: tone" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize("annotate", [True, False])
def test_missing_results_exit_2(
    project: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, annotate: bool
) -> None:
    summary = project / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    if annotate:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["gate", "nowhere.json"]) == 2
    err = capsys.readouterr().err
    assert "llmops: nowhere.json: no such results file" in err
    assert ("::error title=llmops gate::nowhere.json: no such results file" in err) is annotate
    assert summary.read_text().startswith("## ❌ llmops gate: no decision\n\nnowhere.json: no such")


def test_gate_bad_baseline_exit_2(project: Path, capsys: pytest.CaptureFixture) -> None:
    write(project / "r.json", results(passing()))
    (project / "base.json").write_text("[]")
    assert main(["gate", "r.json", "--baseline", "base.json"]) == 2
    assert "base.json: results do not match the schema" in capsys.readouterr().err


def test_bad_policy_exit_2(project: Path, capsys: pytest.CaptureFixture) -> None:
    (project / "pyproject.toml").write_text("[tool.llmops.gate]\nmin_pass_rat = 0.9\n")
    write(project / "r.json", results(passing()))
    assert main(["gate", "r.json"]) == 2
    assert "[tool.llmops.gate]: unknown key 'min_pass_rat'" in capsys.readouterr().err


def test_step_summary_is_appended(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    summary = project / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write(project / "r.json", blocked_results())
    assert main(["gate", "r.json"]) == 1
    text = summary.read_text()
    assert text.startswith("earlier step\n## ❌ llmops gate: blocked\n")
    digest = gate.read_results(project / "r.json").digest
    meta = f"results r.json, commit {COMMIT[:12]}, target reference, sha256 `{digest[:16]}…`"
    assert meta in text
    assert "| Pass rate | 93.75% (30/32) | ≥ 90% | ✅ |" in text
    assert "| Failing no_pii, no_financial_details, case_file | 1 | 0 | ❌ |" in text
    assert "### Why it is blocked\n\n- no_pii failed: leak (cases/greet.yaml:7)" in text
    assert "| leak | no_pii | major | cases/greet.yaml:7 | EMAIL_ADDRESS at 3 |" in text
    assert "| tone | contains_any | minor | cases/payments.yaml:12 | no 'sorry' |" in text


def test_markdown_escapes_table_cells_and_caps_rows() -> None:
    records = [record(f"c{i}", "contains", "failed", message="a | b\nc") for i in range(60)]
    text = gate.evaluate(results(records), POLICY).markdown()
    assert "| a \\| b c |" in text
    assert text.count("\n| c") == gate.SUMMARY_ROWS
    assert "… and 10 more in the results artifact." in text


def test_annotations_under_github_actions(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    data = blocked_results()
    data["results"][-2]["file"] = str(project / "cases" / "payments.yaml")  # absolute path
    write(project / "r.json", data)
    assert main(["gate", "r.json"]) == 1
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("::")]
    assert lines == [
        "::error file=cases/greet.yaml,line=7,title=llmops major no_pii failed"
        "::leak no_pii: EMAIL_ADDRESS at 3",
        "::error file=cases/payments.yaml,line=12,title=llmops minor contains_any failed"
        "::tone contains_any: no 'sorry'",
    ]


@pytest.mark.parametrize(
    ("env", "flag", "expected"),
    [("", [], 0), ("true", ["--annotations", "never"], 0), ("", ["--annotations", "always"], 2)],
)
def test_annotation_switch(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    env: str,
    flag: list[str],
    expected: int,
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", env)
    write(project / "r.json", blocked_results())
    main(["gate", "r.json", *flag])
    assert capsys.readouterr().out.count("::error ") == expected


def test_annotations_go_to_stderr_with_json(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    write(project / "r.json", blocked_results())
    assert main(["gate", "r.json", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["allowed"] is False
    assert err.count("::error ") == 2


def test_annotation_escaping_and_relative_paths(tmp_path: Path) -> None:
    rec = record("odd", "regex", "failed", file="sub/a,b:c.yaml", line=None, message="50% off\nx")
    decision = gate.evaluate(results([rec]), POLICY)
    assert decision.annotations() == [
        "::error file=sub/a%2Cb%3Ac.yaml,title=llmops major regex failed::odd regex: 50%25 off x"
    ]
    # Relative paths in results are relative to the project; annotations to the repository.
    rec = record("deep", "regex", "failed", file="cases/x.yaml", line=2)
    [line] = gate.evaluate(results([rec]), POLICY).annotations(tmp_path, base=tmp_path / "proj")
    assert line.startswith("::error file=proj/cases/x.yaml,line=2,")
    # without a repository root an absolute path stays absolute; outside the root too
    rec = record("abs", "regex", "failed", file=str(tmp_path / "cases" / "y.yaml"), line=5)
    [line] = gate.evaluate(results([rec]), POLICY).annotations()
    assert line.startswith(f"::error file={tmp_path.as_posix()}/cases/y.yaml,line=5,")
    [line] = gate.evaluate(results([rec]), POLICY).annotations(tmp_path / "elsewhere")
    assert line.startswith(f"::error file={tmp_path.as_posix()}/cases/y.yaml,line=5,")


@pytest.mark.parametrize(("length", "cut"), [(200, False), (201, True)])
def test_messages_are_one_bounded_line(length: int, cut: bool) -> None:
    text = ("word " * 100)[: length - 4] + "\n end"  # a line break inside, `length` characters
    rec = record("long", "contains", "failed", message=text)
    [annotation] = gate.evaluate(results([rec]), POLICY).annotations()
    shown = annotation.split("::", 2)[2].removeprefix("long contains: ")
    flat = " ".join(text.split())
    if cut:
        assert shown == flat[: gate.EXCERPT_CHARS - 1] + "…"
        assert len(shown) == gate.EXCERPT_CHARS
    else:
        assert shown == flat


def test_markdown_caps_the_reasons_too() -> None:
    records = [record(f"leak-{i}", "no_pii", "failed", message="EMAIL_ADDRESS") for i in range(53)]
    text = gate.evaluate(results(records), gate.Policy(min_pass_rate=None)).markdown()
    assert text.count("\n- no_pii failed: leak-") == gate.SUMMARY_ROWS
    assert "\n- … and 3 more\n" in text


def test_exactly_a_full_summary_has_no_more_line() -> None:
    records = [record(f"leak-{i}", "no_pii", "failed") for i in range(gate.SUMMARY_ROWS)]
    text = gate.evaluate(results(records), gate.Policy(min_pass_rate=None)).markdown()
    assert text.count("\n- no_pii failed: leak-") == gate.SUMMARY_ROWS
    assert "more" not in text


def test_metrics_count_every_outcome() -> None:
    records = [
        *passing(6),
        record("f1", "contains", "failed"),
        record("f2", "regex", "failed"),
        record("e1", "contains", "error"),
        record("s1", "contains", "skipped"),
        record("cases/bad.yaml", "case_file", "error", "critical", line=1),
    ]
    metrics = gate.evaluate(results(records, p95=321.0), POLICY).metrics
    assert metrics == {
        "checks": 11,
        "counted": 10,
        "passed": 6,
        "failed": 2,
        "errors": 1,
        "skipped": 1,
        "pass_rate": 0.6,
        "error_rate": 0.1,
        "p95_latency_ms": 321.0,
        # the two cases of passing(6), and f1, f2, e1, s1; the case file is no case
        "coverage": {"defined": 6, "covered": 6, "complete": True},
    }


def test_a_run_without_a_commit_names_none() -> None:
    decision = gate.evaluate(results(passing(), git_commit=None), POLICY)
    assert decision.lines()[0] == "llmops gate: ALLOWED"
    assert not decision.lines()[1].startswith("  commit")
    assert "commit" not in decision.markdown().split("| Rule")[0]
    assert decision.to_dict()["commit"] is None


# -- coverage and selected subsets, in process (the runs that make them: tests/test_evidence.py)


def partial(selection: dict[str, Any], *, bad_skip: bool = False) -> dict[str, Any]:
    """A passing run of two cases whose commit defines a third, `other`, that never ran."""
    records = passing(10)
    if bad_skip:
        records[0]["outcome"] = "skipped"
    data = results(records, selection=selection)
    if bad_skip:  # the case file does not skip it
        data["run"]["coverage"]["expected"][0]["skip"] = False
    data["run"]["coverage"]["expected"].append(
        {"case_id": "other", "checks": ["not_empty"], "skip": False})
    return data


SELECTED = {"keyword": "smoke", "markers": "fast", "cases": "cases/one.yaml",
            "shard": {"index": 1, "count": 3}}


def test_a_partial_run_blocks_and_says_how_it_was_selected() -> None:
    decision = gate.evaluate(partial(SELECTED), POLICY)
    assert not decision.allowed
    assert [(r.rule, r.message) for r in decision.reasons] == [(
        "coverage", "partial run (selected with -k 'smoke' -m 'fast' --cases cases/one.yaml "
                    "--shard 1/3): 1 case check(s) never ran: other (one shard: merge all 3 "
                    "with `llmops results merge`)")]
    assert decision.metrics["coverage"] == {"defined": 3, "covered": 2, "complete": False}
    [rule] = [r for r in decision.rules if r.name == "coverage"]
    assert (rule.value, rule.limit, rule.ok) == ("2/3 cases", "every case", False)
    # without a selection (a deleted eval module, say), nothing to name
    decision = gate.evaluate(partial({}), POLICY)
    assert [r.message for r in decision.reasons] == [
        "partial run: 1 case check(s) never ran: other"]
    decision = gate.evaluate(partial({"keyword": None, "shard": None}), POLICY)
    assert [r.message for r in decision.reasons] == [
        "partial run: 1 case check(s) never ran: other"]


def test_a_subset_the_policy_names_is_allowed_unless_it_hides_a_skip() -> None:
    policy = gate.Policy(min_pass_rate=0.9, allow_subsets=({"markers": "fast"},
                                                           {"keyword": "smoke"}))
    decision = gate.evaluate(partial({"keyword": "smoke"}), policy)
    assert decision.allowed and decision.reasons == []
    [rule] = [r for r in decision.rules if r.name == "coverage"]
    assert (rule.value, rule.limit, rule.ok) == (
        "2/3 cases", "every case (subset -k 'smoke' allowed)", True)
    # a selection the policy does not name
    assert not gate.evaluate(partial({"keyword": "smoke", "markers": "fast"}), policy).allowed
    # a named subset does not excuse a check skipped that its case file does not skip
    decision = gate.evaluate(partial({"keyword": "smoke"}, bad_skip=True), policy)
    assert not decision.allowed
    assert [r.rule for r in decision.reasons] == ["coverage"]
    assert "1 check(s) skipped though their case is not: case-0 [not_empty]" in (
        decision.reasons[0].message)


@pytest.mark.parametrize("entry", [{"keyword": ""}, {"keyword": 5}, {"markers": None}])
def test_allow_subsets_values_are_non_empty_strings(entry: dict[str, Any]) -> None:
    key = next(iter(entry))
    with pytest.raises(InputError, match=(
            rf"^\[tool\.llmops\.gate\]: allow_subsets: {key} must be a non-empty string$")):
        gate.Policy.from_table({"allow_subsets": [entry]})
    assert gate.Policy.from_table({"allow_subsets": [{"keyword": "k"}]}).allow_subsets == (
        {"keyword": "k"},)
