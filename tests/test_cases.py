"""Case loading: the format of DESIGN.md, safe defaults, and `file:line: why` for every error."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

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
    by_file = res.errors_by_file()
    assert set(by_file) == {"a.yaml", "b.yaml", "c.yaml"}
    assert [e.line for e in by_file["a.yaml"]] == [4, 5] and len(by_file["b.yaml"]) == 1
    assert [str(e) for e in by_file["c.yaml"]] == [
        "c.yaml:4: duplicate id 'ok-1' (first at a.yaml:2)"
    ]


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


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "cases:\n  - id: a\n    prompt: x\n    expect:\n      max_chars: 5\n"
            "      min_chars: 6\n",
            6,
            "case 'a': min_chars (6) is greater than max_chars (5)",
        ),
        (
            "cases:\n  - id: a\n    conversation:\n      - {role: system, content: be brief}\n"
            "      - {role: assistant, content: hello}\n",
            3,
            "case 'a': conversation has no user turn",
        ),
        (
            "cases:\n  - just a prompt\n",
            2,
            "cases[0]: 'just a prompt' is not of type 'object'",
        ),
    ],
)
def test_semantic_errors(tmp_path: Path, text: str, line: int, message: str) -> None:
    write(tmp_path, "bad.yaml", text)
    res = load_cases([tmp_path], root=tmp_path)
    assert res.cases == []
    assert [str(e) for e in res.errors] == [f"bad.yaml:{line}: {message}"]


def test_equal_length_bounds_and_a_user_turn_anywhere_are_fine(tmp_path: Path) -> None:
    write(tmp_path, "ok.yaml", """
        cases:
          - id: a
            prompt: x
            expect: {min_chars: 5, max_chars: 5}
          - id: b
            conversation:
              - {role: user, content: first question}
              - {role: assistant, content: an answer}
    """)
    res = load_cases([tmp_path], root=tmp_path)
    assert res.errors == []
    a, b = res.cases
    assert (a.expect["min_chars"], a.expect["max_chars"]) == (5, 5)
    # the last user turn is what the chatbot answers, wherever it stands
    assert b.prompt == "first question"


def test_a_case_that_is_not_a_mapping_costs_only_itself(tmp_path: Path) -> None:
    write(tmp_path, "mixed.yaml", "cases:\n  - id: ok\n    prompt: hi\n  - [a, list]\n  - 7\n")
    res = load_cases([tmp_path], root=tmp_path)
    assert [c.id for c in res.cases] == ["ok"]
    assert [str(e) for e in res.errors] == [
        "mixed.yaml:4: cases[1]: ['a', 'list'] is not of type 'object'",
        "mixed.yaml:5: cases[2]: 7 is not of type 'object'",
    ]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"cases:\n  - id: a\n    prompt: caf\xe9\n", "cannot read: 'utf-8' codec can't decode")],
)
def test_a_file_that_is_not_utf8_is_an_error_not_a_crash(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    (tmp_path / "latin1.yaml").write_bytes(content)
    write(tmp_path, "good.yaml", "cases:\n  - id: good\n    prompt: hi\n")
    res = load_cases([tmp_path], root=tmp_path)
    assert [c.id for c in res.cases] == ["good"]
    [error] = res.errors
    assert (error.file, error.line) == ("latin1.yaml", None)
    assert str(error).startswith("latin1.yaml: ") and fragment in str(error)


def test_an_unreadable_case_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "cases" / "folder.yml").mkdir(parents=True)  # a directory named like a case file
    write(tmp_path, "cases/good.yaml", "cases:\n  - id: good\n    prompt: hi\n")
    res = load_cases([tmp_path / "cases"], root=tmp_path)
    assert [c.id for c in res.cases] == ["good"]
    [error] = res.errors
    assert (error.file, error.line) == ("cases/folder.yml", None)
    assert error.message.startswith("cannot read: [Errno 21] Is a directory")
    assert res.files == ["cases/folder.yml", "cases/good.yaml"]
    # a file named on the command line that is not there
    res = load_cases([tmp_path / "cases" / "gone.yaml"], root=tmp_path)
    assert [(e.file, e.message.split(":")[0]) for e in res.errors] == [
        ("cases/gone.yaml", "cannot read")
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", None, "empty file: expected a mapping with `cases:`"),
        ("# only a comment\n", None, "empty file: expected a mapping with `cases:`"),
        ("- id: a\n  prompt: x\n", 1, "expected a mapping with `cases:`, got list"),
        ("just text\n", 1, "expected a mapping with `cases:`, got str"),
    ],
)
def test_a_file_that_is_not_a_mapping(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    write(tmp_path, "odd.yaml", text)
    [error] = load_cases([tmp_path], root=tmp_path).errors
    assert (error.line, error.message) == (line, message)


DIGEST_A = "cases:\n  - id: a\n    prompt: hello\n  - id: b\n    prompt: bye\n"


def test_digest_is_stable_and_independent_of_order_and_place(tmp_path: Path) -> None:
    one = write(tmp_path, "one/a.yaml", DIGEST_A)
    digest = cases_digest(load_cases([one]).cases)
    assert len(digest) == 64 and digest == cases_digest(load_cases([one]).cases)
    # the same cases in another order, split over two files at other lines: the same digest
    write(tmp_path, "two/x.yaml", "# moved\nsuite: a\n\ncases:\n  - id: b\n    prompt: bye\n")
    write(tmp_path, "two/y.yaml", "suite: a\ncases:\n  - id: a\n    prompt: hello\n")
    moved = load_cases([tmp_path / "two"]).cases
    assert [c.id for c in moved] == ["b", "a"]
    assert cases_digest(moved) == digest
    assert cases_digest(reversed(moved)) == digest
    assert cases_digest([]) == cases_digest(()) != digest


@pytest.mark.parametrize(
    "change",
    [
        "    severity: critical\n",
        "    expect: {contains: hi}\n",
        "suite: other\n",
        "    allow_pii: [EMAIL_ADDRESS]\n",
    ],
)
def test_digest_changes_with_what_is_judged(tmp_path: Path, change: str) -> None:
    p = write(tmp_path, "a.yaml", DIGEST_A)
    digest = cases_digest(load_cases([p]).cases)
    p.write_text(DIGEST_A + change)
    assert cases_digest(load_cases([p]).cases) != digest


def test_load_defaults_and_owner(tmp_path: Path) -> None:
    write(tmp_path, "d.yaml", """
        defaults:
          severity: minor
          owner: cards-pm
          expect: {allow_pii: [PHONE_NUMBER], max_chars: 100}
        cases:
          - id: a
            prompt: x
            description: why this case exists
            skip: not yet
            expect: {allow_pii: [EMAIL_ADDRESS]}
          - id: b
            prompt: y
            severity: critical
            owner: me
    """)
    res = load_cases([tmp_path], max_latency_ms=1234, root=tmp_path)
    assert res.errors == []
    a, b = res.cases
    assert (a.severity, a.owner, b.severity, b.owner) == ("minor", "cards-pm", "critical", "me")
    assert a.allow_pii == frozenset({"PHONE_NUMBER", "EMAIL_ADDRESS"})
    assert b.allow_pii == frozenset({"PHONE_NUMBER"})
    assert "allow_pii" not in a.expect and a.expect["max_latency_ms"] == 1234
    assert a.expect["max_chars"] == 100 == b.expect["max_chars"]
    assert (a.description, a.skip, b.description, b.skip) == (
        "why this case exists", "not yet", None, None
    )
    assert a.location == "d.yaml:6" and b.line == 11


def test_a_string_or_list_field_says_so(tmp_path: Path) -> None:
    write(tmp_path, "s.yaml", "cases:\n  - id: a\n    prompt: x\n    expect: {contains: 5}\n")
    [error] = load_cases([tmp_path], root=tmp_path).errors
    assert str(error) == (
        "s.yaml:4: case 'a': expect.contains must be a string or a list of strings, got 5"
    )


def test_a_long_schema_message_is_cut(tmp_path: Path) -> None:
    words = ", ".join(f"word{i}" for i in range(80))
    write(tmp_path, "l.yaml", f"cases:\n  - id: a\n    prompt: [{words}]\n")
    [error] = load_cases([tmp_path], root=tmp_path).errors
    assert error.message.startswith("case 'a': prompt: ['word0', 'word1', ")
    assert error.message.endswith("...")
    assert len(error.message) == len("case 'a': prompt: ") + 200 + len("...")


def test_valid_files_take_the_compiled_validator() -> None:
    """The fast path is an optimisation that falls back to jsonschema: check that it is taken."""
    from llmops import cases

    assert cases._fast_valid({"cases": [{"id": "a", "prompt": "x"}]}) is True
    assert cases._fast_valid({"cases": [{"id": "a"}]}) is False


@pytest.mark.parametrize(
    ("text", "error"),
    [
        # a problem inside an open block points at the problem, not where the block began
        ("cases:\n  - id: a\n    prompt: x\n   bad: indent\n",
         "4: bad YAML: did not find expected '-' indicator"),
        # an unclosed quote points at where it opened, not at the end of the file
        ("cases:\n  - id: a\n    prompt: \"x\n  - id: b\n    prompt: y\n",
         "3: bad YAML: found unexpected end of stream (while scanning a quoted scalar)"),
        # a key that is a list is refused with its line (it crashed the duplicate-key check)
        ("cases:\n  - id: a\n    prompt: x\n    ? [a, b]\n    : y\n",
         "4: bad YAML: found unhashable key"),
        # a key that is not a string: the case that holds it
        ("cases:\n  - id: a\n    prompt: x\n    1: y\n", "2: case 'a': unknown key 1"),
    ],
)
def test_yaml_errors_point_at_the_problem(tmp_path: Path, text: str, error: str) -> None:
    write(tmp_path, "y.yaml", text)
    assert [str(e) for e in load_cases([tmp_path], root=tmp_path).errors] == [f"y.yaml:{error}"]


def test_a_schema_message_of_exactly_200_characters_is_whole(tmp_path: Path) -> None:
    value = "a" * 172  # ['aaa…'] is not of type 'string': 200 characters
    write(tmp_path, "l.yaml", f"cases:\n  - id: a\n    prompt: [{value}]\n")
    [error] = load_cases([tmp_path], root=tmp_path).errors
    assert error.message == f"case 'a': prompt: ['{value}'] is not of type 'string'"
    write(tmp_path, "l.yaml", f"cases:\n  - id: a\n    prompt: [{value}b]\n")  # 201
    [error] = load_cases([tmp_path], root=tmp_path).errors
    assert error.message == f"case 'a': prompt: ['{value}b'] is not of type 'string..."


def test_the_prompt_of_a_conversation_without_a_user_turn_is_its_last_turn() -> None:
    from llmops.cases import Case

    messages = (
        {"role": "system", "content": "be brief"},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": "the last"},
    )
    case = Case(id="a", suite="s", file="f.yaml", line=1, messages=messages, expect={})
    assert case.prompt == "the last"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("cases:\n  - id: a\n    prompt: x\n    expect: {contans: y}\n",
         "4: case 'a': unknown key 'contans' (did you mean 'contains'?) in expect"),
        ("cases:\n  - id: a\n    prompt: x\n    expect: {zzzqqq: 1}\n",
         "4: case 'a': unknown key 'zzzqqq' in expect"),
        ("cases:\n  - id: a\n    prompt: x\n    sevrity: major\n",
         "4: case 'a': unknown key 'sevrity' (did you mean 'severity'?)"),
        ("cases:\n  - prompt: x\n", "2: cases[0]: missing required key 'id'"),
        ("suite: x\n", "1: missing required key 'cases'"),
    ],
)
def test_schema_errors_in_full(tmp_path: Path, text: str, error: str) -> None:
    write(tmp_path, "s.yaml", text)
    assert [str(e) for e in load_cases([tmp_path], root=tmp_path).errors] == [f"s.yaml:{error}"]


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        # a mapping where a string belongs, even one holding an `id`
        ("cases:\n  - id: a\n    prompt: {id: x}\n",
         ["3: case 'a': prompt: {'id': 'x'} is not of type 'string'"]),
        # an id of the wrong type is a type error, not a pattern one
        ("cases:\n  - id: 5\n    prompt: x\n", ["2: case 5: id: 5 is not of type 'string'"]),
        # a pattern that is not the id's
        ("cases:\n  - id: a\n    prompt: x\n    tags: [Bad Tag]\n",
         ["4: case 'a': tags: 'Bad Tag' does not match"]),
        # prompt-or-conversation is said plainly whether or not the case has its id
        ("cases:\n  - prompt: x\n    conversation: [{role: user, content: y}]\n",
         ["2: cases[0]: missing required key 'id'",
          "2: cases[0]: has both `prompt` and `conversation`; use one"]),
        ("cases:\n  - owner: x\n",
         ["2: cases[0]: missing required key 'id'",
          "2: cases[0]: missing `prompt` (or `conversation`)"]),
        # a control character: the line it is on, on one line
        ("cases:\n  - id: a\n    prompt: x\x07\n",
         ["3: bad YAML: unacceptable character #x0007: control characters are not allowed"]),
        # errors come in line order, whichever check found them
        ("cases:\n  - id: a\n    prompt: x\n    expect: {regex: '(['}\n"
         "  - id: b\n    prompt: y\n    expct: 1\n",
         ["4: case 'a': bad regex '(['", "7: case 'b': unknown key 'expct'"]),
        # a broken file-level key costs the whole file, valid cases too
        ("sute: x\ncases:\n  - id: a\n    prompt: y\n",
         ["1: unknown key 'sute' (did you mean 'suite'?)"]),
    ],
)
def test_error_messages_and_order(tmp_path: Path, text: str, errors: list[str]) -> None:
    write(tmp_path, "e.yaml", text)
    res = load_cases([tmp_path], root=tmp_path)
    assert res.cases == []
    got = [str(e) for e in res.errors]
    assert len(got) == len(errors), got
    for message, want in zip(got, errors, strict=True):
        assert message.startswith(f"e.yaml:{want}"), got


def test_digest_ignores_the_order_of_keys(tmp_path: Path) -> None:
    a = write(tmp_path, "a/x.yaml", "cases:\n  - id: a\n    prompt: x\n"
                                    "    expect: {contains: y, max_chars: 9}\n")
    b = write(tmp_path, "b/x.yaml", "cases:\n  - expect: {max_chars: 9, contains: y}\n"
                                    "    prompt: x\n    id: a\n")
    assert cases_digest(load_cases([a]).cases) == cases_digest(load_cases([b]).cases)


def test_cases_and_errors_are_values(tmp_path: Path) -> None:
    import dataclasses

    write(tmp_path, "v.yaml", "cases:\n  - id: a\n    prompt: x\n  - id: A\n    prompt: y\n")
    res = load_cases([tmp_path], root=tmp_path)
    from llmops.cases import Warning_

    warning = Warning_(res.errors[0])
    for value, name in [(res.cases[0], "severity"), (res.errors[0], "line"), (warning, "error")]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, None)


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        # outside a case the field has no name to give
        ("defaults:\n  expect: {contains: 5}\ncases:\n  - id: a\n    prompt: x\n",
         ["2: value must be a string or a list of strings, got 5"]),
        # a pattern that is not a string does not stop the next one from being compiled
        ("cases:\n  - id: a\n    prompt: x\n    expect: {regex: [5, '([']}\n",
         ["4: case 'a': expect.regex must be a string or a list of strings, got [5, '([']",
          "4: case 'a': bad regex '(['"]),
        # `cases:` that is not a list
        ("cases: 5\n", ["1: 5 is not of type 'array'"]),
        # two unknown keys: the first is named
        ("cases:\n  - id: a\n    prompt: x\n    sevrity: x\n    ownr: y\n",
         ["4: case 'a': unknown key 'sevrity' (did you mean 'severity'?)"]),
    ],
)
def test_more_error_messages(tmp_path: Path, text: str, errors: list[str]) -> None:
    write(tmp_path, "m.yaml", text)
    got = [str(e) for e in load_cases([tmp_path], root=tmp_path).errors]
    assert len(got) == len(errors), got
    for message, want in zip(got, errors, strict=True):
        assert message.startswith(f"m.yaml:{want}"), got


def test_files_outside_the_root_keep_their_path_and_the_default_budget(tmp_path: Path) -> None:
    p = write(tmp_path, "out/a.yaml", "cases:\n  - id: a\n    prompt: x\n")
    (case,) = load_cases([p], root=tmp_path / "elsewhere").cases
    assert case.file == p.as_posix()
    assert case.expect["max_latency_ms"] == 3000


def test_a_control_character_after_a_leading_blank_line(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("\ncases:\n  - id: a\n    prompt: x\x07\n")
    [error] = load_cases([tmp_path], root=tmp_path).errors
    assert error.line == 4


# -- hostile case files: aliases, depth, patterns that backtrack elsewhere, redacted messages
# (the same inputs at full size, with their time and memory bounds, are in tests/test_hostile.py)

ALIASES = ("YAML aliases (*name) are not allowed in case files: a few bytes of them can expand "
           "to gigabytes; write the value out, or share it through `defaults:`")


def test_an_alias_costs_its_file_at_the_aliass_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "x: &v hello\ncases:\n  - id: a\n    prompt: *v\n")
    write(tmp_path, "b.yaml", "cases:\n  - id: b\n    prompt: hi\n")
    res = load_cases([tmp_path], root=tmp_path)
    assert [str(e) for e in res.errors] == [f"a.yaml:4: {ALIASES}"]
    assert [c.id for c in res.cases] == ["b"]
    # an anchor alone, or a star in a string, is no alias
    write(tmp_path, "a.yaml", "cases:\n  - &c {id: a, prompt: '*v and &w'}\n")
    res = load_cases([tmp_path], root=tmp_path)
    assert res.errors == [] and [c.prompt for c in res.cases] == ["*v and &w", "hi"]


def nested_file(depth: int) -> dict[str, Any]:
    """A case file whose one case's json_schema makes the document `depth` levels deep."""
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth - 5):  # the file, `cases`, the case, `expect`: four levels
        schema = {"not": schema}
    return {"cases": [{"id": "deep", "prompt": "p", "expect": {"json_schema": schema}}]}


def test_a_file_deeper_than_eight_times_the_json_depth_is_no_case_file(tmp_path: Path) -> None:
    from llmops.limits import Limits, json_depth

    limits = Limits(max_json_depth=2)  # files up to 16 levels
    at, over = nested_file(16), nested_file(17)
    assert (json_depth(at, 99), json_depth(over, 99)) == (16, 17)
    (tmp_path / "at.json.yaml").write_text(json.dumps(at))
    res = load_cases([tmp_path / "at.json.yaml"], root=tmp_path, limits=limits)
    # 16 levels: a case file whose json_schema is too deep: the case's error, at its line
    [err] = res.errors
    assert (err.line, err.message) == (
        1, "case 'deep': bad json_schema: json_schema nests deeper than 2 levels (raise "
           "[tool.llmops.limits] max_json_depth if it must)")
    (tmp_path / "over.yaml").write_text(json.dumps(over))
    res = load_cases([tmp_path / "over.yaml"], root=tmp_path, limits=limits)
    assert [(e.line, e.message) for e in res.errors] == [(
        None, "nested deeper than 16 levels: not a case file (the bound is 8 x "
              "[tool.llmops.limits] max_json_depth)")]
    # the default limit (64) takes both
    assert load_cases([tmp_path / "over.yaml"], root=tmp_path).errors == []


def test_a_file_that_exhausts_the_stack_costs_only_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llmops.cases

    def exhausted(*args: Any) -> Any:
        raise RecursionError  # whatever bound missed it
        yield

    write(tmp_path, "a.yaml", "cases:\n  - id: a\n    prompt: x\n")
    write(tmp_path, "b.yaml", "cases:\n  - id: b\n    prompt: x\n")
    real = llmops.cases._load_file
    monkeypatch.setattr(llmops.cases, "_load_file",
                        lambda path, *a: exhausted() if path.name == "a.yaml" else real(path, *a))
    res = load_cases([tmp_path], root=tmp_path)
    assert [str(e) for e in res.errors] == ["a.yaml: nested too deeply to validate"]
    assert [c.id for c in res.cases] == ["b"]


BACKTRACKS = ("llmops runs it on RE2 in linear time, but a backtracking engine (Python re, "
              "JavaScript, PCRE) would take exponential time on some answers")


def test_patterns_that_backtrack_elsewhere_are_warnings_at_their_line(tmp_path: Path) -> None:
    write(tmp_path, "w.yaml", """
        cases:
          - id: fine
            prompt: x
            expect: {regex: 'a+b'}
          - id: nested
            prompt: x
            expect:
              contains: y
              regex: '(a+)+$'
          - id: listed
            prompt: x
            expect:
              not_regex: ['ok', '(x+x+)+y']
              json_schema: {type: string, pattern: '^(\\w*)*$'}
    """)
    res = load_cases([tmp_path], root=tmp_path)
    assert res.errors == [] and [c.id for c in res.cases] == ["fine", "nested", "listed"]
    got = [(w.line, w.message.split(": llmops")[0]) for w in res.warnings]
    assert got == [
        (9, "case 'nested': regex '(a+)+$' has a repeat nested in a repeat"),
        (13, "case 'listed': not_regex '(x+x+)+y' has a repeat nested in a repeat"),
        (14, "case 'listed': json_schema '^(\\\\w*)*$' has a repeat nested in a repeat"),
    ]
    assert all(w.message.endswith(BACKTRACKS) for w in res.warnings)
    assert all(w.file == "w.yaml" for w in res.warnings)


def test_warnings_in_a_file_with_errors_and_in_a_case_that_is_not_a_mapping(
    tmp_path: Path,
) -> None:
    write(tmp_path, "w.yaml", """
        cases:
          - just a string
          - id: a
            prompt: x
            expect: 5
          - id: b
            prompt: x
            sevrity: major
            expect:
              regex: [5, '(a+)+$']
    """)
    res = load_cases([tmp_path], root=tmp_path)
    assert [(w.line, w.message.split(" has ")[0]) for w in res.warnings] == [
        (10, "case 'b': regex '(a+)+$'")]
    assert [e.line for e in res.errors] == [2, 5, 8, 10]


def test_messages_quoting_the_file_are_redacted(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", """
        cases:
          - id: a
            prompt: x
            expect: {regex: 'jane.doe@gmail.com('}
          - id: b
            prompt: x
            expect: {regex: '(jane.doe@gmail.com+)+$'}
          - id: c
            prompt: x
            expect: {regex: '(['}
    """)
    res = load_cases([tmp_path], root=tmp_path)
    text = " ".join(str(e) for e in [*res.errors, *res.warnings])
    assert "jane.doe@gmail.com" not in text and "EMAIL_ADDRESS" in text
    assert [e.line for e in res.errors] == [4, 10] and [w.line for w in res.warnings] == [7]
    # a message with nothing to redact is kept as it is
    plain = [e for e in res.errors if "'(['" in e.message]
    assert plain and plain[0].message.startswith("case 'c': bad regex '(['")
    # a caller's own redaction, applied to errors and warnings alike
    res = load_cases([tmp_path], root=tmp_path, redact=lambda s: s.replace("jane", "[who]"))
    assert [e.message.split(":")[1] for e in res.errors] == [
        " bad regex '[who].doe@gmail.com('", " bad regex '(['"]
    assert "'([who].doe@gmail.com+)+$'" in res.warnings[0].message


def test_min_pass_rate_is_in_the_digest_only_when_set(tmp_path: Path) -> None:
    base = "cases:\n  - id: a\n    prompt: x\n"
    digests, keys = [], []
    for extra in ("", "    min_pass_rate: 0.9\n", "    min_pass_rate: 0.8\n"):
        write(tmp_path, "d.yaml", base + extra)
        [case] = load_cases([tmp_path], root=tmp_path).cases
        digests.append(cases_digest([case]))
        keys.append(set(case.canonical()))
    assert len(set(digests)) == 3
    # a case written before min_pass_rate existed keeps the digest it had then
    assert keys[0] == {"id", "suite", "messages", "expect", "severity", "allow_pii"}
    assert keys[1] == keys[2] == keys[0] | {"min_pass_rate"}


def test_a_warning_in_the_first_case_still_has_its_exact_line(tmp_path: Path) -> None:
    write(tmp_path, "w.yaml", """
        cases:
          - id: first
            prompt: x
            expect:
              contains: y
              not_regex: '(a*)*b'
    """)
    [warning] = load_cases([tmp_path], root=tmp_path).warnings
    assert warning.line == 6


@pytest.mark.parametrize(("value", "shown"), [("2", "2"), ("'yes'", "'yes'")])
def test_a_oneof_that_is_not_string_or_list_keeps_the_schemas_message(
    tmp_path: Path, value: str, shown: str
) -> None:
    write(tmp_path, "o.yaml", f"cases:\n  - id: a\n    prompt: x\n"
                              f"    expect: {{no_system_prompt_leak: {value}}}\n")
    [err] = load_cases([tmp_path], root=tmp_path).errors
    assert str(err) == (f"o.yaml:4: case 'a': expect.no_system_prompt_leak: {shown} is not valid "
                        "under any of the given schemas")


def test_yaml_nested_past_the_loaders_limit_costs_only_its_file(tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text("cases: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n")
    write(tmp_path, "ok.yaml", "cases:\n  - id: ok\n    prompt: x\n")
    res = load_cases([tmp_path], root=tmp_path)
    assert [str(e) for e in res.errors] == [
        "deep.yaml:1: bad YAML: exceeded maximum nesting depth"]
    assert [c.id for c in res.cases] == ["ok"]
