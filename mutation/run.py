"""Mutation testing of llmops's core with cosmic-ray: `make mutation` (see docs/testing.md).

cosmic-ray lists the mutants of each module in mutation/config.toml (one small AST edit each) into
a session database, .mutation/<module>.sqlite, and applies them one at a time; this driver picks
the tests each mutant runs against and writes the report. For each module:

1. The repository's files (tracked and new, as they are in the work tree) are copied to
   .mutation/work: mutants are written there, never into the developer's tree, and PYTHONPATH
   points there so that tests spawning `python -m llmops` run the mutant too.
2. Mutants inside annotations (never evaluated: `from __future__ import annotations`), operators
   outside the configured set and the listed equivalent mutants are skipped.
3. coverage.py, with one context per test, tells which tests run each line. A mutant runs against
   the module's own tests that cover its line (all of them, for a line run at import or only in
   a subprocess), `-x`, with a timeout; a timeout counts as killed (an endless loop is caught).
4. Survivors run again against every other test of the suite that covers their line.
5. The report: per module the mutants, the score (killed / (killed + survived)) and every
   survivor with file:line and the mutated line; the exit status is 1 when a module scores below
   `min_score`.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".mutation"
WORK = OUT / "work"


@dataclass
class Module:
    name: str
    path: str
    tests: list[str]
    equivalents: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass
class Config:
    modules: dict[str, Module]
    suite: list[str]
    suite_args: list[str]
    pytest_args: list[str]
    min_score: float
    timeout_floor_s: float
    timeout_factor: float
    binary: set[str]
    comparison: set[str]


def load_config(path: Path) -> Config:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    run, ops = data["run"], data["operators"]
    modules = {
        name: Module(name, table["path"], list(table["tests"]))
        for name, table in data["modules"].items()
    }
    for eq in data.get("equivalent", []):
        modules[eq["module"]].equivalents[(eq["line"].strip(), eq["mutant"].strip())] = eq["why"]
    return Config(
        modules=modules,
        suite=list(run["suite"]),
        suite_args=list(run.get("suite_args", [])),
        pytest_args=list(run["pytest_args"]),
        min_score=float(run["min_score"]),
        timeout_floor_s=float(run["timeout_floor_s"]),
        timeout_factor=float(run["timeout_factor"]),
        binary=set(ops["binary"]),
        comparison=set(ops["comparison"]),
    )


# -- the copy the mutants are written into


def copy_tree() -> None:
    """Tracked and untracked-but-not-ignored files, as they are in the work tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    if WORK.exists():
        shutil.rmtree(WORK)
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file() and not name.startswith(".mutation/"):
            dst = WORK / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


# -- which tests run which line


def statement_lines(source: str) -> dict[int, int]:
    """Each line -> the first line of the innermost statement holding it (what coverage keys)."""
    out: dict[int, int] = {}
    for node in ast.walk(ast.parse(source)):  # breadth first: inner statements overwrite outer
        if isinstance(node, ast.stmt):
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                out[line] = node.lineno
    return out


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    spans = []
    for node in ast.walk(ast.parse(source)):
        found: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            found.append(node.returns)
            found += [x.annotation for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]]
            found += [x.annotation for x in (a.vararg, a.kwarg) if x is not None]
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        for ann in found:
            if ann is not None:
                end = (ann.end_lineno or ann.lineno, ann.end_col_offset or 0)
                spans.append(((ann.lineno, ann.col_offset), end))
    return spans


def node_id(context: str) -> str | None:
    """coverage's test_function context (`tests.test_gate.test_x`) -> a pytest node id."""
    parts = context.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if (WORK / Path(*parts[:i])).with_suffix(".py").is_file():
            return "/".join(parts[:i]) + ".py::" + "::".join(parts[i:])
    return None


@dataclass
class TestMap:
    """Per module: line -> the node ids covering it ('' when run outside a test)."""

    lines: dict[str, dict[int, set[str]]]
    seconds: dict[str, float]
    failing: set[str]


def measure(paths: list[str], modules: list[Module], pytest_args: list[str], tag: str) -> TestMap:
    """Run `paths` once under coverage with a context per test and junit timings."""
    data_file, junit, rc = OUT / f"{tag}.coverage", OUT / f"{tag}.xml", OUT / f"{tag}.coveragerc"
    for stale in (data_file, junit):
        stale.unlink(missing_ok=True)
    include = ",".join(str(WORK / m.path) for m in modules)
    rc.write_text(
        f"[run]\ndata_file = {data_file}\ndynamic_context = test_function\ninclude = {include}\n"
    )
    cmd = [sys.executable, "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest", "-q"]
    cmd += [*pytest_args, f"--junitxml={junit}", *paths]
    print(f"  measuring {' '.join(paths)} under coverage ...", flush=True)
    proc = subprocess.run(cmd, cwd=WORK, capture_output=True, text=True)
    if not junit.exists():
        sys.exit(
            f"mutation: the clean test run failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    seconds: dict[str, float] = defaultdict(float)
    failing: set[str] = set()
    for case in ET.parse(junit).iter("testcase"):
        nid = node_id(f"{case.get('classname')}.{case.get('name', '').split('[')[0]}")
        if nid is None:
            continue
        seconds[nid] += float(case.get("time") or 0)
        if case.find("failure") is not None or case.find("error") is not None:
            failing.add(nid)
    if failing:
        print(
            f"  note: {len(failing)} test(s) fail without any mutant and are left out: "
            + ", ".join(sorted(failing)[:5]),
            flush=True,
        )
    from coverage import CoverageData

    cov = CoverageData(basename=str(data_file))
    cov.read()
    lines: dict[str, dict[int, set[str]]] = {}
    for m in modules:
        by_line = cov.contexts_by_lineno(str(WORK / m.path))
        lines[m.name] = {
            line: {(node_id(c) or "") if c else "" for c in ctxs} - failing
            for line, ctxs in by_line.items()
        }
    return TestMap(lines, dict(seconds), failing)


# -- mutants


@dataclass
class Mutant:
    job_id: str
    operator: str
    occurrence: int
    line: int
    before: str
    after: str


def describe(item: Any, source: str) -> Mutant:
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator

    spec = item.mutations[0]
    operator = get_operator(spec.operator_name)(**(spec.operator_args or {}))
    mutated = mutate_code(source, operator, spec.occurrence) or source
    before, after = source.splitlines(), mutated.splitlines()
    line, old, new = spec.start_pos[0], "", ""
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after).get_opcodes():
        if tag != "equal":
            line = i1 + 1
            old = " ".join(s.strip() for s in before[i1:i2])
            new = " ".join(s.strip() for s in after[j1:j2])
            break
    return Mutant(item.job_id, spec.operator_name, spec.occurrence, line, old, new)


def keyword_only_marker(m: Mutant) -> bool:
    """cosmic-ray takes the bare `*` of `def f(a, *, b)` for a product and makes it `/`."""
    return (
        m.operator.startswith("core/ReplaceBinaryOperator_Mul_")
        and m.before.count("*") == 1
        and re.search(r"(^|[(,]\s*)\*\s*,", m.before) is not None
    )


def wanted(operator: str, cfg: Config) -> bool:
    for prefix, keep in (
        ("ReplaceBinaryOperator_", cfg.binary),
        ("ReplaceComparisonOperator_", cfg.comparison),
    ):
        if prefix in operator:
            return operator.split(prefix, 1)[1] in keep
    return True


class ForkServer:
    """A process that has imported pytest and every third-party module the tests import, and
    forks a child per mutant run: the child imports llmops and the tests afresh from disk (the
    mutated source), so a run costs the tests, not the ~3 s of starting Python and pytest."""

    def __init__(self, warm: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", *warm],
            cwd=WORK,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.out = WORK.with_name(WORK.name + ".last-run.txt")

    def run(self, tests: list[str], timeout: float, cfg: Config) -> tuple[str, str]:
        # Plain asserts: only pass or fail matters here, and pytest's rewriting recompiles every
        # module of every pytest plugin in each child (bytecode is not written, see main()).
        args = ["-x", "-q", "--assert=plain", *cfg.pytest_args, *tests]
        request = {"args": args, "timeout": timeout, "out": str(self.out)}
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            sys.exit("mutation: the fork server died")
        code = json.loads(reply)["code"]
        output = self.out.read_text(errors="replace")[-4000:] if self.out.exists() else ""
        if code == "timeout":
            return "killed", f"timeout after {timeout:.0f} s\n{output}"
        # 5: no test ran, 3/4: pytest itself failed; not a verdict on the mutant
        return ("survived" if code == 0 else "killed" if code in (1, 2) else "incompetent"), output

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def serve(warm: list[str]) -> None:
    """The fork server's loop: one JSON request a line on stdin, one reply a line on stdout."""
    import importlib
    import signal
    from importlib.metadata import entry_points

    import pytest  # imported once here, inherited by every child

    plugins = [ep.value.split(":")[0] for ep in entry_points(group="pytest11")]
    for name in ["conftest", "llmops.plugin", *plugins, *warm]:
        # a module that does not import here: its child will say why
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    for name in list(sys.modules):  # forget our own code: each child imports it from disk
        if name.split(".")[0] in ("llmops", "tests", "conftest"):
            del sys.modules[name]
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os.setsid()  # its own process group: a timeout kills what the tests spawned too
            fd = os.open(request["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            try:
                code = int(pytest.main(request["args"]))
            except BaseException:  # any crash is a failed run
                code = 3
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        deadline = time.monotonic() + request["timeout"]
        status: int | str = "timeout"
        while time.monotonic() < deadline:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
                break
            time.sleep(0.02)
        else:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        print(json.dumps({"code": status}), flush=True)


def fastest_first(tests: set[str], tmap: TestMap) -> list[str]:
    """With `-x` a mutant dies at its first failing test: try the quick ones first."""
    return sorted(tests, key=lambda t: (tmap.seconds.get(t, 1.0), t))


def timeout_for(tests: set[str], tmap: TestMap, cfg: Config) -> float:
    return cfg.timeout_floor_s + cfg.timeout_factor * sum(tmap.seconds.get(t, 1.0) for t in tests)


def source_digest(module: Module) -> str:
    return hashlib.sha256((WORK / module.path).read_bytes()).hexdigest()


def mutate_module(
    module: Module,
    cfg: Config,
    own: TestMap,
    wide: TestMap | None,
    rerun: bool,
    server: ForkServer,
    sample: int | None = None,
) -> dict[str, Any]:
    from cosmic_ray.commands.init import init
    from cosmic_ray.mutating import use_mutation
    from cosmic_ray.plugins import get_operator
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    session, meta_path = OUT / f"{module.name}.sqlite", OUT / f"{module.name}.json"
    source = (WORK / module.path).read_text(encoding="utf-8")
    digest = source_digest(module)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    # Verdicts of the last run by mutant (operator, line, mutated line): after a change of the
    # module, --survivors keeps the kills of the mutants whose line is unchanged.
    killed_before: set[tuple[str, str, str]] = set()
    if rerun and (meta.get("digest") != digest or not session.exists()):
        print(f"  {module.path} changed since the last run: its mutants are made again")
        if session.exists():
            with use_db(str(session), WorkDB.Mode.open) as old:
                for item, result in old.completed_work_items:
                    d = meta.get("described", {}).get(item.job_id)
                    if d and result.test_outcome == TestOutcome.KILLED:
                        killed_before.add((d["operator"], d["before"], d["after"]))
        rerun = False
    stmt = statement_lines(source)
    spans = annotation_spans(source)
    own_files = {t.split("::")[0] for t in module.tests}
    all_own = set(module.tests)
    started = time.monotonic()

    with use_db(str(session), WorkDB.Mode.create) as db:
        if not rerun:
            init([Path(module.path)], db, {})
            meta = {"digest": digest, "described": {}, "sample": sample}
        described: dict[str, dict[str, Any]] = meta.setdefault("described", {})
        todo = []
        done = {item.job_id: result for item, result in db.completed_work_items}
        for item in db.work_items:
            spec = item.mutations[0]
            if item.job_id in done:
                result = done[item.job_id]
                if rerun and result.test_outcome == TestOutcome.SURVIVED:
                    d = described.get(item.job_id, {})
                    # stripped: cosmic-ray may take a blank line above the mutated one along
                    key = ((d.get("before") or "").strip(), (d.get("after") or "").strip())
                    why = module.equivalents.get(key)
                    if d and keyword_only_marker(Mutant(**d)):
                        why = "not an operator: the keyword-only `*` of a signature"
                    if why:  # listed since the last run
                        label = why if why.startswith("not an operator") else f"equivalent: {why}"
                        skipped_ = WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=label)
                        db.set_result(item.job_id, skipped_)
                    else:
                        todo.append(item)
                continue
            if rerun:  # never run (left out by --sample): the rerun keeps the sample's scope
                continue
            skip = None
            if not wanted(spec.operator_name, cfg):
                skip = "operator not in the configured set"
            elif any(a <= tuple(spec.start_pos) < b for a, b in spans):
                skip = "inside an annotation (never evaluated)"
            if skip is None:
                m = describe(item, source)
                described[item.job_id] = m.__dict__
                why = module.equivalents.get((m.before.strip(), m.after.strip()))
                if why:
                    skip = f"equivalent: {why}"
                elif keyword_only_marker(m):
                    skip = "not an operator: the keyword-only `*` of a signature"
                elif (m.operator, m.before, m.after) in killed_before:
                    kept = "killed in the last run, on the same line"
                    db.set_result(
                        item.job_id,
                        WorkResult(
                            worker_outcome=WorkerOutcome.NORMAL,
                            test_outcome=TestOutcome.KILLED,
                            output=kept,
                        ),
                    )
                    continue
            if skip:
                db.set_result(
                    item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=skip)
                )
            else:
                todo.append(item)
        meta_path.write_text(json.dumps(meta))
        if sample and len(todo) > sample:  # a first look at a big module: a seeded sample
            todo = random.Random(0).sample(sorted(todo, key=lambda i: i.job_id), sample)
        print(f"  {len(todo)} mutant(s) to run", flush=True)

        for n, item in enumerate(todo, 1):
            spec = item.mutations[0]
            line = stmt.get(spec.start_pos[0], spec.start_pos[0])
            covering = own.lines.get(module.name, {}).get(line, set())
            tests = {t for t in covering if t and t.split("::")[0] in own_files}
            if not tests:  # run only at import, in a fixture, a thread or a subprocess
                tests = all_own
            operator = get_operator(spec.operator_name)(**(spec.operator_args or {}))
            with use_mutation(Path(module.path), operator, spec.occurrence) as (_, mutated):
                if mutated is None:
                    db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.NO_TEST))
                    continue
                outcome, output = server.run(
                    fastest_first(tests, own), timeout_for(tests, own, cfg), cfg
                )
                if outcome == "survived" and tests != all_own:
                    # Coverage gives a cached or once-only line to the first test that ran it:
                    # a survivor of its covering tests meets all of the module's tests.
                    outcome, output = server.run(
                        sorted(all_own), timeout_for(all_own, own, cfg) + 60, cfg
                    )
                if outcome == "survived" and wide is not None:
                    covering = wide.lines.get(module.name, {}).get(line, set())
                    more = {t for t in covering if t and t.split("::")[0] not in own_files}
                    if more:
                        outcome, output = server.run(
                            fastest_first(more, wide), timeout_for(more, wide, cfg), cfg
                        )
            db.set_result(
                item.job_id,
                WorkResult(
                    worker_outcome=WorkerOutcome.NORMAL, test_outcome=outcome, output=output[-4000:]
                ),
            )
            mark = {"killed": ".", "survived": "S", "incompetent": "!"}.get(outcome, "?")
            print(mark, end="" if n % 60 else f" {n}/{len(todo)}\n", flush=True)
        print()

        counts: Counter[str] = Counter()
        survivors = []
        skipped: Counter[str] = Counter()
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                skipped[(result.output or "").split(":")[0]] += 1
                continue
            if result.worker_outcome == WorkerOutcome.NO_TEST:
                continue
            counts[result.test_outcome.value if result.test_outcome else "error"] += 1
            if result.test_outcome == TestOutcome.SURVIVED:
                info = described.get(item.job_id) or describe(item, source).__dict__
                survivors.append(info)
    # "incompetent": the mutant does not even compile or collect (cosmic-ray turns `**x` into
    # `*x`): no verdict on the tests, so it counts neither way.
    killed, survived = counts["killed"], counts["survived"]
    score = killed / (killed + survived) if killed + survived else 1.0
    return {
        "module": module.name,
        "path": module.path,
        "mutants": killed + survived,
        "killed": killed,
        "survived": survived,
        "score": score,
        "not_viable": counts["incompetent"],
        "sampled": meta.get("sample") is not None,
        "skipped": dict(skipped),
        "survivors": sorted(survivors, key=lambda s: (s["line"], s["operator"])),
        "seconds": round(time.monotonic() - started),
    }


def report(results: list[dict[str, Any]], cfg: Config) -> str:
    out = [
        "# Mutation testing report",
        "",
        "| module | mutants | killed | survived | score | equivalent | not viable |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        eq = r["skipped"].get("equivalent", 0)
        out.append(
            f"| {r['path']}{' (sample)' if r.get('sampled') else ''} | {r['mutants']} "
            f"| {r['killed']} | {r['survived']} "
            f"| {r['score']:.1%} | {eq} | {r.get('not_viable', 0)} |"
        )
    for r in results:
        if not r["survivors"]:
            continue
        out += ["", f"## Survivors in {r['path']} ({len(r['survivors'])})", ""]
        for s in r["survivors"]:
            op = s["operator"].removeprefix("core/")
            out.append(f"- `{r['path']}:{s['line']}` {op}: `{s['before']}` -> `{s['after']}`")
    failing = [r["path"] for r in results if r["score"] < cfg.min_score]
    out += [
        "",
        f"Minimum score {cfg.min_score:.0%}: "
        + (f"below it: {', '.join(failing)}" if failing else "every module reaches it."),
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="module names from the config (default all)")
    parser.add_argument("--config", type=Path, default=ROOT / "mutation" / "config.toml")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="run only the last run's survivors again (after adding tests)",
    )
    parser.add_argument(
        "--no-recheck",
        action="store_true",
        help="skip re-running survivors against the rest of the suite",
    )
    parser.add_argument(
        "--suite", nargs="+", help="the tests survivors are re-run against (default: config)"
    )
    parser.add_argument(
        "--sample", type=int, help="run a seeded sample of N mutants per module (a first look)"
    )
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    if args.suite:
        cfg.suite = args.suite
    unknown = [m for m in args.modules if m not in cfg.modules]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r} (known: {', '.join(cfg.modules)})")
    modules = [cfg.modules[m] for m in (args.modules or cfg.modules)]

    # One copy per set of modules: two runs of different modules can go on side by side.
    global WORK
    WORK = OUT / ("work-" + "-".join(m.name for m in modules))
    OUT.mkdir(exist_ok=True)
    copy_tree()
    # Stale bytecode of an equal-sized mutant must never stand in for the mutated source.
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(WORK), os.environ.get("PYTHONPATH")])
    )
    os.chdir(WORK)
    own_paths = sorted({t for m in modules for t in m.tests})
    tag = WORK.name.removeprefix("work-")
    own = measure(own_paths, modules, cfg.pytest_args, f"own-{tag}")
    wide = (
        None
        if args.no_recheck
        else measure(cfg.suite, modules, [*cfg.pytest_args, *cfg.suite_args], f"suite-{tag}")
    )
    suite = sorted({*own_paths, *(wide.seconds if wide else ())})
    warm = sorted({t.split("::")[0][:-3].replace("/", ".") for t in suite})
    server = ForkServer(warm)
    results = []
    try:
        for module in modules:
            print(f"{module.path}: against {', '.join(module.tests)}", flush=True)
            results.append(
                mutate_module(module, cfg, own, wide, args.survivors, server, args.sample)
            )
    finally:
        server.close()
    for r in results:
        (OUT / f"{r['module']}.result.json").write_text(json.dumps(r, indent=2), encoding="utf-8")
    # The report covers every module's latest run, so modules can be run one at a time.
    latest = [OUT / f"{name}.result.json" for name in cfg.modules]
    results = [json.loads(path.read_text()) for path in latest if path.exists()]
    text = report(results, cfg)
    (OUT / "report.md").write_text(text, encoding="utf-8")
    (OUT / "report.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(text)
    print(f"(report in {OUT / 'report.md'}; sessions in {OUT}/<module>.sqlite for cr-report)")
    return 1 if any(r["score"] < cfg.min_score for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
