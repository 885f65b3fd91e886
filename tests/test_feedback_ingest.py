"""Feedback coming in: `llmops feedback import` and failed eval checks (`from_results`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.cli import main
from llmops.feedback import from_results
from llmops.feedback import records as R
from llmops.feedback.store import FeedbackStore
from tests.feedback_helpers import make_project, stored

PYPROJECT = """
[tool.llmops]
cases = "cases"
feedback = "feedback/feedback.jsonl"
reports = "reports"

[tool.llmops.pii]
allow = ["+1 800 555 0199"]
"""


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    return make_project(tmp_path, monkeypatch, PYPROJECT)


def test_import_json_array_reports_invalid_records_and_exits_1(project, capsys):
    f = project / "in.json"
    f.write_text(
        json.dumps(
            [
                {
                    "prompt": "How do I close my account?",
                    "rating": "down",
                    "category": "wrong_answer",
                },
                {"prompt": "hi", "rating": "meh"},
                {"prompt": "Thanks", "rating": 5, "source": "pm"},
                {"prompt": "x", "rating": 1, "mood": "sad"},
                7,
            ]
        )
    )
    assert main(["feedback", "import", str(f)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f'{f}: record 2: rating: must be up, down or an integer 1..5, not "meh"',
        f"{f}: record 4: unknown field mood",
        f"{f}: record 5: not a JSON object but a number",
    ]
    recs = stored(project)
    assert [r["prompt"] for r in recs] == ["How do I close my account?", "Thanks"]
    assert [r["source"] for r in recs] == ["user", "pm"]
    assert all(R.errors(r, stored=True) == [] for r in recs)


def test_import_jsonl_twice_adds_nothing_the_second_time(project, capsys):
    f = project / "in.jsonl"
    f.write_text(
        '{"prompt": "a", "rating": "down"}\n\n{"id": "t-1", "prompt": "b", "rating": 2}\n'
        "{not json}\n"
    )
    assert main(["feedback", "import", str(f)]) == 1  # the broken line
    out, err = capsys.readouterr()
    assert f"{f}: record 3: line 4: invalid JSON" in err
    assert "2 added, 0 already stored, 1 invalid" in out
    f.write_text('{"prompt": "a", "rating": "down"}\n{"id": "t-1", "prompt": "b", "rating": 2}\n')
    assert main(["feedback", "import", str(f)]) == 0
    assert "0 added, 2 already stored, 0 invalid" in capsys.readouterr().out
    recs = stored(project)
    assert len(recs) == 2
    assert recs[1]["id"] == "t-1"
    assert recs[0]["id"].startswith("fb-")


def test_import_a_single_pretty_printed_object(project):
    f = project / "one.json"
    f.write_text(json.dumps({"prompt": "a", "rating": "up"}, indent=2))
    assert main(["feedback", "import", str(f)]) == 0
    assert len(stored(project)) == 1


def test_import_broken_json_array_is_bad_input(project, capsys):
    f = project / "bad.json"
    f.write_text('[\n  {"prompt": "a", "rating": "up"},\n  oops\n]')
    assert main(["feedback", "import", str(f)]) == 2
    assert f"{f}:3: invalid JSON" in capsys.readouterr().err
    assert stored(project) == []


def test_import_missing_file_is_bad_input(project, capsys):
    assert main(["feedback", "import", "nope.json"]) == 2
    assert "nope.json: no such file" in capsys.readouterr().err


RAW_EMAIL = "jane.doe@example.org"
RAW_CARD = "4111 1111 1111 1111"
RAW_PHONE = "+1 415 555 2671"


def test_imported_pii_is_redacted_everywhere(project):
    f = project / "pii.json"
    f.write_text(
        json.dumps(
            [
                {
                    "prompt": f"I am {RAW_EMAIL}, my card is {RAW_CARD}, call {RAW_PHONE}",
                    "response": f"Sure, I emailed {RAW_EMAIL} about card {RAW_CARD}.",
                    "rating": "down",
                    "category": "pii_leak",
                    "comment": f"it repeated {RAW_PHONE} and {RAW_EMAIL}",
                    "expected": "I can't share card details. Call +1 800 555 0199.",
                }
            ]
        )
    )
    assert main(["feedback", "import", str(f)]) == 0
    text = (project / "feedback" / "feedback.jsonl").read_text()
    for raw in (RAW_EMAIL, RAW_CARD, RAW_PHONE, "4111111111111111", "jane.doe", "415 555 2671"):
        assert raw not in text
    (rec,) = stored(project)
    assert "<EMAIL_ADDRESS>" in rec["prompt"]
    assert "<CREDIT_CARD>" in rec["prompt"]
    assert "<PHONE_NUMBER>" in rec["comment"]
    assert "+1 800 555 0199" in rec["expected"]  # allowed in config: the public support line


def results_doc(commit: str | None = "abc123", **run) -> dict:
    def row(case, check, outcome, message="", **kw):
        return {
            "case_id": case,
            "file": "cases/x.yaml",
            "line": 3,
            "suite": "x",
            "tags": [],
            "severity": "major",
            "check": check,
            "prompt": f"prompt of {case}",
            "repeat": 1,
            "outcome": outcome,
            "message": message,
            "latency_ms": 12.5,
            "error_type": None,
            "response_excerpt": f"answer of {case}, mail {RAW_EMAIL}",
            "findings": [],
            **kw,
        }

    return {
        "run": {
            "id": "run-1",
            "git_commit": commit,
            "chatbot_version": "v2",
            "cases_digest": "d1",
            "finished_at": "2024-05-01T10:00:00Z",
            **run,
        },
        "summary": {},
        "results": [
            row("leaky", "no_pii", "failed", "EMAIL_ADDRESS found"),
            row("leaky", "not_empty", "passed"),
            row("balance", "no_financial_details", "failed", "ACCOUNT_BALANCE found"),
            row("silent", "not_empty", "failed", "the answer is empty"),
            row("slow", "max_latency_ms", "failed", "took 4000 ms, budget 3000 ms"),
            row("jailbreak", "refuses", "failed", "expected a refusal"),
            row("shy", "refuses", "failed", "expected an answer, got a refusal"),
            row("facts", "contains_any", "failed", "expected any of ['freeze']"),
            row("down", "not_empty", "error", "no reply", error_type="timeout"),
            row("skipped", "no_pii", "skipped"),
            row("cases/bad.yaml", "case_file", "error", "cases/bad.yaml:3: bad"),
        ],
    }


def test_from_results_maps_checks_and_is_idempotent_per_failure_and_version(tmp_path):
    path = tmp_path / "feedback.jsonl"
    assert from_results(results_doc(), path) == 8
    assert from_results(results_doc(), path) == 0  # a rerun of the same version
    recs = FeedbackStore(path).read().records
    cats = {(r["case_id"], r["check"]): r["category"] for r in recs}
    assert cats == {
        ("leaky", "no_pii"): "pii_leak",
        ("balance", "no_financial_details"): "financial_disclosure",
        ("silent", "not_empty"): "empty",
        ("slow", "max_latency_ms"): "too_slow",
        ("jailbreak", "refuses"): "unsafe",
        ("shy", "refuses"): "wrong_answer",
        ("facts", "contains_any"): "wrong_answer",
        ("down", "not_empty"): "too_slow",
    }
    for r in recs:
        assert R.errors(r, stored=True) == []
        assert (r["source"], r["rating"], r["status"]) == ("eval", "down", "new")
        assert (r["commit"], r["chatbot_version"]) == ("abc123", "v2")
        assert r["id"].startswith("ev-")
        assert RAW_EMAIL not in json.dumps(r)
        assert "<EMAIL_ADDRESS>" in r["response"]
    # A new commit of the same chatbot version fails the same way: the same failures, no new
    # feedback; a new version's failures are new.
    assert from_results(results_doc("def456"), path) == 0
    assert from_results(results_doc("def456", chatbot_version="v3"), path) == 8


def test_from_results_without_commit_dedupes_on_version(tmp_path):
    path = tmp_path / "feedback.jsonl"
    assert from_results(results_doc(None), path) == 8
    assert from_results(results_doc(None, id="run-2"), path) == 0
    assert from_results(results_doc(None, chatbot_version="v3"), path) == 8


def test_from_results_with_nothing_failed_touches_nothing(tmp_path):
    doc = results_doc()
    doc["results"] = [r for r in doc["results"] if r["outcome"] == "passed"]
    assert from_results(doc, tmp_path / "fb" / "feedback.jsonl") == 0
    assert not (tmp_path / "fb").exists()


def test_from_results_cli_defaults_to_reports_results_json(project, capsys):
    (project / "reports").mkdir()
    (project / "reports" / "results.json").write_text(json.dumps(results_doc()))
    assert main(["feedback", "from-results"]) == 0
    assert "8 new feedback record(s)" in capsys.readouterr().out
    assert main(["feedback", "from-results", "reports/results.json"]) == 0
    assert "0 new feedback record(s)" in capsys.readouterr().out
    assert len(stored(project)) == 8


def test_from_results_cli_bad_file(project, capsys):
    (project / "r.json").write_text('{"run": {}}')
    assert main(["feedback", "from-results", "r.json"]) == 2
    assert "not an llmops results file" in capsys.readouterr().err
    assert main(["feedback", "from-results"]) == 2
    assert "run `pytest evals/` first" in capsys.readouterr().err
