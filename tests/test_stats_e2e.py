"""Repeated samples end to end: `pytest evals/ --repeat` against a bot on 127.0.0.1 whose cases
pass with known, seeded probabilities (tests/coinbot.py), then `llmops gate --baseline` and
`llmops compare` on what the runs wrote."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llmops import stats
from llmops.errors import InputError
from llmops.plugin import parse_repeat
from llmops.schemas import load_schema
from tests.coinbot import coin_app, coin_cases
from tests.conftest import run_evals

RATES = {"always": 1.0, "often": 0.9, "half": 0.5, "never": 0.0}


@pytest.fixture
def coin_server() -> Iterator[Callable[..., tuple[str, Any]]]:
    """Start coin bots (seed, rate overrides); yield (URL, app) pairs."""
    from llmops.chatbot.server import serve_in_thread

    with ExitStack() as stack:

        def start(seed: int = 0, rates: dict[str, float] | None = None) -> tuple[str, Any]:
            app = coin_app(seed, rates)
            return stack.enter_context(serve_in_thread(app)), app

        yield start


def heads(seed: int, name: str, p: float, n: int) -> int:
    """How many of the bot's first n answers to this case are "heads" (its own draw, replayed)."""
    prompt = f"coin {name} p={p}"
    return sum(random.Random(f"{seed}|{prompt}|{k}").random() < p for k in range(1, n + 1))


def results(root: Path, name: str = "results.json") -> dict[str, Any]:
    doc = json.loads((root / "reports" / name).read_text())
    jsonschema.validate(doc, load_schema("results"))
    return doc


def by_check(doc: dict[str, Any], check: str = "contains") -> dict[str, dict[str, Any]]:
    return {s["case_id"]: s for s in doc["stats"] if s["check"] == check}


def llmops(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmops", *args], cwd=root,
                          capture_output=True, text=True, timeout=120)


def test_fixed_repeats_write_rates_intervals_and_verdicts(project, coin_server) -> None:
    root = project({"coins.yaml": coin_cases(RATES)})
    url, app = coin_server(seed=7)
    run = run_evals(root, "--target", url, "--repeat", "20")
    doc = results(root)
    assert doc["schema_version"] == 2 and doc["run"]["repeat"] == 20
    assert doc["run"]["requests"] == 80 and "repeat_max" not in doc["run"]
    assert all(app.state.asked[f"coin {n} p={p}"] == 20 for n, p in RATES.items())
    rows = by_check(doc)
    for name, p in RATES.items():
        k = heads(7, name, p, 20)  # the bot's own draws: the counts are known exactly
        row = rows[name]
        assert (row["samples"], row["passed"]) == (20, k), name
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(stats.wilson(k, 20), abs=1e-6)
        assert row["flaky"] == (0 < k < 20)
        assert row["verdict"] == ("passed" if k == 20 else "failed")  # min_pass_rate 1.0
    assert rows["always"]["verdict"] == "passed" and rows["never"]["verdict"] == "failed"
    assert all(s["verdict"] == "passed" for s in doc["stats"] if s["check"] != "contains")
    cases = {c["case_id"]: c for c in doc["case_stats"]}
    k = heads(7, "half", 0.5, 20)
    assert cases["half"]["pass_hat_k"]["3"] == pytest.approx(stats.pass_hat_k(k, 20, 3), abs=1e-6)
    assert doc["summary"]["flaky"] == 2 and doc["summary"]["verdicts"]["failed"] == 3
    # the terminal lists the checks not passed, with intervals, and the flaky ones
    assert "pass rates [95% interval]" in run.stdout
    assert "half [contains] flaky" in run.stdout and "never [contains]" in run.stdout
    assert run.returncode == 1
    # the HTML report carries the same table
    report = (root / "reports" / "report.html").read_text()
    assert "Pass rates (95% Wilson intervals)" in report and "llmops-rates" in report


def test_min_pass_rate_tolerates_failures_that_meet_it(project, coin_server) -> None:
    root = project({"coins.yaml": coin_cases({"often": 0.9, "sometimes": 0.6})},
                   llmops="min_pass_rate = 0.7")
    url, _ = coin_server(seed=3)
    run = run_evals(root, "--target", url, "--repeat", "40")
    rows = by_check(results(root))
    often, sometimes = rows["often"], rows["sometimes"]
    assert often["min_pass_rate"] == 0.7 and often["verdict"] == "passed", often
    assert often["ci_low"] >= 0.7 and often["passed"] < 40
    assert sometimes["verdict"] in ("failed", "uncertain") and sometimes["ci_low"] < 0.7
    # often's failing samples are expected failures (xfail); sometimes' are failures
    lines = run.stdout.splitlines()
    assert any(x.startswith("XFAIL evals/") and "::test_contains[coins/often#" in x
               and "tolerated by min_pass_rate 0.7" in x for x in lines)
    assert any(x.startswith("FAILED evals/") and "::test_contains[coins/sometimes#" in x
               for x in lines)
    assert not any(x.startswith("FAILED evals/") and "coins/often#" in x for x in lines)
    assert run.returncode == 1
    # the records of the samples stay as they are: failed
    doc = results(root)
    assert sum(r["outcome"] == "failed" for r in doc["results"]
               if r["case_id"] == "often") == 40 - often["passed"]


def test_case_key_min_pass_rate_wins_and_exit_follows_verdicts(project, coin_server) -> None:
    root = project({"coins.yaml": coin_cases({"often": 0.9}, min_pass_rate=0.6)},
                   llmops="min_pass_rate = 0.99")
    url, _ = coin_server(seed=3)
    run = run_evals(root, "--target", url, "--repeat", "40")
    row = by_check(results(root))["often"]
    assert row["min_pass_rate"] == 0.6 and row["verdict"] == "passed"
    assert run.returncode == 0, run.stdout[-2000:]


def test_adaptive_repeats_cost_min_on_decided_cases(project, coin_server) -> None:
    """At min_pass_rate 1.0 the samples alone decide: always-pass and always-fail cases cost MIN
    requests, with the verdicts 20 fixed repeats give."""
    rates = {"always": 1.0, "never": 0.0, "alsoalways": 1.0}
    root = project({"coins.yaml": coin_cases(rates)})
    url, app = coin_server(seed=1)
    fixed = run_evals(root, "--target", url, "--repeat", "20")
    fixed_doc = results(root)
    url2, app2 = coin_server(seed=1)
    adaptive = run_evals(root, "--target", url2, "--repeat", "3:20")
    doc = results(root)
    assert sum(app.state.asked.values()) == 60 and sum(app2.state.asked.values()) == 9
    assert doc["run"]["repeat"] == 3 and doc["run"]["repeat_max"] == 20
    assert doc["run"]["requests"] == 9
    verdicts = {(s["case_id"], s["check"]): s["verdict"] for s in doc["stats"]}
    assert verdicts == {(s["case_id"], s["check"]): s["verdict"] for s in fixed_doc["stats"]}
    assert "adaptive repeats 3:20 asked 9 run(s) where fixed repeats would ask 60" in (
        adaptive.stdout)
    assert "deselected" in adaptive.stdout.splitlines()[-1]
    assert fixed.returncode == adaptive.returncode == 1


def test_adaptive_repeats_ask_more_only_while_unsure(project, coin_server) -> None:
    rates = {"always": 1.0, "never": 0.0, "half": 0.5}
    root = project({"coins.yaml": coin_cases(rates, min_pass_rate=0.7)})
    url, app = coin_server(seed=11)
    run = run_evals(root, "--target", url, "--repeat", "3:30")
    doc = results(root)
    asked = {name: app.state.asked[f"coin {name} p={p}"] for name, p in rates.items()}
    rows = {(s["case_id"], s["check"]): s for s in doc["stats"]}
    for name, n in asked.items():
        for key, row in rows.items():
            if key[0] == name:
                assert row["samples"] == n
        # it stopped as soon as every check's interval cleared 0.7, or at MAX
        checks = [r for k, r in rows.items() if k[0] == name]
        if n < 30:
            assert all(r["verdict"] in ("passed", "failed") for r in checks), (name, checks)
        else:
            assert any(r["verdict"] == "uncertain" for r in checks)
    # "never" fails its content check at once, but its other checks (always passing) must
    # clear 0.7 too: 3/3 does not, 12/12 does (n / (n + 3.84) >= 0.7 from n = 9)
    assert asked["always"] == asked["never"] == 12
    assert rows[("half", "contains")]["verdict"] in ("uncertain", "failed")
    assert sum(asked.values()) < 3 * 30
    assert "more run(s)" in run.stdout


def test_bad_repeat_and_bad_min_pass_rate_are_usage_errors(project) -> None:
    for bad in ("0", "5:3", "x", "1:2:3", "3:1001", ""):
        with pytest.raises(InputError, match="--repeat: expected N or MIN:MAX"):
            parse_repeat(bad)
    assert parse_repeat("20") == (20, 20) and parse_repeat(" 3:20") == (3, 20)
    root = project({"coins.yaml": coin_cases({"a": 1.0})})
    run = run_evals(root, "--repeat", "5:3")
    assert run.returncode == 4 and "--repeat: expected N or MIN:MAX" in run.stderr
    (root / "cases" / "coins.yaml").write_text(coin_cases({"a": 1.0}, min_pass_rate=1.5))
    run = run_evals(root)
    assert run.returncode == 1 and "coins.yaml:7" in run.stdout and "min_pass_rate" in run.stdout


def test_config_min_pass_rate_is_checked(project) -> None:
    root = project({"coins.yaml": coin_cases({"a": 1.0})}, llmops="min_pass_rate = 'high'")
    run = run_evals(root)
    assert run.returncode == 4 and "min_pass_rate must be a number from 0 to 1" in run.stderr


def test_without_scipy_repeats_say_which_extra(project, tmp_path: Path) -> None:
    blocker = tmp_path / "noscipy" / "scipy"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('scipy is not installed')\n")
    root = project({"coins.yaml": coin_cases({"a": 1.0})})
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    run = subprocess.run([sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider",
                          "--repeat", "3"], cwd=root, capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 4
    assert "pip install 'llmops[stats]'" in run.stderr


def _run_pair(project, coin_server, base_rates, new_rates, n, seeds=(1, 2)) -> Path:
    root = project({"coins.yaml": coin_cases(base_rates)})
    url, _ = coin_server(seed=seeds[0])
    run_evals(root, "--target", url, "--repeat", str(n), "--results", "reports/base.json")
    url, _ = coin_server(seed=seeds[1], rates=new_rates)
    run_evals(root, "--target", url, "--repeat", str(n), "--results", "reports/new.json")
    return root


def test_gate_does_not_call_noise_a_regression(project, coin_server) -> None:
    rates = {"always": 1.0, "often": 0.9, "half": 0.5}
    root = _run_pair(project, coin_server, rates, None, 20)
    gate = llmops(root, "gate", "reports/new.json", "--baseline", "reports/base.json", "--json")
    decision = json.loads(gate.stdout)
    assert decision["regressions"] == []
    b = decision["metrics"]["baseline"]
    assert b["method"].startswith("one-sided Fisher") and b["alpha"] == 0.05
    assert b["compared_checks"] == 3 * 3  # not_empty, max_latency_ms, contains
    rate = b["pass_rate"]
    assert rate["ci_low"] <= rate["diff"] <= rate["ci_high"]
    assert b["p95_latency_ms"]["ci_low"] is not None


def test_gate_catches_a_drop_from_100_to_60_percent_at_20(project, coin_server) -> None:
    rates = {"steady": 1.0, "drops": 1.0, "half": 0.5}
    root = _run_pair(project, coin_server, rates, {"drops": 0.6}, 20)
    new = results(root, "new.json")
    k = by_check(new)["drops"]["passed"]
    assert k == sum(random.Random(f"2|coin drops p=1.0|{i}").random() < 0.6 for i in range(1, 21))
    gate = llmops(root, "gate", "reports/new.json", "--baseline", "reports/base.json", "--json")
    assert gate.returncode == 1
    regs = json.loads(gate.stdout)["regressions"]
    assert [(r["case_id"], r["check"]) for r in regs] == [("drops", "contains")]
    reg = regs[0]
    assert (reg["base_passed"], reg["base_samples"], reg["new_passed"], reg["new_samples"]) == (
        20, 20, k, 20)
    assert reg["p_value"] == pytest.approx(stats.drop_p_value(20, 20, k, 20))
    assert reg["p_value"] < 0.05 and reg["file"] == "cases/coins.yaml"
    text = llmops(root, "gate", "reports/new.json", "--baseline", "reports/base.json")
    assert "contains pass rate dropped (20/20 on the baseline, now" in text.stdout
    assert "vs baseline: pass rate" in text.stdout and "95% interval" in text.stdout


def test_compare_json_and_html(project, coin_server) -> None:
    rates = {"steady": 1.0, "drops": 1.0, "fixed": 0.0}
    root = _run_pair(project, coin_server, rates, {"drops": 0.5, "fixed": 1.0}, 20)
    out = llmops(root, "compare", "reports/base.json", "reports/new.json", "--json",
                 "--html", "reports/compare.html")
    assert out.returncode == 1, out.stderr
    c = json.loads(out.stdout)
    assert c["newly_failing"] == ["drops"] and c["newly_passing"] == ["fixed"]
    assert [r["case_id"] for r in c["regressions"]] == ["drops"]
    assert [i["case_id"] for i in c["improvements"]] == ["fixed"]
    row = next(r for r in c["checks"] if (r["case_id"], r["check"]) == ("drops", "contains"))
    assert row["base_rate"] == 1.0 and row["diff_ci_low"] < row["diff"] < row["diff_ci_high"] < 0
    assert row["p_value"] == pytest.approx(
        stats.drop_p_value(20, 20, row["new_passed"], 20)) and row["regression"]
    assert {x["case_id"] for x in c["changed_cases"]} == {"drops", "fixed"}
    page = (root / "reports" / "compare.html").read_text()
    assert "id='case-drops'" in page and "id='case-fixed'" in page and "steady" not in page
    assert "<script" not in page
    text = llmops(root, "compare", "reports/base.json", "reports/new.json")
    assert "newly failing (1): drops" in text.stdout and "regressions: 1" in text.stdout


def test_compare_rejects_bad_input(project, tmp_path: Path) -> None:
    root = project({"coins.yaml": coin_cases({"a": 1.0})})
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    out = llmops(root, "compare", str(bad), str(tmp_path / "missing.json"))
    assert out.returncode == 2 and "bad.json" in out.stderr
