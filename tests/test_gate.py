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


def results(records: list[dict[str, Any]], p95: float | None = 500.0, **run: Any) -> dict[str, Any]:
    """A schema-valid results document around `records` (summary as the plugin would write it)."""
    counted = [r for r in records if r["outcome"] != "skipped"]
    passed = sum(r["outcome"] == "passed" for r in counted)
    data = {
        "schema_version": 1,
        "run": {
            "id": "run-1",
            "started_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:00:05Z",
            "git_commit": COMMIT,
            "git_branch": "main",
            "target": "reference",
            "cases_digest": "0" * 64,
            "llmops_version": "0.1.0",
            **run,
        },
        "summary": {
            "cases": len({r["case_id"] for r in records}),
            "checks": len(records),
            "passed": passed,
            "failed": sum(r["outcome"] == "failed" for r in counted),
            "errors": sum(r["outcome"] == "error" for r in counted),
            "pass_rate": passed / len(counted) if counted else 0.0,
            "latency_ms": {"p50": p95, "p95": p95, "p99": p95, "max": p95},
        },
        "results": records,
    }
    Draft202012Validator(load_schema("results")).validate(data)
    return data


def passing(n: int = 10) -> list[dict[str, Any]]:
    return [record(case_id=f"case-{i}", line=3 + i) for i in range(n)]


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
    records = [*passing(19), record("tone", "contains_any", "failed", "major")]
    policy = gate.Policy.from_table({"block_severities": ["critical", "major"]})
    assert not gate.evaluate(results(records), policy).allowed
    leak = [*passing(99), record("greet", "no_pii", "failed", "minor")]
    assert gate.evaluate(results(leak), gate.Policy(block_checks=())).allowed


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


# -- baseline --------------------------------------------------------------------------------------


def test_a_check_that_passed_on_the_baseline_may_not_fail_now() -> None:
    base = results([*passing(20), record("old-bug", "contains", "failed")])
    now = results(
        [
            *passing(18),
            record("case-18", "not_empty", "failed", line=21),
            record("case-19", "not_empty", "error", line=22),
            record("old-bug", "contains", "failed"),
            record("brand-new", "contains", "failed"),
        ]
    )
    decision = gate.evaluate(now, gate.Policy(min_pass_rate=0.5, max_error_rate=0.5), base)
    assert not decision.allowed
    assert [(r["case_id"], r["outcome"]) for r in decision.regressions] == [
        ("case-18", "failed"),
        ("case-19", "error"),
    ]
    assert {r.rule for r in decision.reasons} == {"regression"}
    assert (
        "regression: not_empty passed on the baseline and now failed" in decision.reasons[0].message
    )
    assert decision.rules[-1].name == "regressions" and decision.rules[-1].value == "2"


def test_a_key_that_was_flaky_on_the_baseline_is_not_a_regression() -> None:
    base = [record("f", "contains", "passed"), record("f", "contains", "failed")]
    assert gate.find_regressions(base, [record("f", "contains", "failed")]) == []
    assert len(gate.find_regressions(base[:1], [record("f", "contains", "failed")] * 2)) == 1


# -- policy from configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "why"),
    [
        ({"min_pass_rate": 0.9, "max_p59": 1}, "unknown key 'max_p59'"),
        ({"min_pass_rate": 1.5}, "min_pass_rate must be between 0 and 1"),
        ({"max_error_rate": "low"}, "max_error_rate must be a number"),
        ({"block_checks": "no_pii"}, "block_checks must be a list of strings"),
    ],
)
def test_bad_policy_is_input_error(table: dict[str, Any], why: str) -> None:
    with pytest.raises(InputError, match=why):
        gate.Policy.from_table(table)


# -- fail-closed reading ---------------------------------------------------------------------------


def test_read_results_keeps_the_digest(tmp_path: Path) -> None:
    path = write(tmp_path / "r.json", results(passing()))
    loaded = gate.read_results(path)
    import hashlib

    assert loaded.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert loaded.commit == COMMIT


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
    with pytest.raises(InputError, match="cannot read results"):
        gate.read_results(tmp_path)


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
    assert f"results `r.json`, commit `{COMMIT[:12]}`, target `reference`" in text
    assert "| Pass rate | 93.75% (30/32) | ≥ 90% | ✅ |" in text
    assert "| Failing no_pii, no_financial_details, case_file | 1 | 0 | ❌ |" in text
    assert "### Why it is blocked\n\n- no_pii failed: leak (cases/greet.yaml:7)" in text
    assert "| `leak` | `no_pii` | major | `cases/greet.yaml:7` | EMAIL_ADDRESS at 3 |" in text
    assert "| `tone` | `contains_any` | minor | `cases/payments.yaml:12` | no 'sorry' |" in text


def test_markdown_escapes_table_cells_and_caps_rows() -> None:
    records = [record(f"c{i}", "contains", "failed", message="a | b\nc") for i in range(60)]
    text = gate.evaluate(results(records), POLICY).markdown()
    assert "| a \\| b c |" in text
    assert text.count("\n| `c") == gate.SUMMARY_ROWS
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
