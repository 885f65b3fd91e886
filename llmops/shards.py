"""Shards: one eval run split across machines (`pytest evals/ --shard I/N`), and the shards'
results merged back into the results of one run (`llmops results merge`).

The partition is by case id and depends on nothing else than the set of selected ids and N: the
ids are ordered by their sha256 (so one suite's cases, whose ids look alike, spread over every
shard) and dealt round-robin, so every machine computes the same split, all repeats of a case go
to the same shard, and two shards differ by at most one case. Case-file errors and tests that are
not about a case run in shard 1 only.

A merge is only as good as its inputs: `merge` refuses (InputError, exit 2) files that are not
shards of one run (another commit, other cases, another selection or target), a shard given twice
or missing, a case in two shards or in a shard it does not belong to, a shard whose figures do not
add up, and, when `LLMOPS_RESULTS_KEY` is set, a shard CI did not sign with it. What it writes is
rebuilt from the shards' records with the code a single run uses (summary, stats, coverage, red
team, exchanges), so it is the document an unsharded run of the same answers would have written.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmops.concurrency import merge_reports
from llmops.errors import InputError
from llmops.textsafe import one_line

#: The most shards a run may be split into.
MAX_SHARDS = 256
_SHARD = re.compile(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*")
#: Problems a failed merge lists before "and N more".
SHOWN = 20
#: Fields of `run` every shard of one run shares (what makes them one run), with how a message
#: names them.
SAME_RUN = (
    ("git_commit", "commit"),
    ("cases_digest", "cases digest"),
    ("llmops_version", "llmops version"),
    ("repeat", "--repeat"),
    ("repeat_max", "--repeat maximum"),
    ("case_file_errors", "case file errors"),
)


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.fullmatch(str(text))
        if match:
            shard = cls(int(match.group(1)), int(match.group(2)))
            if 1 <= shard.index <= shard.count <= MAX_SHARDS:
                return shard
        raise InputError(f"--shard: expected I/N with 1 <= I <= N <= {MAX_SHARDS} "
                         f"(shard I of N), got {one_line(str(text))[:40]!r}")

    @classmethod
    def of(cls, selection: Mapping[str, Any] | None) -> Shard | None:
        """The shard a results file's `run.selection` records, if any."""
        value = (selection or {}).get("shard")
        if not isinstance(value, Mapping):
            return None
        index, count = value.get("index"), value.get("count")
        if not (isinstance(index, int) and isinstance(count, int) and 1 <= index <= count):
            return None
        return cls(index, count)

    def as_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def assign(case_ids: Iterable[str], count: int) -> dict[str, int]:
    """Case id -> the shard (1..count) it runs in."""
    order = sorted(set(case_ids), key=lambda c: (hashlib.sha256(c.encode()).hexdigest(), c))
    return {case_id: i % count + 1 for i, case_id in enumerate(order)}


# --------------------------------------------------------------------------- merging


@dataclass(frozen=True)
class Part:
    """One shard's results: where they came from and their (schema-valid) document."""

    path: str
    data: Mapping[str, Any]
    digest: str = ""

    @property
    def run(self) -> Mapping[str, Any]:
        return self.data["run"]

    @property
    def shard(self) -> Shard | None:
        return Shard.of(self.run.get("selection"))


def merge(parts: Sequence[Part], key: bytes | None = None) -> dict[str, Any]:
    """The results of the one run these shards are parts of; InputError listing every reason
    they are not (each naming the file), so nothing half-checked is ever written."""
    if not parts:
        raise InputError("results merge: no results files given")
    problems = _problems(parts, key)
    if problems:
        shown = problems[:SHOWN]
        more = f"\n... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise InputError("results merge: these are not the shards of one run:\n"
                         + "\n".join(f"  {p}" for p in shown) + more)
    return _document(sorted(parts, key=lambda p: p.shard.index))  # type: ignore[union-attr]


def _problems(parts: Sequence[Part], key: bytes | None) -> list[str]:
    from llmops import integrity

    out: list[str] = []
    for part in parts:
        if part.shard is None:
            out.append(f"{part.path}: not a shard (its run has no --shard I/N): a whole run "
                       "needs no merging")
        for problem in integrity.problems(part.data):
            out.append(f"{part.path}: the results do not add up: {problem}")
        if key is not None:
            why = integrity.verify(part.data, key)
            if why:
                out.append(f"{part.path}: {why} ({integrity.KEY_ENV} is set)")
    if out:
        return out
    first = parts[0]
    for field, name in SAME_RUN:
        values = {_text(p.run.get(field)) for p in parts}
        if len(values) > 1:
            out.append(f"not one {name}: " + "; ".join(
                f"{p.path} has {_show(p.run.get(field))}" for p in parts))
    # What the target said of itself is known only to shards that asked it something.
    asked = [p for p in parts if p.run.get("requests")] or list(parts)
    for field, name in (("target", "target"), ("chatbot_version", "chatbot version"),
                        ("generation", "generation settings")):
        if len({_text(p.run.get(field)) for p in asked}) > 1:
            out.append(f"not one {name}: " + "; ".join(
                f"{p.path} has {_show(p.run.get(field))}" for p in asked))
    if len({_text(_selection(p.run)) for p in parts}) > 1:
        out.append("not one selection (-k, -m, --cases): " + "; ".join(
            f"{p.path} has {_show(_selection(p.run))}" for p in parts))
    if len({_text(_expected(p.run)) for p in parts}) > 1:
        out.append("not one set of defined cases (run.coverage): "
                   + ", ".join(p.path for p in parts))
    if len({"stats" in p.data for p in parts}) > 1:
        out.append("some shards have statistics (stats) and some not: "
                   + ", ".join(p.path for p in parts if "stats" not in p.data) + " lack them")
    counts = {p.shard.count for p in parts}  # type: ignore[union-attr]
    if len(counts) > 1:
        out.append("not one shard count: " + "; ".join(
            f"{p.path} is shard {p.shard}" for p in parts))
        return out
    [count] = counts
    by_index: dict[int, list[str]] = {}
    for p in parts:
        by_index.setdefault(p.shard.index, []).append(p.path)  # type: ignore[union-attr]
    for index in sorted(by_index):
        if len(by_index[index]) > 1:
            out.append(f"shard {index}/{count} given {len(by_index[index])} times: "
                       + ", ".join(by_index[index]))
    missing = [i for i in range(1, count + 1) if i not in by_index]
    if missing:
        out.append(f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing "
                   f"(given: {', '.join(f'{i}/{count}' for i in sorted(by_index))})")
    if first.run.get("git_commit") is None and not out:
        out.append(f"{first.path}: the shards record no git commit, so nothing shows they ran "
                   "the same code")
    seen: dict[str, str] = {}
    twice: dict[str, list[str]] = {}
    for p in parts:
        for case_id in sorted({str(r["case_id"]) for r in p.data["results"]}):
            if case_id in seen:
                twice.setdefault(case_id, [seen[case_id]]).append(p.path)
            else:
                seen[case_id] = p.path
    for case_id, paths in twice.items():
        out.append(f"case {_show(case_id)} is in more than one shard: {', '.join(paths)}")
    if not out:
        # Every case in the shard the partition gives it: a moved case means a shard was
        # edited, or ran with another selection.
        cases = {str(r["case_id"]) for p in parts for r in p.data["results"]
                 if r["check"] != "case_file"}
        home = assign(cases, count)
        for p in parts:
            for case_id in sorted({str(r["case_id"]) for r in p.data["results"]
                                   if r["check"] != "case_file"}):
                if home[case_id] != p.shard.index:  # type: ignore[union-attr]
                    out.append(f"{p.path}: case {_show(case_id)} ran in shard {p.shard} but "
                               f"belongs to shard {home[case_id]}/{count}")
    return out


def _document(parts: Sequence[Part]) -> dict[str, Any]:
    from llmops import coverage, results, scrub

    records: list[dict[str, Any]] = []
    for p in parts:
        records.extend(dict(r) for r in p.data["results"])
    # Case order (records of one case keep their order within the shard). Python's sort is stable.
    records.sort(key=lambda r: (str(r.get("file") or ""), r.get("line") or 0, str(r["case_id"]),
                                r.get("repeat") or 1))
    exchanges: list[dict[str, Any]] = []
    for p in parts:
        exchanges.extend(dict(e) for e in p.data.get("exchanges") or ())
    exchanges.sort(key=lambda e: (str(e["case_id"]), int(e.get("repeat") or 1)))
    index = {(e["case_id"], e.get("repeat") or 1): i for i, e in enumerate(exchanges)}
    for rec in records:
        if "exchange" in rec:
            rec["exchange"] = index.get((rec["case_id"], rec.get("repeat") or 1))

    first = parts[0].run
    asked = next((p.run for p in parts if p.run.get("requests")), first)
    # What every shard shares (checked above), and any field this merge does not know of, as a
    # shard that asked the target recorded it; then what is the run's as a whole, recomputed.
    run: dict[str, Any] = {k: v for k, v in asked.items()
                           if k not in ("abandoned", "concurrency_control", "shards")}
    run.update(id=uuid.uuid4().hex, started_at=min(p.run["started_at"] for p in parts),
               finished_at=max(p.run["finished_at"] for p in parts))
    if any(p.run.get("git_dirty") for p in parts):
        run["git_dirty"] = True
        paths = [x for p in parts for x in p.run.get("git_dirty_paths") or ()]
        run["git_dirty_paths"] = list(dict.fromkeys(paths))[: results.DIRTY_SHOWN]
    run["requests"] = len({(r["case_id"], r.get("repeat") or 1) for r in records
                           if r["check"] != "case_file" and r["outcome"] != "skipped"})
    run["concurrency"] = max(int(p.run.get("concurrency") or 1) for p in parts)
    run["case_file_errors"] = list(first.get("case_file_errors") or ())
    run["selection"] = {**_selection(first), "shard": None,
                        "deselected": first.get("selection", {}).get("deselected", 0)}
    cov = dict(first["coverage"])
    cov["selected"] = len({r["case_id"] for r in records
                           if r["check"] not in coverage.FILE_CHECKS})
    cov["complete"] = coverage.assess({"run": {"coverage": cov}, "results": records}).complete
    run["coverage"] = cov
    abandoned = sum(int(p.run.get("abandoned") or 0) for p in parts)
    if abandoned:
        run["abandoned"] = abandoned
    control = merge_reports([p.run["concurrency_control"] for p in parts
                             if isinstance(p.run.get("concurrency_control"), Mapping)])
    if control:
        run["concurrency_control"] = control
    run["shards"] = [
        {"index": p.shard.index, "count": p.shard.count,  # type: ignore[union-attr]
         "run_id": p.run["id"], "started_at": p.run["started_at"],
         "finished_at": p.run["finished_at"], "requests": p.run.get("requests", 0),
         **({"results_sha256": p.digest} if p.digest else {})}
        for p in parts
    ]

    doc: dict[str, Any] = {
        "schema_version": results.SCHEMA_VERSION,
        "run": run,
        "summary": results.summarize(records),
        "results": records,
    }
    if "stats" in parts[0].data:
        thresholds = {s["case_id"]: s["min_pass_rate"] for p in parts for s in p.data["stats"]}
        results.add_stats(doc, thresholds)
    judges = [p.data["summary"]["judge"] for p in parts if "judge" in p.data["summary"]]
    if judges:
        doc["summary"]["judge"] = _judge(judges)
    from llmops.redteam.report import summarize as redteam_summary

    redteam = redteam_summary(records)
    if redteam is not None:
        doc["redteam"] = redteam
    if any("exchanges" in p.data for p in parts):
        doc["exchanges"] = exchanges
    # The shards hold redacted text already; this process's own secrets go too. In place: the
    # document is built here, and what it shares with the shards' data is not read again.
    return scrub.deep_in_place(doc)


def _selection(run: Mapping[str, Any]) -> dict[str, Any]:
    """What narrowed the run, but for the shard (and the count it deselected)."""
    sel = run.get("selection") or {}
    return {k: sel.get(k) for k in ("keyword", "markers", "cases")}


def _expected(run: Mapping[str, Any]) -> Any:
    cov = run.get("coverage") or {}
    return [cov.get("cases_dir"), cov.get("expected")]


def _judge(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The judge's cost over all shards: counts add up, as do the seconds spent."""
    out: dict[str, Any] = {"name": parts[0].get("name")}
    for field in parts[0]:
        if field != "name" and all(isinstance(p.get(field), int | float) for p in parts):
            total = sum(p[field] for p in parts)
            out[field] = round(total, 3) if isinstance(total, float) else total
    return out


def _text(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def _show(value: Any) -> str:
    """A value from a results file, fit for one line of a message."""
    if not isinstance(value, str):
        return one_line(_text(value))[:80]
    text = one_line(value)
    return repr(text[:80] + ("…" if len(text) > 80 else ""))
