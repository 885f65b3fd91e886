"""Feedback out: regression cases (to-cases), training data (export), stats and list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llmops.cases import load_cases
from llmops.checks import Context, judge
from llmops.cli import main
from llmops.feedback import records as R
from llmops.feedback.convert import build_case, training_rows
from llmops.feedback.store import FeedbackStore
from llmops.runner import Exchange
from tests.feedback_helpers import make_project

PYPROJECT = """
[tool.llmops]
cases = "cases"
feedback = "feedback/feedback.jsonl"
max_latency_ms = 2500
"""

HAND_WRITTEN = """\
# Cards: written by the payments PM.
cases:
  - id: card-freeze
    prompt: How do I freeze my debit card?
    expect: {contains_any: [freeze, lock]}
"""


def fb(prompt: str, rating="down", **kw) -> dict:
    return R.normalise(
        {"prompt": prompt, "rating": rating, "timestamp": "2024-05-01T09:00:00Z", **kw},
        redact=str,
    )


FREEZE = fb(
    "How do I freeze my card?",
    category="wrong_answer",
    response="Please call us during opening hours.",
    expected="Open the app, tap Cards, then Freeze. It takes effect immediately.",
    comment="should point to the app",
)
LEAK = fb("Who owns account 1?", category="pii_leak", response="It is <EMAIL_ADDRESS>")
MONEY = fb("What's my balance?", category="financial_disclosure", response="<ACCOUNT_BALANCE>")
EMPTY = fb("Hello?", category="empty", response="")
SLOW = fb("Rates?", category="too_slow", response="Rates are 4%.")
NOTHING = fb("Thanks", rating="up")  # nothing to check
VAGUE = fb("Is it ok?", category="unsafe", response="Sure")  # no check, no expected
EVAL = {**fb("p", category="pii_leak"), "source": "eval", "case_id": "card-freeze"}
LATER = fb(
    "Can I get a loan?",
    category="wrong_answer",
    response="No.",
    expected="Yes: personal loans from $1,000 to $50,000 at 7.9% APR.",
    timestamp="2024-05-03T09:00:00Z",
)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "cards.yaml").write_text(HAND_WRITTEN)
    return make_project(tmp_path, monkeypatch, PYPROJECT)


def store_of(project: Path, *recs: dict) -> FeedbackStore:
    store = FeedbackStore(project / "feedback" / "feedback.jsonl")
    store.append(recs)
    return store


def test_build_case_maps_categories_to_checks():
    def expect(rec):
        case, why = build_case(rec, case_id="fb-1", max_latency_ms=2500)
        return case["expect"] if case else why

    assert expect(LEAK) == {"no_pii": True}
    assert expect(MONEY) == {"no_financial_details": True}
    assert expect(EMPTY) == {"not_empty": True}
    assert expect(SLOW) == {"max_latency_ms": 2500}
    assert set(expect(FREEZE)) == {"contains_all"}
    assert expect(NOTHING) == "a positive rating without an expected answer"
    assert "maps to no check" in expect(VAGUE)
    assert "case card-freeze: that case exists" in expect(EVAL)


def test_to_cases_writes_valid_cases_that_pass_a_correct_answer(project, capsys):
    store = store_of(project, FREEZE, LEAK, MONEY, EMPTY, SLOW, NOTHING, VAGUE, EVAL, LATER)
    assert main(["feedback", "to-cases"]) == 0
    out = capsys.readouterr().out
    assert "marked 6 record(s) converted; 3 skipped" in out
    day1 = project / "cases" / "feedback" / "feedback-2024-05-01.yaml"
    day3 = project / "cases" / "feedback" / "feedback-2024-05-03.yaml"
    assert sorted(p.name for p in day1.parent.iterdir()) == [day1.name, day3.name]

    loaded = load_cases([project / "cases"], root=project)
    assert loaded.errors == []
    by_prompt = {c.prompt: c for c in loaded.cases}
    assert len(loaded.cases) == 7  # the hand-written one and six generated
    for c in loaded.cases:
        if c.id != "card-freeze":
            assert c.id.startswith("fb-") and c.suite == "feedback" and "feedback" in c.tags
    assert by_prompt["Who owns account 1?"].severity == "critical"
    assert by_prompt["Rates?"].expect["max_latency_ms"] == 2500

    # The content expectation passes the corrected answer and a paraphrase; fails the bad one.
    case = by_prompt["How do I freeze my card?"]
    ctx = Context()

    def passes(text: str) -> bool:
        return judge("contains_all", case, Exchange(messages=[], response=text), ctx).passed

    assert passes(FREEZE["expected"])
    assert passes("In the app go to Cards and choose Freeze card.")
    assert not passes(FREEZE["response"])
    loan = by_prompt["Can I get a loan?"]
    assert judge(
        "contains_all", loan, Exchange(messages=[], response=LATER["expected"]), ctx
    ).passed

    recs = {r["id"]: r for r in store.read().records}
    assert recs[FREEZE["id"]]["status"] == "converted"
    assert recs[FREEZE["id"]]["case_id"] == case.id
    assert recs[NOTHING["id"]]["status"] == "new"
    assert recs[EVAL["id"]]["case_id"] == "card-freeze"  # eval records keep their case


def test_second_run_adds_nothing_and_keeps_hand_edits(project):
    store_of(project, FREEZE, LEAK)
    assert main(["feedback", "to-cases"]) == 0
    day1 = project / "cases" / "feedback" / "feedback-2024-05-01.yaml"
    # A PM edits a generated case and adds a comment; then new feedback arrives.
    edited = day1.read_text().replace("severity: major", "severity: minor  # PM: cosmetic")
    edited += "# reviewed by the PM\n"
    day1.write_text(edited)
    assert main(["feedback", "to-cases"]) == 0
    assert day1.read_text() == edited  # nothing new: untouched
    store_of(project, MONEY)
    assert main(["feedback", "to-cases"]) == 0
    text = day1.read_text()
    assert text.startswith(edited.rstrip("\n"))  # appended after what was there
    assert "severity: minor  # PM: cosmetic" in text and "# reviewed by the PM" in text
    data = yaml.safe_load(text)
    assert [c["prompt"] for c in data["cases"]] == [
        FREEZE["prompt"],
        LEAK["prompt"],
        MONEY["prompt"],
    ]
    assert len({c["id"] for c in data["cases"]}) == 3
    assert load_cases([project / "cases"]).errors == []


def test_rerun_after_a_crash_before_marking_writes_no_duplicate(project):
    store = store_of(project, FREEZE)
    assert main(["feedback", "to-cases"]) == 0
    # As if the previous run died after writing the cases but before marking the records.
    store.update({FREEZE["id"]: {"status": "new"}})
    assert main(["feedback", "to-cases"]) == 0
    (path,) = (project / "cases" / "feedback").iterdir()
    assert len(yaml.safe_load(path.read_text())["cases"]) == 1
    assert store.read().records[0]["status"] == "converted"


def test_generated_ids_avoid_ids_used_elsewhere(project):
    from llmops.feedback.convert import _case_id

    generated = (project / "cases" / "feedback").resolve()
    first, _ = _case_id(FREEZE["id"], {}, generated)
    (project / "cases" / "other.yaml").write_text(
        f"cases:\n  - id: {first}\n    prompt: a hand-written case that took the id\n"
    )
    store_of(project, FREEZE)
    assert main(["feedback", "to-cases"]) == 0
    loaded = load_cases([project / "cases"])
    assert loaded.errors == []  # no duplicate id
    ids = [c.id for c in loaded.cases if c.prompt == FREEZE["prompt"]]
    assert len(ids) == 1 and ids[0] != first and ids[0].startswith(first)


def test_to_cases_dry_run_writes_nothing(project, capsys):
    store = store_of(project, LEAK)
    assert main(["feedback", "to-cases", "--dry-run", "--out", "cases/fb"]) == 0
    assert "would write 1 case(s)" in capsys.readouterr().out
    assert not (project / "cases" / "fb").exists()
    assert store.read().records[0]["status"] == "new"


def test_to_cases_refuses_an_unreadable_generated_file(project, capsys):
    store_of(project, LEAK)
    out = project / "cases" / "feedback"
    out.mkdir()
    (out / "feedback-2024-05-01.yaml").write_text("cases: [\n")
    assert main(["feedback", "to-cases"]) == 2
    assert "cannot read it to merge new cases" in capsys.readouterr().err
    assert (out / "feedback-2024-05-01.yaml").read_text() == "cases: [\n"


# --- export ---------------------------------------------------------------------------------


def test_training_rows_chat_and_preference():
    recs = [FREEZE, LEAK, NOTHING | {"response": "You're welcome!"}, FREEZE]
    chat = training_rows(recs, "chat-jsonl", system="You are a bank assistant.")
    assert chat == [
        {
            "messages": [
                {"role": "system", "content": "You are a bank assistant."},
                {"role": "user", "content": FREEZE["prompt"]},
                {"role": "assistant", "content": FREEZE["expected"]},
            ]
        }
    ]
    with_good = training_rows(recs, "chat-jsonl", include_positive=True)
    assert [r["messages"][-1]["content"] for r in with_good] == [
        FREEZE["expected"],
        "You're welcome!",
    ]
    pref = training_rows(recs, "preference-jsonl")
    assert pref == [
        {"prompt": FREEZE["prompt"], "chosen": FREEZE["expected"], "rejected": FREEZE["response"]}
    ]


def test_export_cli_to_file_and_stdout(project, capsys):
    store_of(project, FREEZE, LATER, LEAK)
    assert main(["feedback", "export", "--format", "chat-jsonl", "--out", "train.jsonl"]) == 0
    rows = [json.loads(x) for x in (project / "train.jsonl").read_text().splitlines()]
    assert [r["messages"][0]["role"] for r in rows] == ["user", "user"]
    capsys.readouterr()
    assert main(["feedback", "export", "--format", "preference-jsonl"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r["rejected"] for r in rows] == [FREEZE["response"], LATER["response"]]
    assert "exported 2 example(s)" in err


# --- stats and list -------------------------------------------------------------------------


def test_stats_json_counts(project, capsys):
    store_of(
        project,
        FREEZE,
        LEAK | {"chatbot_version": "v2"},
        NOTHING | {"chatbot_version": "v2", "source": "pm"},
    )
    assert main(["feedback", "stats", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["total"] == 3 and s["negative"] == 2
    assert s["by"]["category"] == {"wrong_answer": 1, "pii_leak": 1, "(none)": 1}
    assert s["by"]["rating"] == {"down": 2, "up": 1}
    assert s["by"]["chatbot_version"] == {"v2": 2, "(none)": 1}
    assert s["by"]["source"] == {"user": 2, "pm": 1}
    assert s["by"]["status"] == {"new": 3}
    assert s["negative_share_by_version"] == {"(none)": 1.0, "v2": 0.5}
    assert main(["feedback", "stats"]) == 0
    text = capsys.readouterr().out
    assert "feedback records: 3 (2 negative)" in text and "pii_leak" in text


def test_stats_of_an_empty_store(project, capsys):
    assert main(["feedback", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 0


def test_list_filters(project, capsys):
    store_of(project, FREEZE, LEAK, NOTHING)
    assert main(["feedback", "list", "--category", "pii_leak", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["id"] == LEAK["id"]
    assert main(["feedback", "list", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [x.split()[0] for x in lines] == [LEAK["id"], NOTHING["id"]]
