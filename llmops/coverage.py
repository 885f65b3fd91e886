"""Coverage: what a run covered of the cases its commit defines, and how it was selected.

A run records `run.selection` (the `-k`, `-m`, `--cases` and shard it was started with) and
`run.coverage`: every case defined at the commit (in the configured cases directory) with the
checks it is judged on and whether its file skips it. The gate never trusts a stored "complete"
flag: `assess` recomputes coverage from that list and the records, so a run that left cases or
checks out (`-k "not privacy"`, `--cases cases/one.yaml`, a deleted eval module) is partial, and
records of cases the commit does not define are foreign. Shards of one run share the list, so the
records of all shards merged together cover it in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmops.cases import Case

#: Records that are about a case file, not a case: they need no entry in the coverage list.
FILE_CHECKS = frozenset({"case_file"})
#: How many missing or foreign names a message lists before "and N more".
SHOWN = 8


def expected(cases: Iterable[Case]) -> list[dict[str, Any]]:
    """The coverage list of these cases: id, checks and whether the case file skips it."""
    return [
        {"case_id": c.id, "checks": c.checks(), "skip": bool(c.skip)}
        for c in sorted(cases, key=lambda c: c.id)
    ]


def record(
    defined: Iterable[Case], *, cases_dir: str, selected: int, complete: bool
) -> dict[str, Any]:
    """`run.coverage` as the plugin writes it (`complete` is informative; `assess` decides)."""
    listed = expected(defined)
    return {
        "cases_dir": cases_dir,
        "defined": len(listed),
        "selected": selected,
        "complete": complete,
        "expected": listed,
    }


@dataclass
class Assessment:
    """Coverage recomputed from a results document."""

    recorded: bool
    defined: int = 0
    covered: int = 0
    #: Cases (or "case [check]") the commit defines that no record judged.
    missing: list[str] = field(default_factory=list)
    #: Cases whose records are in the file but which the commit does not define.
    foreign: list[str] = field(default_factory=list)
    #: Records marked skipped whose case file does not skip them (hand edits, a conftest).
    bad_skips: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.recorded and not (self.missing or self.foreign or self.bad_skips)

    def describe(self) -> str:
        """One line: what is wrong with the coverage, for a gate reason."""
        if not self.recorded:
            return ("the results record no coverage (written by an older llmops, or edited): "
                    "cannot tell whether every case ran")
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} case check(s) never ran: {_some(self.missing)}")
        if self.foreign:
            parts.append(f"{len(self.foreign)} case(s) not defined at the commit: "
                         f"{_some(self.foreign)}")
        if self.bad_skips:
            parts.append(f"{len(self.bad_skips)} check(s) skipped though their case is not: "
                         f"{_some(self.bad_skips)}")
        return "; ".join(parts)


def assess(data: Mapping[str, Any]) -> Assessment:
    """Recompute the coverage of a results document from its records."""
    run = data.get("run") or {}
    cov = run.get("coverage")
    if not isinstance(cov, Mapping) or not isinstance(cov.get("expected"), list):
        return Assessment(recorded=False)
    wanted: dict[str, tuple[list[str], bool]] = {
        str(e["case_id"]): (list(e.get("checks") or ()), bool(e.get("skip")))
        for e in cov["expected"]
    }
    ran: dict[tuple[str, str], bool] = {}  # (case, check) -> judged at least once (not skipped)
    skipped: set[tuple[str, str]] = set()
    foreign: set[str] = set()
    for rec in data.get("results") or ():
        if rec.get("check") in FILE_CHECKS:
            continue
        case_id, check = str(rec["case_id"]), str(rec["check"])
        if case_id not in wanted:
            foreign.add(case_id)
            continue
        if rec["outcome"] == "skipped":
            skipped.add((case_id, check))
            ran.setdefault((case_id, check), False)
        else:
            ran[(case_id, check)] = True
    out = Assessment(recorded=True, defined=len(wanted), foreign=sorted(foreign))
    covered = 0
    for case_id, (checks, skip) in wanted.items():
        full = True
        for check in checks:
            key = (case_id, check)
            if skip:
                full = full and key in ran
            elif not ran.get(key):
                full = False
                if key in skipped:
                    out.bad_skips.append(f"{case_id} [{check}]")
            if key not in ran:
                out.missing.append(f"{case_id} [{check}]" if _partly(ran, case_id) else case_id)
        covered += full
    out.missing = list(dict.fromkeys(out.missing))  # a wholly missing case is named once
    out.covered = covered
    return out


def _partly(ran: Mapping[tuple[str, str], bool], case_id: str) -> bool:
    return any(k[0] == case_id for k in ran)


def _some(names: list[str]) -> str:
    head = ", ".join(names[:SHOWN])
    return head + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def subset_allowed(selection: Mapping[str, Any] | None, allowed: Iterable[Mapping[str, Any]]
                   ) -> Mapping[str, Any] | None:
    """The entry of `[tool.llmops.gate] allow_subsets` this run's selection matches, if any.

    An entry names selection fields (`keyword`, `markers`, `cases`); a run matches when each
    named field equals the run's and the fields it does not name were not used. One shard of
    several matches none: it is a part of the run its selection names.
    """
    shard = (selection or {}).get("shard")
    if isinstance(shard, Mapping) and shard.get("count") != 1:
        return None  # a shard is part of a run, whatever the run selected: merge the shards
    sel = {k: v for k, v in (selection or {}).items() if k in SELECTION_KEYS and v}
    for entry in allowed:
        if {k: v for k, v in entry.items() if v} == sel:
            return entry
    return None


#: The selection fields a policy may name in `allow_subsets`.
SELECTION_KEYS = ("keyword", "markers", "cases")
