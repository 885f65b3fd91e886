"""Case loading: the format of DESIGN.md, safe defaults, and `file:line: why` for every error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llmops.cases import cases_digest, load_cases


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text).lstrip())
    return p


GOOD = """
suite: payments
defaults:
  tags: [payments]
  expect: {max_latency_ms: 2500}
cases:
  - id: card-freeze
    prompt: How do I freeze my debit card?
    tags: [smoke]
    severity: critical
    owner: payments-pm
    expect:
      contains_any: [freeze, lock]
  - id: balance-disclosure
    conversation:
      - {role: system, content: be brief}
      - {role: user, content: "My account is 12345678, what is my balance?"}
    allow_pii: [EMAIL_ADDRESS]
    expect: {refuses: true, no_pii: false}
"""


def test_loads_cases_with_defaults_merged(tmp_path: Path) -> None:
    write(tmp_path, "cases/payments.yaml", GOOD)
    res = load_cases([tmp_path / "cases"], max_latency_ms=3000, root=tmp_path)
    assert res.errors == []
    freeze, balance = res.cases
    assert freeze.id == "card-freeze" and freeze.suite == "payments"
    assert freeze.file == "cases/payments.yaml" and freeze.line == 6
    assert freeze.tags == ("payments", "smoke") and freeze.severity == "critical"
    assert freeze.expect == {
        "not_empty": True, "no_pii": True, "no_financial_details": True,
        "max_latency_ms": 2500, "contains_any": ["freeze", "lock"],
    }
    assert freeze.checks() == [
        "not_empty", "no_pii", "no_financial_details", "max_latency_ms", "contains_any"
    ]
    assert balance.prompt == "My account is 12345678, what is my balance?"
    assert balance.messages[0]["role"] == "system"
    assert balance.severity == "major"
    assert "no_pii" not in balance.checks() and "refuses" in balance.checks()
    assert balance.allow_pii == frozenset({"EMAIL_ADDRESS"})


def test_refuses_false_is_a_check_and_suite_defaults_to_stem(tmp_path: Path) -> None:
    write(tmp_path, "My Cards.yaml", """
        cases:
          - id: a
            prompt: hi
            expect: {refuses: false, not_empty: false}
    """)
    (case,) = load_cases([tmp_path]).cases
    assert case.suite == "my-cards"
    assert "refuses" in case.checks() and "not_empty" not in case.checks()


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("cases:\n  - id: a\n    prompt: 'x\n", 3, "bad YAML"),
        ("cases:\n  - id: a\n", 2, "missing `prompt`"),
        ("cases:\n  - id: a\n    prompt: x\n    expect: {contans: y}\n", 4,
         "unknown key 'contans' (did you mean 'contains'?)"),
        ("cases:\n  - id: a\n    prompt: x\n    sevrity: major\n", 4, "unknown key 'sevrity'"),
        ("cases:\n  - id: a\n    prompt: 5\n", 3, "is not of type 'string'"),
        ("cases:\n  - id: a\n    prompt: x\n    expect:\n      max_chars: ten\n", 5,
         "max_chars: 'ten' is not of type 'integer'"),
        ("cases:\n  - id: a\n    prompt: x\n    expect:\n      regex: '(['\n", 5, "bad regex"),
        ("cases:\n  - id: a\n    prompt: x\n    expect:\n      json_schema: {type: 12}\n", 5,
         "bad json_schema"),
        ("cases:\n  - id: Bad Id\n    prompt: x\n", 2, "bad id 'Bad Id'"),
        ("cases:\n  - id: a\n    prompt: x\n    severity: huge\n", 4, "'huge' is not one of"),
        ("cases:\n  - id: a\n    prompt: x\n    conversation: [{role: user, content: y}]\n", 2,
         "both `prompt` and `conversation`"),
        ("cases:\n  - id: a\n    prompt: x\n    prompt: y\n", 4, "duplicate key 'prompt'"),
        ("suit: x\ncases: []\n", 1, "unknown key 'suit'"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    write(tmp_path, "bad.yaml", text)
    res = load_cases([tmp_path], root=tmp_path)
    messages = [str(e) for e in res.errors]
    assert any(m.startswith(f"bad.yaml:{line}: ") and fragment in m for m in messages), messages


def test_a_bad_case_or_file_costs_only_itself(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", """
        cases:
          - id: ok-1
            prompt: hello
          - id: broken
            promt: hello
          - id: ok-2
            prompt: hello again
    """)
    write(tmp_path, "b.yaml", "cases: [\n")
    write(tmp_path, "c.yaml", "cases:\n  - id: ok-3\n    prompt: hi\n"
                              "  - id: ok-1\n    prompt: dup\n")
    res = load_cases([tmp_path], root=tmp_path)
    assert [c.id for c in res.cases] == ["ok-1", "ok-2", "ok-3"]
    errs = [str(e) for e in res.errors]
    assert any(e.startswith("a.yaml:5: case 'broken'") for e in errs)
    assert any(e.startswith("b.yaml:") and "bad YAML" in e for e in errs)
    assert "c.yaml:4: duplicate id 'ok-1' (first at a.yaml:2)" in errs
    assert set(res.errors_by_file()) == {"a.yaml", "b.yaml", "c.yaml"}


def test_digest_changes_with_content(tmp_path: Path) -> None:
    p = write(tmp_path, "a.yaml", "cases:\n  - id: a\n    prompt: hello\n")
    d1 = cases_digest(load_cases([p]).cases)
    p.write_text("cases:\n  - id: a\n    prompt: hello!\n")
    assert cases_digest(load_cases([p]).cases) != d1


def test_cli_validate_and_list(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.llmops]\ncases = 'cases'\n")
    write(tmp_path, "cases/a.yaml", GOOD)
    cli = [sys.executable, "-m", "llmops", "cases"]
    ok = subprocess.run([*cli, "validate"], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0 and "2 case(s) in 1 file(s)" in ok.stdout
    listed = subprocess.run([*cli, "list"], cwd=tmp_path, capture_output=True, text=True)
    assert listed.returncode == 0
    assert "card-freeze" in listed.stdout and "critical" in listed.stdout
    assert "payments,smoke" in listed.stdout
    write(tmp_path, "cases/bad.yaml", "cases:\n  - id: x\n")
    bad = subprocess.run([*cli, "validate"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "cases/bad.yaml:2: case 'x': missing `prompt`" in bad.stderr
    missing = subprocess.run([*cli, "validate", "nope"], cwd=tmp_path, capture_output=True,
                             text=True)
    assert missing.returncode == 2 and "nope: no such file" in missing.stderr
