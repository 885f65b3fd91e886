"""The GitHub Actions workflows: valid against GitHub's schema, and wired so that `stable` can only
take a commit whose evals passed, with write access only where a push happens."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
NAMES = ("ci.yml", "promote.yml", "rollback.yml")


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the bare key `on` as True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def step_using(doc: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(doc) if str(s.get("uses", "")).startswith(action + "@")]


def step_running(doc: dict[str, Any], pattern: str) -> dict[str, Any]:
    [found] = [s for s in steps(doc) if re.search(pattern, s.get("run", ""))]
    return found


def test_workflows_match_githubs_schema() -> None:
    exe = Path(sys.executable).parent / "check-jsonschema"
    command = str(exe) if exe.exists() else shutil.which("check-jsonschema")
    assert command, "check-jsonschema is missing: install the dev extra"
    files = [str(WORKFLOWS / name) for name in NAMES]
    proc = subprocess.run(
        [command, "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok -- validation done" in proc.stdout


# -- ci.yml ----------------------------------------------------------------------------------------


def job_of(doc: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    [job] = [j for j in doc["jobs"].values() if step in j.get("steps", [])]
    return job


def test_ci_runs_tests_then_sharded_evals_then_merges_and_gates() -> None:
    ci = load("ci.yml")
    assert {"pull_request", "push", "workflow_dispatch"} <= set(ci["on"])
    assert ci["permissions"] == {"contents": "read"}
    setups = step_using(ci, "actions/setup-python")
    assert setups and all(s["with"]["cache"] == "pip" for s in setups)
    assert step_running(ci, r"^make test$")
    # N: a workflow input with a default, which pushes and pull requests (no inputs) take too.
    shards = ci["on"]["workflow_dispatch"]["inputs"]["shards"]
    assert shards["type"] == "number" and isinstance(shards["default"], int)
    plan = step_running(ci, r"seq -s")
    assert plan["env"]["SHARDS"] == f"${{{{ inputs.shards || {shards['default']} }}}}"
    plan_job = job_of(ci, plan)
    assert plan_job["outputs"] == {"count": "${{ steps.plan.outputs.count }}",
                                   "shards": "${{ steps.plan.outputs.shards }}"}
    # The evals: a matrix of the planned shards, each asking its part and keeping its reports.
    evals = step_running(ci, r"pytest evals/")
    assert "continue-on-error" not in evals  # exit codes are handled in the script, see below
    assert '--shard "$SHARD"' in evals["run"]
    assert evals["env"]["SHARD"] == "${{ matrix.shard }}/${{ needs.plan.outputs.count }}"
    evals_job = job_of(ci, evals)
    assert evals_job["needs"] == "plan"
    assert evals_job["strategy"]["fail-fast"] is False
    assert evals_job["strategy"]["matrix"] == {
        "shard": "${{ fromJSON(needs.plan.outputs.shards) }}"}
    [shard_upload] = [s for s in step_using(ci, "actions/upload-artifact")
                      if s in evals_job["steps"]]
    assert shard_upload["if"] == "always()"
    assert shard_upload["with"]["path"].rstrip("/") == "reports"
    assert shard_upload["with"]["name"] == "eval-shard-${{ matrix.shard }}"
    order = evals_job["steps"]
    assert order.index(evals) < order.index(shard_upload)
    # One final job: every shard's results, merged, gated (job summary), uploaded as the
    # eval-reports promote.yml takes.
    merge = step_running(ci, r"llmops results merge")
    gate_job = job_of(ci, merge)
    assert set(gate_job["needs"]) == {"plan", "evals"}
    assert gate_job["if"] == "${{ !cancelled() && needs.plan.result == 'success' }}"
    [download] = step_using(ci, "actions/download-artifact")
    assert download["with"] == {"pattern": "eval-shard-*", "path": "shards"}
    assert merge["run"].endswith("llmops results merge shards/*/results.json "
                                 "-o reports/results.json")
    assert merge["env"]["LLMOPS_RESULTS_KEY"] == evals["env"]["LLMOPS_RESULTS_KEY"]
    gate_step = step_running(ci, r"llmops gate reports/results\.json")
    assert gate_step["env"]["LLMOPS_RESULTS_KEY"] == evals["env"]["LLMOPS_RESULTS_KEY"]
    assert gate_step["if"] in ("always()", "${{ !cancelled() }}")
    [upload] = [s for s in step_using(ci, "actions/upload-artifact") if s in gate_job["steps"]]
    assert upload["if"] == "always()" and upload["with"]["name"] == "eval-reports"
    steps_ = gate_job["steps"]
    assert (steps_.index(download) < steps_.index(merge) < steps_.index(gate_step)
            < steps_.index(upload))


def run_plan(script: str, tmp_path: Path, shards: str) -> tuple[int, str, str]:
    output = tmp_path / "output"
    output.write_text("")
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output),
                           "SHARDS": shards},
        capture_output=True, text=True, check=False,
    )
    return proc.returncode, output.read_text(), proc.stdout


@pytest.mark.parametrize("path", [WORKFLOWS / "ci.yml", "template"])
@pytest.mark.parametrize(("shards", "count"), [("3", 3), ("1", 1), ("08", 8), ("256", 256)])
def test_the_plan_gives_the_matrix_its_shards(tmp_path: Path, path: Any, shards: str,
                                              count: int) -> None:
    script = step_running(_workflow(path), r"seq -s")["run"]
    code, output, _ = run_plan(script, tmp_path, shards)
    assert code == 0
    lines = dict(line.split("=", 1) for line in output.splitlines())
    assert int(lines["count"]) == count
    assert json.loads(lines["shards"]) == list(range(1, count + 1))


@pytest.mark.parametrize("path", [WORKFLOWS / "ci.yml", "template"])
@pytest.mark.parametrize("shards", ["0", "257", "abc", "", "-2", "3 ", "2; echo hi", "1e3"])
def test_the_plan_refuses_a_bad_shard_count(tmp_path: Path, path: Any, shards: str) -> None:
    script = step_running(_workflow(path), r"seq -s")["run"]
    code, output, stdout = run_plan(script, tmp_path, shards)
    assert code == 2 and output == ""
    assert stdout.startswith("::error title=shards::expected")


def _workflow(path: Any) -> dict[str, Any]:
    if path == "template":
        from llmops.scaffold import template

        doc = yaml.safe_load(template("llmops.yml"))
    else:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


@pytest.mark.parametrize(("pytest_exit", "step_exit"), [(0, 0), (1, 0), (2, 2), (3, 3), (5, 5)])
def test_ci_evals_step_leaves_failed_checks_to_the_gate(
    tmp_path: Path, pytest_exit: int, step_exit: int
) -> None:
    """Failing checks (exit 1) go on to the gate; an interrupted or empty run fails the job."""
    script = step_running(load("ci.yml"), r"pytest evals/")["run"]
    fake = tmp_path / ".venv" / "bin" / "pytest"
    fake.parent.mkdir(parents=True)
    fake.write_text(f"#!/bin/sh\nexit {pytest_exit}\n")
    fake.chmod(0o755)
    output = tmp_path / "output"
    output.write_text("")
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == step_exit, proc.stderr
    assert output.read_text() == f"exit-code={pytest_exit}\n"


# -- promote.yml -----------------------------------------------------------------------------------


def evaluate_if(expression: str, context: dict[str, str]) -> bool:
    """Evaluate the `a.b == 'x' && c == d` subset of GitHub expressions used by the gate jobs."""
    expression = expression.strip()
    if expression.startswith("${{"):
        expression = expression[3:].removesuffix("}}")
    assert "||" not in expression and "!" not in expression.replace("!=", "")
    result = True
    for clause in expression.split("&&"):
        lhs, op, rhs = re.fullmatch(r"\s*(\S+)\s*(==|!=)\s*(\S+)\s*", clause).groups()  # type: ignore[union-attr]
        values = [v.strip("'") if v.startswith("'") else context[v] for v in (lhs, rhs)]
        result &= (values[0] == values[1]) is (op == "==")
    return result


GOOD_RUN = {
    "github.event.workflow_run.conclusion": "success",
    "github.event.workflow_run.event": "push",
    "github.event.workflow_run.head_branch": "main",
    "github.event.workflow_run.head_repository.full_name": "bank/chatbot",
    "github.repository": "bank/chatbot",
}


@pytest.mark.parametrize(
    ("change", "runs"),
    [
        ({}, True),
        ({"github.event.workflow_run.conclusion": "failure"}, False),
        ({"github.event.workflow_run.conclusion": "cancelled"}, False),
        ({"github.event.workflow_run.conclusion": "skipped"}, False),
        ({"github.event.workflow_run.event": "pull_request"}, False),  # a PR from a branch "main"
        ({"github.event.workflow_run.head_branch": "feature"}, False),
        ({"github.event.workflow_run.head_repository.full_name": "fork/chatbot"}, False),
    ],
)
def test_promotion_cannot_run_unless_the_evals_succeeded(
    change: dict[str, str], runs: bool
) -> None:
    promote = load("promote.yml")
    ci = load("ci.yml")
    trigger = promote["on"]
    assert set(trigger) == {"workflow_run"}
    assert trigger["workflow_run"]["workflows"] == [ci["name"]]
    assert trigger["workflow_run"]["types"] == ["completed"]
    assert trigger["workflow_run"]["branches"] == ["main"]
    # Every job that could touch stable carries the condition (or needs one that does).
    for name, job in promote["jobs"].items():
        needs = job.get("needs", [])
        gated = "if" in job and evaluate_if(job["if"], {**GOOD_RUN, **change}) is runs
        assert gated or needs, f"job {name} runs without checking the CI run"


def test_promote_uses_that_runs_results_for_that_commit() -> None:
    promote = load("promote.yml")
    ci = load("ci.yml")
    [job] = promote["jobs"].values()
    assert job["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    [checkout] = step_using(promote, "actions/checkout")
    assert checkout["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"
    assert checkout["with"]["fetch-depth"] == 0  # the ancestry check needs history
    [download] = step_using(promote, "actions/download-artifact")
    # The merged results the gate job uploads (not a shard's).
    [upload] = [s for s in step_using(ci, "actions/upload-artifact")
                if s in job_of(ci, step_running(ci, r"llmops results merge"))["steps"]]
    assert download["with"]["name"] == upload["with"]["name"]
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    run = step_running(promote, r"bin/llmops promote ")["run"]
    assert '--ref "$HEAD_SHA"' in run
    assert "--results reports/results.json" in run
    assert "--push" in run
    assert all(s["with"]["cache"] == "pip" for s in step_using(promote, "actions/setup-python"))


def test_promote_permissions_and_concurrency() -> None:
    promote = load("promote.yml")
    assert promote["permissions"] == {"contents": "read"}  # write only where the push happens
    [job] = promote["jobs"].values()
    assert job["permissions"]["contents"] == "write"
    assert job["permissions"]["actions"] == "read"
    assert promote["concurrency"]["group"]
    assert promote["concurrency"]["cancel-in-progress"] is False


# -- rollback.yml ----------------------------------------------------------------------------------


def test_rollback_is_manual_with_the_release_to_return_to() -> None:
    rollback = load("rollback.yml")
    assert set(rollback["on"]) == {"workflow_dispatch"}
    inputs = rollback["on"]["workflow_dispatch"]["inputs"]
    assert inputs["release"]["type"] == "string"
    assert inputs["reason"]["required"] is True
    [job] = rollback["jobs"].values()
    assert job["env"]["RELEASE"] == "${{ inputs.release }}"
    assert job["permissions"] == {"contents": "write"}
    assert rollback["permissions"] == {"contents": "read"}
    assert rollback["concurrency"]["cancel-in-progress"] is False
    run = step_running(rollback, r"llmops rollback")["run"]
    assert '--to "$RELEASE"' in run and "--push" in run


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        ("release-3", "rollback --remote origin --push --reason x (by ana) --to release-3"),
        ("", "rollback --remote origin --push --reason x (by ana)"),
    ],
)
def test_rollback_script_passes_inputs_as_data(tmp_path: Path, release: str, expected: str) -> None:
    script = step_running(load("rollback.yml"), r"llmops rollback")["run"]
    fake = tmp_path / ".venv" / "bin" / "llmops"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "RELEASE": release, "REASON": "x", "GITHUB_ACTOR": "ana"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected


@pytest.mark.parametrize("name", NAMES)
def test_no_expression_is_pasted_into_a_script(name: str) -> None:
    """`${{ }}` inside `run:` is script injection waiting to happen; values go through env."""
    for step in steps(load(name)):
        assert "${{" not in step.get("run", ""), step
