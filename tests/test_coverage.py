"""Coverage of a run, recomputed from its records: what is missing, foreign or wrongly skipped,
and which selections a policy excuses. The end-to-end runs (`-k`, `--cases`, a subset allowed)
are in tests/test_evidence.py; here each rule is held to its values."""

from __future__ import annotations

from typing import Any

from llmops import coverage
from llmops.cases import Case


def case(id_: str, skip: str | None = None, **expect: Any) -> Case:
    return Case(id=id_, suite="s", file="cases/s.yaml", line=1,
                messages=({"role": "user", "content": "q"},),
                expect={"not_empty": True, "no_pii": True, **expect}, skip=skip)


def rec(case_id: str, check: str, outcome: str = "passed") -> dict[str, Any]:
    return {"case_id": case_id, "check": check, "outcome": outcome}


def doc(expected: list[dict[str, Any]], records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"run": {"coverage": {"expected": expected}}, "results": records}


def entry(case_id: str, checks: list[str], skip: bool = False) -> dict[str, Any]:
    return {"case_id": case_id, "checks": checks, "skip": skip}


def test_the_coverage_list_is_sorted_with_each_cases_checks() -> None:
    cases = [case("b", refuses=False, contains=None), case("a", skip="flaky upstream")]
    assert coverage.expected(cases) == [
        {"case_id": "a", "checks": ["not_empty", "no_pii"], "skip": True},
        {"case_id": "b", "checks": ["not_empty", "no_pii", "refuses"], "skip": False},
    ]
    assert coverage.record(cases, cases_dir="cases", selected=1, complete=False) == {
        "cases_dir": "cases",
        "defined": 2,
        "selected": 1,
        "complete": False,
        "expected": coverage.expected(cases),
    }


def test_a_full_run_is_complete() -> None:
    data = doc(
        [entry("a", ["not_empty", "no_pii"]), entry("b", ["not_empty"])],
        [rec("a", "not_empty"), rec("a", "no_pii", "failed"), rec("b", "not_empty", "error"),
         rec("b", "not_empty")],  # a repeat of a check counts once
    )
    got = coverage.assess(data)
    assert (got.recorded, got.defined, got.covered, got.complete) == (True, 2, 2, True)
    assert (got.missing, got.foreign, got.bad_skips) == ([], [], [])
    assert got.describe() == ""


def test_no_recorded_coverage_is_never_complete() -> None:
    why = ("the results record no coverage (written by an older llmops, or edited): cannot tell "
           "whether every case ran")
    for data in ({}, {"run": None}, {"run": {}}, {"run": {"coverage": "all"}},
                 {"run": {"coverage": {"expected": "all"}}}, {"run": {"coverage": {}}}):
        got = coverage.assess(data)
        assert (got.recorded, got.complete, got.describe()) == (False, False, why), data
        assert (got.defined, got.covered, got.missing) == (0, 0, []), data


def test_an_empty_list_with_no_records_is_recorded_and_complete() -> None:
    got = coverage.assess(doc([], []))
    assert (got.recorded, got.complete, got.defined, got.covered) == (True, True, 0, 0)


def test_a_case_left_out_is_named_once_and_a_check_left_out_with_its_case() -> None:
    data = doc(
        [entry("a", ["not_empty", "no_pii"]), entry("b", ["not_empty", "no_pii"]),
         entry("c", ["not_empty"])],
        [rec("a", "not_empty"), rec("c", "not_empty")],
    )
    got = coverage.assess(data)
    assert got.missing == ["a [no_pii]", "b"]
    assert (got.covered, got.complete) == (1, False)
    assert got.describe() == "2 case check(s) never ran: a [no_pii], b"


def test_records_of_cases_the_commit_does_not_define_are_foreign() -> None:
    data = doc([entry("a", ["not_empty"])],
               [rec("a", "not_empty"), rec("zz", "not_empty"), rec("old", "x"), rec("zz", "y")])
    got = coverage.assess(data)
    assert got.foreign == ["old", "zz"]
    assert (got.covered, got.complete) == (1, False)
    assert got.describe() == "2 case(s) not defined at the commit: old, zz"


def test_case_file_records_need_no_entry() -> None:
    data = doc([entry("a", ["not_empty"]), entry("b", ["not_empty"])],
               [rec("cases/bad.yaml", "case_file", "failed"), rec("a", "not_empty"),
                rec("b", "not_empty")])
    got = coverage.assess(data)
    assert (got.complete, got.covered, got.foreign) == (True, 2, [])


def test_a_skip_the_case_file_declares_covers_the_case() -> None:
    data = doc([entry("a", ["not_empty", "no_pii"], skip=True)],
               [rec("a", "not_empty", "skipped"), rec("a", "no_pii", "skipped")])
    got = coverage.assess(data)
    assert (got.covered, got.complete, got.bad_skips, got.missing) == (1, True, [], [])
    # ... but only for the checks that have a record
    got = coverage.assess(doc([entry("a", ["not_empty", "no_pii"], skip=True)],
                              [rec("a", "not_empty", "skipped")]))
    assert (got.covered, got.missing) == (0, ["a [no_pii]"])


def test_a_skip_the_case_file_does_not_declare_is_a_bad_skip() -> None:
    data = doc([entry("a", ["not_empty", "no_pii"]), entry("b", ["not_empty"])],
               [rec("a", "not_empty"), rec("a", "no_pii", "skipped"), rec("b", "not_empty")])
    got = coverage.assess(data)
    assert got.bad_skips == ["a [no_pii]"]
    assert got.missing == []  # it has a record: not missing, but not judged either
    assert (got.covered, got.complete) == (1, False)
    assert got.describe() == "1 check(s) skipped though their case is not: a [no_pii]"


def test_a_check_judged_once_and_skipped_once_is_judged() -> None:
    for order in (["skipped", "passed"], ["passed", "skipped"]):
        data = doc([entry("a", ["not_empty"])], [rec("a", "not_empty", o) for o in order])
        got = coverage.assess(data)
        assert (got.covered, got.complete, got.bad_skips) == (1, True, []), order


def test_every_problem_is_described_and_long_lists_are_cut() -> None:
    names = [f"c{i:02d}" for i in range(10)]
    data = doc(
        [entry(n, ["not_empty"]) for n in names] + [entry("s", ["not_empty"])],
        [rec("s", "not_empty", "skipped")] + [rec(f"x{i}", "not_empty") for i in range(8)],
    )
    got = coverage.assess(data)
    assert got.describe() == (
        "10 case check(s) never ran: c00, c01, c02, c03, c04, c05, c06, c07 and 2 more; "
        "8 case(s) not defined at the commit: x0, x1, x2, x3, x4, x5, x6, x7; "
        "1 check(s) skipped though their case is not: s [not_empty]"
    )
    nine = doc([entry(n, ["not_empty"]) for n in names[:9]], [])
    assert coverage.assess(nine).describe().endswith("c07 and 1 more")


def test_an_entry_without_checks_needs_no_record() -> None:
    got = coverage.assess(doc([{"case_id": 7}], []))  # ids are compared as strings
    assert (got.defined, got.covered, got.complete) == (1, 1, True)
    got = coverage.assess(doc([{"case_id": 7, "checks": ["x"]}], [rec(7, "x")]))  # type: ignore[arg-type]
    assert got.complete and got.foreign == []


def test_a_subset_is_allowed_only_as_named() -> None:
    allowed = [{"keyword": "smoke"}, {"markers": "fast", "cases": "cases/one.yaml"}]
    assert coverage.subset_allowed({"keyword": "smoke"}, allowed) == {"keyword": "smoke"}
    # fields left empty are no selection of cases; a shard of one is the whole selection
    sel = {"keyword": "smoke", "markers": "", "cases": None, "shard": {"index": 1, "count": 1}}
    assert coverage.subset_allowed(sel, allowed) == {"keyword": "smoke"}
    # one shard of several is part of a run, never excused: its shards are merged instead
    assert coverage.subset_allowed({**sel, "shard": {"index": 1, "count": 2}}, allowed) is None
    assert coverage.subset_allowed({"markers": "fast", "cases": "cases/one.yaml"},
                                   allowed) == allowed[1]
    assert coverage.subset_allowed({"markers": "fast"}, allowed) is None  # half of an entry
    assert coverage.subset_allowed({"keyword": "smoke", "markers": "fast"}, allowed) is None
    assert coverage.subset_allowed({"keyword": "other"}, allowed) is None
    assert coverage.subset_allowed({}, allowed) is None  # a full run needs no excuse
    assert coverage.subset_allowed(None, allowed) is None
    assert coverage.subset_allowed({"keyword": "smoke"}, []) is None
    # an entry's empty fields are as if absent
    assert coverage.subset_allowed({"keyword": "k"}, [{"keyword": "k", "cases": ""}]) == {
        "keyword": "k", "cases": ""}
