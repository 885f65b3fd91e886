"""The gate with repeated samples, in process: the statistical regression rule, thresholds that
excuse some failing samples of a critical case (never of a leak check), and what the text, JSON
and job summary say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmops import gate, results, stats


def _doc(tmp: Path, samples: dict[tuple[str, str], list[str]], severity: str = "major",
         thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    records = []
    for (case_id, check), outcomes in samples.items():
        for i, outcome in enumerate(outcomes, 1):
            records.append({
                "case_id": case_id, "file": "cases/x.yaml", "line": 4, "suite": "x", "tags": [],
                "severity": severity, "check": check, "prompt": "q", "repeat": i,
                "outcome": outcome, "message": "" if outcome == "passed" else "expected heads",
                "latency_ms": 100.0 + i, "error_type": None,
                "response_excerpt": "heads" if outcome == "passed" else "tails", "findings": [],
            })
    repeats = max(len(v) for v in samples.values())
    statistical = repeats > 1 or any(t < 1 for t in (thresholds or {}).values())
    checks: dict[str, list[str]] = {}
    for case_id, check in samples:
        checks.setdefault(case_id, []).append(check)
    expected = [{"case_id": c, "checks": k, "skip": False} for c, k in sorted(checks.items())]
    cov = {"cases_dir": "cases", "defined": len(expected), "selected": len(expected),
           "complete": True, "expected": expected}  # a full run of exactly these cases
    return results.document(records, started_at=results.now_iso(), target="t",
                            chatbot_version=None, cases_digest="0" * 64, root=tmp,
                            repeat=repeats, thresholds=thresholds or {}, statistical=statistical,
                            coverage=cov)


POLICY = gate.Policy(min_pass_rate=None, max_p95_latency_ms=None, max_error_rate=None)


def test_statistical_regressions_name_counts_and_p_values(tmp_path: Path) -> None:
    base = _doc(tmp_path, {("a", "contains"): ["passed"] * 20,
                           ("b", "contains"): ["passed"] * 19 + ["failed"]})
    new = _doc(tmp_path, {("a", "contains"): ["passed"] * 12 + ["failed"] * 8,
                          ("b", "contains"): ["passed"] * 18 + ["failed"] * 2})
    d = gate.evaluate(new, POLICY, base)
    assert not d.allowed
    out = d.to_dict()
    assert [(r["case_id"], r["check"]) for r in out["regressions"]] == [("a", "contains")]
    reg = out["regressions"][0]
    assert (reg["base_passed"], reg["base_samples"], reg["new_passed"], reg["new_samples"]) == (
        20, 20, 12, 20)
    assert reg["p_value"] == pytest.approx(stats.drop_p_value(20, 20, 12, 20))
    assert reg["file"] == "cases/x.yaml" and reg["line"] == 4
    b = out["metrics"]["baseline"]
    assert b["tarone_k"] == 1 and b["compared_checks"] == 2  # b's few failures cannot reach it
    assert b["pass_rate"]["diff"] == pytest.approx((30 - 39) / 40)
    assert b["pass_rate"]["ci_high"] < 0
    text = "\n".join(d.lines())
    assert "contains pass rate dropped (20/20 on the baseline, now 12/20" in text
    assert "vs baseline: pass rate 97.5% -> 75%" in text
    md = d.markdown()
    assert "### Against the baseline" in md and "| `a` | `contains` | 20/20 | 12/20 |" in md
    assert "### Pass rates (95% Wilson intervals)" in md
    assert "| failed | `a` | `contains` | 60% [39%, 78%] 12/20 | 100% | yes |" in md


def test_noise_is_no_regression_with_repeats_but_is_with_single_samples(tmp_path: Path) -> None:
    base = _doc(tmp_path, {("a", "contains"): ["passed"] * 9 + ["failed"]})
    new = _doc(tmp_path, {("a", "contains"): ["passed"] * 8 + ["failed"] * 2})
    d = gate.evaluate(new, POLICY, base)
    assert d.regressions == [] and d.allowed
    # single samples: the rule as it always was
    d1 = gate.evaluate(_doc(tmp_path, {("a", "contains"): ["failed"]}), POLICY,
                       _doc(tmp_path, {("a", "contains"): ["passed"]}))
    assert [(r["case_id"], r["p_value"]) for r in d1.to_dict()["regressions"]] == [("a", None)]
    assert "baseline" not in d1.metrics and not d1.rates


def test_alpha_bounds_the_test(tmp_path: Path) -> None:
    base = _doc(tmp_path, {("a", "contains"): ["passed"] * 20})
    new = _doc(tmp_path, {("a", "contains"): ["passed"] * 15 + ["failed"] * 5})  # p = 0.024
    assert gate.evaluate(new, POLICY, base).regressions
    strict = gate.Policy.from_table({"alpha": 0.01, "min_pass_rate": False,
                                     "max_p95_latency_ms": False, "max_error_rate": False})
    assert strict.alpha == 0.01 and not gate.evaluate(new, strict, base).regressions


def test_a_met_threshold_excuses_a_critical_case_never_a_leak(tmp_path: Path) -> None:
    samples = {("c", "contains"): ["passed"] * 38 + ["failed"] * 2}
    met = _doc(tmp_path, samples, severity="critical", thresholds={"c": 0.8})
    assert next(s for s in met["stats"])["verdict"] == "passed"
    assert gate.evaluate(met, POLICY).allowed
    strict = _doc(tmp_path, samples, severity="critical")  # min_pass_rate 1.0
    d = gate.evaluate(strict, POLICY)
    assert not d.allowed and {r.rule for r in d.reasons} == {"severity"}
    leak = _doc(tmp_path, {("c", "no_pii"): ["passed"] * 38 + ["failed"] * 2},
                thresholds={"c": 0.8})
    d = gate.evaluate(leak, POLICY)
    assert not d.allowed and {r.rule for r in d.reasons} == {"blocked_check"}
    # an uncertain verdict blocks a critical case (fail closed)
    unsure = _doc(tmp_path, {("c", "contains"): ["passed"] * 9 + ["failed"]},
                  severity="critical", thresholds={"c": 0.8})
    assert next(s for s in unsure["stats"])["verdict"] == "uncertain"
    assert not gate.evaluate(unsure, POLICY).allowed


def test_thresholds_come_from_stats_but_verdicts_from_the_records(tmp_path: Path) -> None:
    doc = _doc(tmp_path, {("c", "contains"): ["passed"] * 20 + ["failed"] * 20},
               severity="critical", thresholds={"c": 0.8})
    for s in doc["stats"]:  # a hand-edited verdict cannot open the gate
        s["verdict"] = "passed"
    assert not gate.evaluate(doc, POLICY).allowed


def test_a_baseline_of_schema_1_still_reads(tmp_path: Path) -> None:
    base = _doc(tmp_path, {("a", "contains"): ["passed"]})
    base["schema_version"] = 1
    path = tmp_path / "base.json"
    path.write_text(__import__("json").dumps(base))
    assert gate.read_results(path).data["schema_version"] == 1


def test_the_text_names_the_notable_rates_and_the_baseline_change(tmp_path: Path) -> None:
    base = _doc(tmp_path, {("a", "contains"): ["passed"] * 20,
                           ("b", "contains"): ["passed"] * 19 + ["failed"]})
    new = _doc(tmp_path, {("a", "contains"): ["passed"] * 12 + ["failed"] * 8,
                          ("b", "contains"): ["passed"] * 18 + ["failed"] * 2})
    lines = gate.evaluate(new, POLICY, base).lines()
    assert ("  vs baseline: pass rate 97.5% -> 75% (change -22.5 pts, 95% interval "
            "[-40.0 pts, -5.0 pts])") in lines
    i = lines.index("  pass rates: verdicts: 0 passed, 2 failed, 0 uncertain, 0 error | "
                    "flaky checks: 2")
    assert lines[i + 1:i + 3] == ["    failed    60% [39%, 78%] 12/20     a [contains] flaky",
                                  "    failed    90% [70%, 97%] 18/20     b [contains] flaky"]
    # one case a side: no interval to give
    one = gate.evaluate(_doc(tmp_path, {("a", "contains"): ["passed"] * 12 + ["failed"] * 8}),
                        POLICY, _doc(tmp_path, {("a", "contains"): ["passed"] * 20}))
    assert ("  vs baseline: pass rate 100% -> 60% (change -40.0 pts, 95% interval n/a (fewer "
            "than 2 cases))") in one.lines()


@pytest.mark.parametrize(("cases", "more"), [(50, None), (51, 1)])
def test_the_summary_table_of_rates_is_cut_at_its_rows(tmp_path: Path, cases: int,
                                                       more: int | None) -> None:
    doc = _doc(tmp_path, {(f"c{i:02d}", "contains"): ["passed", "failed"]
                          for i in range(cases)})
    md = gate.evaluate(doc, POLICY).markdown()
    assert md.count("| failed | `c") == 50
    assert ("more in the results artifact." in md) is (more is not None)
    if more is not None:
        assert f"\n… and {more} more in the results artifact." in md


def test_single_samples_get_rates_only_when_a_threshold_is_below_one(tmp_path: Path) -> None:
    one = {("c", "contains"): ["passed"]}
    assert gate.evaluate(_doc(tmp_path, one), POLICY).rates == []
    rates = gate.evaluate(_doc(tmp_path, one, thresholds={"c": 0.8}), POLICY).rates
    assert [(r["case_id"], r["min_pass_rate"], r["samples"]) for r in rates] == [("c", 0.8, 1)]
    # a stats entry without its threshold holds the case to every sample
    doc = _doc(tmp_path, {("c", "contains"): ["passed", "failed"]})
    for s in doc["stats"]:
        s.pop("min_pass_rate", None)
    [rate] = gate.evaluate(doc, POLICY).rates
    assert (rate["min_pass_rate"], rate["verdict"]) == (1.0, "failed")
