"""The pytest plugin (registered through the `pytest11` entry point): a thin face over the core.

It turns the cases into parametrized checks of the eval tests (those of `llmops.suite`, which a
project's `evals/` imports, and any of the project's own, each marked
`@pytest.mark.llmops_check(KEY)`), asks the target every selected case exactly once per repeat
before any check runs, and writes results.json (plus pytest-html and JUnit defaults) after the run.
Outside an eval run it does nothing but register its options.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import html
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmops import checks, coverage, integrity, results, scrub, stats
from llmops.cases import SEVERITIES, Case, CaseError, LoadResult, cases_digest, load_cases
from llmops.checkitems import (
    CheckItem,
    bypassable,
    forgetter,
    make_items,
    needs_protocol,
    report_fast,
)
from llmops.concurrency import AdaptiveLimit, describe
from llmops.config import Config, find_root, load_config
from llmops.errors import InputError
from llmops.fileio import write_json
from llmops.report import RATE_ROWS, rates_html
from llmops.reportdir import ReportsDir
from llmops.runner import Exchange, RetryPolicy, ask_all
from llmops.shards import Shard, assign
from llmops.targets import make_target, public_target, validate_target
from llmops.textsafe import one_line, printable

SESSION = pytest.StashKey["EvalSession"]()
#: Checks not judged as answers arrive: the LLM judge is batched after asking (`judge_all`),
#: embeddings cost seconds of CPU; their items judge them.
DEFERRED = frozenset({"judge", "similar_to"})
VERDICT = pytest.StashKey[checks.Verdict]()


@dataclass(frozen=True)
class CaseRun:
    """One parameter of an eval test: a case and which repeat of it."""

    case: Case
    repeat: int = 1

    @property
    def key(self) -> tuple[str, int]:
        return (self.case.id, self.repeat)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmops", "llmops evals")
    group.addoption("--target", help="chatbot to evaluate: reference[:VERSION], "
                    "http(s)://HOST/v1, python:module:function or cmd:COMMAND")
    group.addoption("--model", help="model name sent to an OpenAI-compatible target")
    group.addoption("--cases", help="case file or directory (default [tool.llmops] cases)")
    group.addoption("--concurrency", type=int, help="most cases asked at once (default 8; "
                    "the adaptive limit grows up to it, see adaptive_concurrency)")
    group.addoption("--repeat", default="1", metavar="N|MIN:MAX",
                    help="ask every case N times; MIN:MAX asks MIN times, then more (up to MAX) "
                    "only where a check's pass rate is still unsure against its min_pass_rate")
    group.addoption("--timeout", type=float, help="seconds per request (default 30)")
    group.addoption("--retries", type=int, help="retries of transient failures (default 2)")
    group.addoption("--reports", help="directory of report.html, junit.xml, results.json")
    group.addoption("--results", help="path of results.json (default REPORTS/results.json)")
    group.addoption("--feedback", action="store_true", default=None, dest="feedback",
                    help="turn failed checks into feedback records (default: only in CI, and "
                    "only from a run that covered every case)")
    group.addoption("--no-feedback", action="store_false", dest="feedback",
                    help="never turn failed checks into feedback records")
    group.addoption("--shard", metavar="I/N",
                    help="run only shard I of N of the selected cases (a split by case id that "
                    "every machine computes alike); `llmops results merge` joins the N results")


# tryfirst: before pytest-html and junitxml configure themselves, so the defaults take effect.
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "llmops_check(key): an eval test judging the llmops expectation KEY"
    )
    for sev in SEVERITIES:
        config.addinivalue_line("markers", f"{sev}: llmops cases of severity {sev}")
    if not _is_eval_run(config):
        return
    evals = find_root(config.rootpath) / "evals"
    if not evals.is_dir():
        raise pytest.UsageError(
            f"{evals}: no such directory: run `llmops init` to set up llmops in this project "
            "(evals/, starter cases and [tool.llmops])"
        )
    try:
        session = EvalSession(config)
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[SESSION] = session
    if session.shard is not None:
        config.pluginmanager.register(ShardFilter(session), "llmops-shard")
    if config.option.collectonly:
        return  # collecting asks nothing and writes nothing: the last run's evidence stays
    try:
        session.open_reports()
    except InputError as exc:
        raise pytest.UsageError(str(exc)) from exc
    # Reports by default, so `pytest evals/` alone leaves the evidence behind; written beside
    # their final names and published at the end, so an aborted run leaves none half-done.
    opt = config.option
    # Our report.html (llmops.report), unless the user asked pytest-html for one (--html).
    session.html_report = not getattr(opt, "htmlpath", None)
    if not getattr(opt, "xmlpath", None) and session.reports.writable:
        _default_junit(config, str(session.reports.staged("junit.xml")))
        session.staged.append("junit.xml")
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(HtmlColumns(), "llmops-html")


def _default_junit(config: pytest.Config, path: str) -> None:
    """junit.xml by default: llmops' streaming writer (llmops.junit) where it fits this pytest,
    else pytest's own (which then configures itself from `xmlpath`)."""
    if hasattr(config, "workerinput") or not config.pluginmanager.has_plugin("junitxml"):
        return  # an xdist worker, or `-p no:junitxml`: as pytest would, write none
    from llmops import junit

    xml = junit.make(config, path)
    if xml is None:
        config.option.xmlpath = path
        return
    from _pytest.junitxml import xml_key

    config.stash[xml_key] = xml  # where pytest's fixtures and its unconfigure look for it
    config.pluginmanager.register(xml, "llmops-junit")


def pytest_unconfigure(config: pytest.Config) -> None:
    es = _session(config)
    if es is None or es.reports is None:
        return
    try:
        if es.doc is not None and es.written:
            for name in es.staged:
                es.reports.publish(name)
    except OSError as exc:
        es.write_error = es.write_error or f"cannot publish reports: {exc}"
    finally:
        es.reports.close()


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    """The report's Environment table says what was evaluated (pytest-metadata's hook)."""
    es = _session(config)
    if es is not None:
        metadata["llmops target"] = es.target_name
        metadata["llmops cases"] = str(es.cfg.cases)


def _is_eval_run(config: pytest.Config) -> bool:
    """An eval run is one whose arguments point into the project's `evals/` (the project: where
    pyproject.toml is, at or above pytest's rootdir, which is evals/ itself when no pytest
    configuration is found)."""
    evals = (find_root(config.rootpath) / "evals").resolve()
    base = config.invocation_params.dir
    for arg in config.args:
        p = (base / arg.split("::")[0]).resolve()
        if p == evals or evals in p.parents:
            return True
    return False


class EvalSession:
    """Everything one eval run holds: configuration, cases, exchanges and result records."""

    def __init__(self, config: pytest.Config) -> None:
        opt = config.getoption
        cfg = load_config(config.rootpath)
        reports = opt("reports")
        self.cfg: Config = cfg.with_overrides(
            target=opt("target"),
            model=opt("model"),
            cases=opt("cases"),
            concurrency=opt("concurrency"),
            timeout_s=opt("timeout"),
            retries=opt("retries"),
            reports=reports,
        )
        self.explicit_concurrency = opt("concurrency") is not None
        self.defined_dir = cfg.cases  # the commit's cases: what a full run covers
        try:
            validate_target(self.cfg.target, self.cfg.root)
        except InputError as exc:
            raise InputError(f"--target: {exc}") from exc
        self.repeat, self.repeat_max = parse_repeat(str(opt("repeat")))
        self.shard = Shard.parse(opt("shard")) if opt("shard") is not None else None
        #: This shard holds none of the selected cases (more shards than cases).
        self.shard_empty = False
        #: Case id -> its shard, once the split is made (at parametrization when nothing else
        #: selects, else after -k and -m).
        self.shard_home: dict[str, int] | None = None
        if self.repeat_max > 1:
            stats.require()
        self.results_path = self.cfg.resolve(opt("results")) if opt("results") else (
            self.cfg.reports / "results.json"
        )
        #: True: record feedback; False: never; None: only from a full run in CI.
        self.feedback: bool | None = opt("feedback")
        self.reports: ReportsDir | None = None
        self.staged: list[str] = []
        self.html_report = True
        self.written = False
        self.write_error: str | None = None
        self.aborted: str | None = None
        self.deselected = 0
        self.feedback_skipped: str | None = None
        self.pytest_config = config
        from llmops.pii import detector_from_config  # lazily: only eval runs need it
        from llmops.redteam.settings import from_config as redteam_settings

        # The secrets of this run, by value: the environment as it is now, the target's URL.
        scrub.reset()
        scrub.register_url(self.cfg.target)
        from llmops.quality.services import Quality

        detector = detector_from_config(self.cfg)
        self.ctx = checks.Context(
            detector=detector,
            pii_allow=self.cfg.pii_allow,
            redteam=redteam_settings(self.cfg),
            limits=self.cfg.limits,
            quality=Quality.from_config(self.cfg, redact=detector.redact),
        )
        self.target_name = public_target(self.cfg.target)
        self.chatbot_version: str | None = None
        self.concurrency_used = self.cfg.concurrency
        self.limit: AdaptiveLimit | None = None
        #: The configuration's generation settings, when the target takes them.
        self.generation: dict[str, Any] | None = None
        self.started_at = results.now_iso()
        self._loaded: LoadResult | None = None
        self._runs: dict[str, list[tuple[CaseRun, str, list[Any]]]] | None = None
        self._redact: Callable[[str, tuple[str, ...]], str] | None = None
        self.exchanges: dict[tuple[str, int], Exchange] = {}
        #: May settled checks be reported without pytest's protocol (checkitems.bypassable)?
        self.fast = False
        self.forget: Callable[[Any], None] | None = None  # see checkitems.forgetter
        #: Verdicts judged while deciding whether to ask more: (case id, repeat, key) -> Verdict;
        #: the check items report these rather than judge twice.
        self.verdicts: dict[tuple[str, int, str], checks.Verdict] = {}
        #: the report columns a run's checks share (see `properties`)
        self._columns: dict[tuple[str, int], tuple[Exchange | None, list[tuple[str, str]]]] = {}
        #: (case id, check) whose pass rate met a min_pass_rate below 1 -> why: the failing
        #: samples of these report as expected failures (xfail), so pytest's exit status
        #: follows the verdicts.
        self.tolerated: dict[tuple[str, str], str] = {}
        self.records: list[dict[str, Any]] = []
        self.ask_seconds: float | None = None
        self.abandoned = 0
        self.doc: dict[str, Any] | None = None
        self.feedback_added = 0
        self.feedback_error: str | None = None

    @property
    def loaded(self) -> LoadResult:
        if self._loaded is None:
            self._loaded = load_cases(
                [self.cfg.cases],
                max_latency_ms=self.cfg.max_latency_ms,
                root=self.cfg.root,
                limits=self.cfg.limits,
                redact=self.redact,
            )
            if not self.cfg.cases.exists():
                missing = CaseError(str(self.cfg.cases), None, "no such case file or directory")
                self._loaded.errors.append(missing)
                self._loaded.files.append(str(self.cfg.cases))
            tags = {t for c in self._loaded.cases for t in c.tags}
            for tag in sorted({marker_name(t) for t in tags} - set(SEVERITIES)):
                self.pytest_config.addinivalue_line("markers", f"{tag}: llmops case tag")
        return self._loaded

    def runs(self, key: str) -> list[tuple[CaseRun, str, list[Any]]]:
        """Every case run that expects `key`: (run, its id in test names, its markers)."""
        if self._runs is None:
            # Built once for all check keys: ~5 checks a case make this the hot path of
            # collecting thousands of cases.
            self._runs = {}
            for case in self.collected_cases():
                marks: list[Any] = [
                    getattr(pytest.mark, marker_name(t)).mark for t in (*case.tags, case.severity)
                ]
                if case.skip:
                    marks.append(pytest.mark.skip(reason=case.skip).mark)
                runs = [
                    (CaseRun(case, r),
                     f"{case.suite}/{case.id}" + (f"#{r}" if self.repeat_max > 1 else ""), marks)
                    for r in range(1, self.repeat_max + 1)
                ]
                for check_key in case.checks():
                    self._runs.setdefault(check_key, []).extend(runs)
        return self._runs.get(key, [])

    def params(self, key: str) -> list[Any]:
        """The parameters of a test of the project's own that judges `key`."""
        return [pytest.param(run, id=ident, marks=marks) for run, ident, marks in self.runs(key)]

    def collected_cases(self) -> list[Case]:
        """The cases to parametrize: all of them, or with `--shard` and nothing that could leave
        a case out (`-k`, `-m`, `--deselect`, a test id), this shard's only, so a shard collects
        its own part rather than every case (the split is the same either way)."""
        cases = self.loaded.cases
        opt, args = self.pytest_config.option, self.pytest_config.args
        narrowed = (getattr(opt, "keyword", None) or getattr(opt, "markexpr", None)
                    or getattr(opt, "deselect", None) or any("::" in a for a in args))
        if self.shard is None or narrowed:
            return cases
        self.shard_home = assign([c.id for c in cases], self.shard.count)
        return [c for c in cases if self.shard_home[c.id] == self.shard.index]

    @property
    def adaptive(self) -> bool:
        return self.repeat_max > self.repeat

    def threshold(self, case: Case) -> float:
        return case.min_pass_rate if case.min_pass_rate is not None else self.cfg.min_pass_rate

    @property
    def statistical(self) -> bool:
        """More than one sample of a case, or a pass-rate threshold below 1: results get stats."""
        return self.repeat_max > 1 or any(self.threshold(c) < 1 for c in self.loaded.cases)

    def ask(
        self,
        runs: list[CaseRun],
        keys: Mapping[str, set[str]],
        write: Callable[[str], None],
        prejudge: Mapping[str, set[str]] | None = None,
    ) -> None:
        """Ask every selected run once, concurrently, before any check item runs; as each
        answer arrives, judge the checks `prejudge` names for its case (see `judge_arrived`).

        With adaptive repeats (MIN:MAX) the first MIN runs of every case are asked; then, in
        rounds, more runs only of the cases with a check (among `keys`, case id -> selected
        check keys) whose pass rate still straddles its threshold, until it clears or the case
        has had MAX. Each round asks all its cases at once; each run is asked exactly once.
        """
        if not runs:
            return
        policy = RetryPolicy(retries=self.cfg.retries, timeout_s=self.cfg.timeout_s)
        by_case: dict[str, list[CaseRun]] = {}
        for run in sorted(runs, key=lambda r: r.repeat):
            by_case.setdefault(run.case.id, []).append(run)
        first = [r for rs in by_case.values() for r in rs[: self.repeat]] if self.adaptive else runs

        async def main() -> None:
            try:
                cfg = self.cfg
                target = make_target(
                    cfg.target,
                    model=cfg.model,
                    api_key=cfg.api_key,
                    root=cfg.root,
                    limits=cfg.limits,
                    generation=cfg.generation,
                )
            except InputError as exc:
                raise pytest.UsageError(str(exc)) from exc
            self.target_name = target.name
            conc = self.cfg.concurrency
            if target.preferred_concurrency and not self.explicit_concurrency:
                # the target knows its ceiling better (a command per core, a model's instances)
                conc = min(conc, target.preferred_concurrency)
            self.concurrency_used = conc
            limit = self.limit = AdaptiveLimit(conc, adaptive=cfg.adaptive_concurrency)
            if target.accepts_generation:
                self.generation = cfg.generation.record()
            elif any(r.case.generation for r in runs):
                write(f"llmops: generation settings of cases are not sent to "
                      f"{one_line(target.name)} (only OpenAI-compatible targets take them)")

            runs_by_key = {r.key: r for r in runs}

            def arrived(key: Any, ex: Exchange) -> None:
                self.judge_arrived(runs_by_key[key], ex, (prejudge or {}).get(key[0], ()))

            async def ask_runs(batch: list[CaseRun]) -> None:
                got = await ask_all(
                    target, [(r.key, list(r.case.messages)) for r in batch],
                    concurrency=conc, policy=policy, limit=limit, on_done=arrived,
                    generation={r.key: cfg.generation.merged(r.case.generation) for r in batch},
                )
                self.exchanges.update(got)  # type: ignore[arg-type]

            mode = "adaptive, up to" if limit.adaptive else "fixed at"
            write(f"llmops: asking {len(first)} case run(s) of {one_line(target.name)} "
                  f"(concurrency {mode} {conc}, timeout {self.cfg.timeout_s:g} s)")
            try:
                await ask_runs(first)
                asked = {cid: min(len(rs), self.repeat) for cid, rs in by_case.items()}
                while self.adaptive:
                    batch = self._more(by_case, asked, keys)
                    if not batch:
                        break
                    write(f"llmops: asking {len(batch)} more run(s) of "
                          f"{len({r.case.id for r in batch})} case(s) whose pass rate is unsure")
                    await ask_runs(batch)
            finally:
                self.abandoned = target.abandoned
                await target.aclose()
            self.chatbot_version = target.chatbot_version

        start = time.perf_counter()
        asyncio.run(main())
        self.ask_seconds = time.perf_counter() - start
        failed = sum(1 for e in self.exchanges.values() if not e.ok)
        write(f"llmops: asked in {self.ask_seconds:.2f} s"
              + (f"; {failed} failed to answer" if failed else ""))
        if self.abandoned:
            write(self.abandoned_note())
        if self.adaptive:
            fixed = sum(len(rs) for rs in by_case.values())
            write(f"llmops: adaptive repeats {self.repeat}:{self.repeat_max} asked "
                  f"{len(self.exchanges)} run(s) where fixed repeats would ask {fixed}")

    def enter_check(self, node: pytest.Item, run: CaseRun, key: str) -> Exchange:
        """The set-up of a check: its report columns; fails (an error of the check) when the
        case was not asked or its target failed to answer."""
        ex = self.exchanges.get(run.key)
        node.user_properties.extend(self.properties(run, key, ex))
        failure = self.exchange_failure(run, ex)
        if failure is not None:
            pytest.fail(failure, pytrace=False)
        assert ex is not None
        return ex

    def run_check(self, node: pytest.Item, run: CaseRun, key: str) -> None:
        """The call of a check: its verdict (judged as the answer arrived, or now)."""
        ex = self.exchanges[run.key]
        verdict = self.verdicts.get((run.case.id, run.repeat, key))
        if verdict is None:
            verdict = checks.judge(key, run.case, ex, self.ctx)
        node.stash[VERDICT] = verdict
        if not verdict.passed:
            pytest.fail(self.verdict_failure(run, key, ex, verdict), pytrace=False)

    def properties(self, run: CaseRun, key: str, ex: Exchange | None) -> list[tuple[str, str]]:
        """The report columns of a check (user properties: JUnit, pytest-html)."""
        shared = self._columns.get(run.key)
        if shared is None or shared[0] is not ex:
            # what every check of this run shows alike, made once (a 10,000-case run has
            # 50,000 checks)
            cols = [("case", run.case.location)]
            if ex is not None:
                latency = f"{ex.latency_ms:.0f}" if ex.latency_ms is not None else ""
                cols.append(("latency_ms", latency))
                cols.append(("response",
                             results.excerpt(ex.response, self.redactor(ex), 160) or ""))
            shared = self._columns[run.key] = (ex, cols)
        cols = shared[1]
        return [cols[0], ("check", key), *cols[1:]]

    def exchange_failure(self, run: CaseRun, ex: Exchange | None) -> str | None:
        case = run.case
        if ex is None:
            return f"{case.location}: case {case.id!r} was not asked"
        if ex.ok:
            return None
        return printable(
            f"{case.location} {case.suite}/{case.id}: the target failed ({ex.error_type}) "
            f"after {ex.attempts} attempt(s): {self.redactor(ex)(ex.error or '')}"
        )

    def verdict_failure(self, run: CaseRun, key: str, ex: Exchange,
                        verdict: checks.Verdict) -> str:
        case = run.case
        redact = self.redactor(ex)
        got = results.excerpt(ex.response, redact) or ""
        latency = f"{ex.latency_ms:.0f} ms" if ex.latency_ms is not None else "no latency"
        # The expected strings of a privacy case may hold the very PII it probes: redact.
        return printable(
            f"{case.location} {case.suite}/{case.id} [{key}]: {redact(verdict.message)}\n"
            f"  got ({latency}, redacted): {got!r}"
        )

    def known_outcome(self, item: CheckItem) -> tuple[str | None, str | None] | None:
        """(phase that fails or None, message) of a check item whose outcome is settled without
        running anything: its exchange failed, or its verdict is judged. None: not yet."""
        run, key = item.run, item.key
        ex = self.exchanges.get(run.key)
        failure = self.exchange_failure(run, ex)
        if failure is not None:
            item.user_properties.extend(self.properties(run, key, ex))
            return "setup", failure
        assert ex is not None
        verdict = self.verdicts.get((run.case.id, run.repeat, key))
        if verdict is None:
            return None
        item.user_properties.extend(self.properties(run, key, ex))
        if verdict.passed:
            return None, None
        return "call", self.verdict_failure(run, key, ex, verdict)

    def judge_arrived(self, run: CaseRun, ex: Exchange, keys: Iterable[str]) -> None:
        """Judge the checks of an answer as it arrives, in the event loop while the other
        requests are in flight, so that when the last answer lands the check items have only
        their verdicts to report. One answer's checks at a time (~0.1-0.5 ms): the loop is never
        held longer than that, and a request's latency is timed around its target call alone.
        Its texts are redacted now too, for the records and reports (the redaction is memoized).
        The LLM judge (batched after asking) and embeddings (seconds of CPU) are left to their
        items, as is a check that raises (its item judges again and reports the exception)."""
        self.prepare(ex)
        if not ex.ok:
            return
        for key in keys:
            if key in DEFERRED:
                continue
            slot = (run.case.id, run.repeat, key)
            if slot in self.verdicts:
                continue
            try:
                self.verdicts[slot] = checks.judge(key, run.case, ex, self.ctx)
            except Exception:  # reported by its item, with the traceback
                continue

    def prepare(self, ex: Exchange) -> None:
        """Redact what the records and reports of this exchange will show (memoized)."""
        redact = self.redactor(ex)
        for m in ex.messages:
            if isinstance(m.get("content"), str):
                redact(m["content"])
        for text in (ex.response, ex.error):
            if text is not None:
                redact(text)

    def abandoned_note(self) -> str:
        return (f"llmops: {self.abandoned} timed-out call(s) of {one_line(self.target_name)} "
                "could not be stopped and were abandoned (their threads were left running; the "
                "run did not wait for them)")

    def tolerate(self, keys: Mapping[str, set[str]]) -> None:
        """After asking: note the checks whose samples met a min_pass_rate below 1."""
        asked: dict[str, list[int]] = {}
        for cid, repeat in self.exchanges:
            asked.setdefault(cid, []).append(repeat)
        for case in self.loaded.cases:
            t = self.threshold(case)
            if case.id not in asked or t >= 1:
                continue
            runs = [CaseRun(case, r) for r in asked[case.id]]
            n = len(runs)
            errors = sum(not self.exchanges[r.key].ok for r in runs)
            for key in keys.get(case.id, ()):
                passed = self._passes(runs, key)
                if passed < n and stats.verdict(passed, n - passed - errors, errors, t) == "passed":
                    low, high = stats.wilson(passed, n)
                    self.tolerated[(case.id, key)] = (
                        f"tolerated by min_pass_rate {t:g}: {passed}/{n} passed, 95% interval "
                        f"[{stats.pct(low)}, {stats.pct(high)}]"
                    )

    def _more(
        self,
        by_case: Mapping[str, list[CaseRun]],
        asked: dict[str, int],
        keys: Mapping[str, set[str]],
    ) -> list[CaseRun]:
        """The next round of adaptive repeats: half as many runs again (at least one) of every
        case that can have more and has a check whose interval straddles its threshold."""
        batch: list[CaseRun] = []
        for cid, case_runs in by_case.items():
            n = asked[cid]
            case = case_runs[0].case
            if n >= len(case_runs) or not any(
                stats.needs_more(self._passes(case_runs[:n], key), n, self.threshold(case))
                for key in sorted(keys.get(cid, ()))
            ):
                continue
            more = min(len(case_runs), n + max(1, (n + 1) // 2))
            batch.extend(case_runs[n:more])
            asked[cid] = more
        return batch

    def _passes(self, runs: list[CaseRun], key: str) -> int:
        """How many of these runs pass check `key`; judged once, kept for the check items."""
        passed = 0
        for run in runs:
            ex = self.exchanges.get(run.key)
            if ex is None or not ex.ok:
                continue
            slot = (run.case.id, run.repeat, key)
            verdict = self.verdicts.get(slot)
            if verdict is None:
                try:
                    verdict = checks.judge(key, run.case, ex, self.ctx)
                except Exception:  # the check item judges again and reports the exception
                    continue
                self.verdicts[slot] = verdict
            passed += verdict.passed
        return passed

    def judge_all(self, runs: list[CaseRun], write: Callable[[str], None]) -> None:
        """Grade every judged answer at once, concurrently (the checks then read the verdicts);
        cached verdicts cost no call."""
        jobs = [(r.case.expect["judge"], r.case.messages, ex.response or "")
                for r in runs if (ex := self.exchanges.get(r.key)) is not None and ex.ok]
        if not jobs:
            return
        quality = self.ctx.quality_services()
        write(f"llmops: judging {len(jobs)} answer(s) with {quality.judge.name}")
        try:
            quality.prepare_judge(jobs)
        except InputError as exc:  # each judge check reports it as its error
            write(f"llmops: no judge: {exc}")
            return
        st = quality.judge.stats
        write(f"llmops: judged in {st.seconds:.2f} s: {st.calls} call(s), {st.cached} cached"
              + (f", {st.errors} without a verdict" if st.errors else ""))

    def redact(self, text: str, context: tuple[str, ...] = ()) -> str:
        """Redact with this run's allowlist, and scrub the run's secrets by value; memoized,
        as every check of a case redacts the same prompt and response. `context`: the
        conversation's messages, whose values are redacted in `text` too (an answer that
        echoes the user's account number)."""
        if self._redact is None:
            detector = self.ctx.detector

            def clean(t: str, ctx: tuple[str, ...]) -> str:
                return scrub.text(detector.redact(t, ctx))

            # Unbounded for the run: every check of a case redacts the same texts, and a bounded
            # cache thrashed past 4,000 cases (each text was redacted again for each check).
            self._redact = functools.lru_cache(maxsize=None)(clean)
        return self._redact(text, context)

    def redactor(self, ex: Exchange | None) -> Callable[[str], str]:
        """`redact` with the conversation of `ex` as context, for everything about it."""
        if ex is None:
            return self.redact
        conversation = checks.conversation(ex)
        return lambda text: self.redact(text, conversation)

    def add(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)

    def redteam_summary(self) -> dict[str, Any] | None:
        """Probes resisted by OWASP category and strategy (None: no red-team case ran)."""
        from llmops.redteam.report import summarize

        return summarize(self.records)

    def gate_preview(self, doc: dict[str, Any]) -> Any:
        """The gate's decision on these results under [tool.llmops.gate] (no baseline), shown in
        the report; None when the policy does not parse (`llmops gate` says why)."""
        from llmops import gate

        try:
            return gate.evaluate(doc, gate.Policy.from_table(self.cfg.gate))
        except InputError:
            return None

    def open_reports(self) -> None:
        """Lock the reports directory and clear the last run's evidence (see llmops.reportdir)."""
        self.reports = ReportsDir(self.cfg.reports, self.results_path)
        self.reports.open(self.started_at)

    def selection(self) -> dict[str, Any]:
        opt = self.pytest_config.option
        cases = None
        if self.cfg.cases.resolve() != self.defined_dir.resolve():
            cases = _display(self.cfg.cases, self.cfg.root)
        return {
            "keyword": getattr(opt, "keyword", None) or None,
            "markers": getattr(opt, "markexpr", None) or None,
            "cases": cases,
            "shard": self.shard.as_dict() if self.shard else None,
            "deselected": self.deselected,
        }

    def coverage(self) -> dict[str, Any]:
        """What this run covered of the cases defined at the commit (the configured directory,
        whatever --cases said)."""
        if self.cfg.cases.resolve() == self.defined_dir.resolve():
            defined = self.loaded.cases
        else:
            defined = load_cases([self.defined_dir], max_latency_ms=self.cfg.max_latency_ms,
                                 root=self.cfg.root).cases
        cov = coverage.record(defined, cases_dir=_display(self.defined_dir, self.cfg.root),
                              selected=0, complete=False)
        doc = {"run": {"coverage": cov}, "results": self.records}
        got = coverage.assess(doc)
        cov["selected"] = len({r["case_id"] for r in self.records
                               if r["check"] not in coverage.FILE_CHECKS})
        cov["complete"] = got.complete
        return cov

    def finish(self) -> dict[str, Any] | None:
        if not self.records and not self.shard_empty:
            return None
        versions_dir = self.cfg.chatbot.get("versions_dir") or "chatbot_versions"
        statistical = self.statistical
        doc = results.document(
            self.records,
            started_at=self.started_at,
            target=self.target_name,
            chatbot_version=self.chatbot_version,
            cases_digest=cases_digest(self.loaded.cases),
            root=self.cfg.root,
            repeat=self.repeat,
            repeat_max=self.repeat_max if self.adaptive else None,
            concurrency=self.concurrency_used,
            case_file_errors=[str(e) for e in self.loaded.errors],
            selection=self.selection(),
            coverage=self.coverage(),
            inputs=[self.defined_dir, self.cfg.cases, self.cfg.resolve(versions_dir)],
            thresholds={c.id: self.threshold(c) for c in self.loaded.cases},
            statistical=statistical,
        )
        quality = self.ctx.quality
        if quality is not None and quality.judge_used:
            doc["summary"]["judge"] = {"name": quality.judge.name,
                                       **quality.judge.stats.as_dict()}
        redteam = self.redteam_summary()
        if redteam is not None:
            doc["redteam"] = redteam
        if self.abandoned:
            doc["run"]["abandoned"] = self.abandoned
        if self.limit is not None:
            doc["run"]["concurrency_control"] = self.limit.report()
        if self.generation is not None:
            doc["run"]["generation"] = self.generation
        # Every string, whatever field it sits in, loses the run's secrets before it is written.
        exchanges, index = results.exchanges(self.exchanges, self.redactor)
        for rec in doc["results"]:
            rec["exchange"] = index.get((rec["case_id"], rec.get("repeat") or 1))
        doc["exchanges"] = exchanges
        doc = scrub.deep_in_place(doc)  # built here: scrubbed where it lies, not copied
        key = integrity.results_key()
        if key is not None:
            integrity.sign(doc, key)
        return doc

    def write(self, doc: dict[str, Any]) -> None:
        """results.json, last of the set: once it is there, the run's evidence is complete."""
        if self.reports is not None and self.reports.error and (
                self.results_path.parent.resolve() == self.cfg.reports.resolve()):
            self.write_error = self.reports.error
            return
        try:
            if self.reports is not None and self.reports.writable and self.html_report:
                from llmops import report
                from llmops.fileio import write_atomic

                write_atomic(self.reports.staged("report.html"),
                             report.pieces(doc, self.gate_preview(doc)))
                self.staged.append("report.html")
            write_json(self.results_path, doc)
        except OSError as exc:
            self.write_error = f"{self.results_path}: cannot write results: {exc.strerror or exc}"
            return
        self.written = True


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def marker_name(tag: str) -> str:
    """The pytest marker of a case tag: a namespaced tag such as `owasp:LLM01` or
    `plugin:direct-injection` is selected as `-m owasp_LLM01` / `-m plugin_direct_injection`."""
    return tag.replace(":", "_").replace("-", "_").replace(".", "_")


#: The most samples `--repeat` may ask of one case.
MAX_REPEAT = 1000


def parse_repeat(text: str) -> tuple[int, int]:
    """`N` (fixed) or `MIN:MAX` (adaptive) -> (MIN, MAX); a bad value is a usage error."""
    parts = text.strip().split(":")
    try:
        low, high = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (0, 0)
    except ValueError:
        low = high = 0
    if not 1 <= low <= high <= MAX_REPEAT:
        raise InputError(
            f"--repeat: expected N or MIN:MAX with 1 <= MIN <= MAX <= {MAX_REPEAT}, got {text!r}"
        )
    return low, high


def _session(config: pytest.Config) -> EvalSession | None:
    return config.stash.get(SESSION, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = _session(metafunc.config)
    if "llmops_case" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("llmops_check")
        if marker is None or not marker.args or marker.args[0] not in checks.CHECKS:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: mark it @pytest.mark.llmops_check(KEY) with KEY "
                f"one of {sorted(checks.CHECKS)}"
            )
        metafunc.parametrize("llmops_case", session.params(marker.args[0]) if session else [])
    if "llmops_case_file" in metafunc.fixturenames:
        files = session.loaded.errors_by_file() if session else {}
        metafunc.parametrize(
            "llmops_case_file",
            [pytest.param((f, [str(e) for e in errs]), id=f) for f, errs in files.items()],
        )


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    """Loading the cases and making their items allocates ~30 objects a check, none of them
    garbage: with the cyclic garbage collector on, its full passes over a growing heap took
    about a third of collecting 10,000 cases. Off while collecting; then what was collected is
    frozen (`gc.freeze`), so the collector's later passes, and pytest's two at exit, skip it."""
    if _session(session.config) is None:
        return (yield)
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()
        gc.freeze()


def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: Any
) -> list[CheckItem] | None:
    """The packaged check tests (`llmops.suite`) become one CheckItem per case run."""
    es = _session(collector.config)
    if es is None or getattr(obj, "__module__", None) != "llmops.suite":
        return None
    if not collector.istestfunction(obj, name):
        return None
    key = next((m.args[0] for m in getattr(obj, "pytestmark", ())
                if m.name == "llmops_check" and m.args), None)
    if key is None:
        return None
    return make_items(collector, name, obj, key, es.runs(key))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Checks no selected case asks for parametrize to an empty set: drop them rather than
    # report a skip per unused check.
    items[:] = [
        i for i in items
        if not (hasattr(i, "callspec") and "llmops_case" in i.callspec.params
                and not isinstance(i.callspec.params["llmops_case"], CaseRun))
    ]
    # A key the project judges with a test of its own is not judged again by llmops.suite's.
    own = {k for i in items if (k := _check_key(i)) and not _packaged(i)}
    if own:
        items[:] = [i for i in items if not (_packaged(i) and _check_key(i) in own)]


def _check_key(item: pytest.Item) -> str | None:
    if isinstance(item, CheckItem):
        return item.key
    marker = item.get_closest_marker("llmops_check")
    return marker.args[0] if marker and marker.args else None


def _packaged(item: pytest.Item) -> bool:
    if isinstance(item, CheckItem):
        return True
    return getattr(getattr(item, "function", None), "__module__", None) == "llmops.suite"


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        es = _session(items[0].config)
        if es is not None:
            es.deselected += sum(1 for i in items if _run_of(i) is not None)


def pytest_collection_finish(session: pytest.Session) -> None:
    es = _session(session.config)
    if es is None or session.config.option.collectonly:
        return
    if es.shard_empty:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            f"llmops: shard {es.shard} holds none of the selected cases (there are more shards "
            "than cases): its results hold no check")
    elif not any(_run_of(i) is not None or _is_case_file_item(i) for i in session.items):
        sel = _selection_text(es.selection())
        raise pytest.UsageError(
            f"llmops: no case selected from {_display(es.cfg.cases, es.cfg.root)}"
            + (f" with {sel}" if sel else "")
            + ": nothing was asked and no results were written (the last run's results were "
            "removed, so the gate fails closed)"
        )
    if es.statistical:
        try:
            stats.require()  # min_pass_rate below 1 needs scipy, and says so before asking
        except InputError as exc:
            raise pytest.UsageError(str(exc)) from exc


def _is_case_file_item(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    # An empty parametrization leaves one "NOTSET" item behind: not a case file.
    return bool(callspec and isinstance(callspec.params.get("llmops_case_file"), tuple))


def _selection_text(selection: dict[str, Any]) -> str:
    from llmops.gate import _selection

    return _selection(selection)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    es = _session(session.config)
    if es and not session.config.option.collectonly and not session.testsfailed:
        runs: dict[tuple[str, int], CaseRun] = {}
        keys: dict[str, set[str]] = {}
        packaged: dict[str, set[str]] = {}
        judged: dict[tuple[str, int], CaseRun] = {}
        for item in session.items:
            run = _run_of(item)
            if run and not run.case.skip:
                key = _key_of(item)
                runs.setdefault(run.key, run)
                keys.setdefault(run.case.id, set()).add(key)
                if isinstance(item, CheckItem):
                    packaged.setdefault(run.case.id, set()).add(key)
                if key == "judge":
                    judged.setdefault(run.key, run)
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        write = tr.write_line if tr else print
        es.ask(list(runs.values()), keys, write, prejudge=packaged)
        es.fast = bypassable(session.config)
        es.forget = forgetter(session.config)
        if es.adaptive:
            _drop_unasked(session, es, write)
        es.judge_all(list(judged.values()), write)
        es.tolerate(keys)
    return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """A check whose outcome is settled is reported without pytest's protocol (see
    llmops.checkitems); anything else runs the usual way."""
    if not isinstance(item, CheckItem):
        return None
    es = _session(item.config)
    if es is None or not es.fast or item.run.case.skip or needs_protocol(item, nextitem):
        return None
    outcome = es.known_outcome(item)
    if outcome is None:
        return None
    report_fast(item, *outcome, finish=functools.partial(_finish_report, es, item, item.run),
                forget=es.forget)
    return True


def _drop_unasked(session: pytest.Session, es: EvalSession, write: Callable[[str], None]) -> None:
    """Adaptive repeats collect a check item for every possible run (MIN:MAX); those of runs
    never asked are deselected, as `-k` would (a skipped case keeps its first MIN)."""
    def unasked(item: pytest.Item) -> bool:
        run = _run_of(item)
        if run is None:
            return False
        if run.case.skip:
            return run.repeat > es.repeat
        return run.key not in es.exchanges

    dropped = [i for i in session.items if unasked(i)]
    if dropped:
        gone = set(map(id, dropped))
        session.items[:] = [i for i in session.items if id(i) not in gone]
        session.testscollected = len(session.items)
        session.config.hook.pytest_deselected(items=dropped)
        es.deselected -= len(dropped)  # samples not needed, not cases the user selected out
        write(f"llmops: {len(dropped)} check(s) of runs adaptive repeats did not need: deselected")


class ShardFilter:
    """`--shard I/N`: keeps the checks of the cases shard I holds (registered only then).

    trylast: after `-k` and `-m` have deselected, so the split is of the selected cases, and
    every shard, computing the same split, asks a disjoint part of them."""

    def __init__(self, es: EvalSession) -> None:
        self.es = es

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        shard = self.es.shard
        assert shard is not None
        if self.es.shard_home is None:
            self.es.shard_home = assign(
                {run.case.id for i in items if (run := _run_of(i)) is not None}, shard.count)
        home = self.es.shard_home
        # A case's runs go where its id goes; what is not a case run (case-file errors, a test
        # of the project's own without a case) runs once, in shard 1.
        keep, dropped = [], []
        for item in items:
            run = _run_of(item)
            mine = home[run.case.id] == shard.index if run is not None else shard.index == 1
            (keep if mine else dropped).append(item)
        # More shards than cases: this one holds none, and writes results that say so (the
        # merge needs every shard), rather than fail a CI matrix sized for a larger suite.
        self.es.shard_empty = bool(home) and not any(_run_of(i) is not None for i in keep)
        if dropped:
            items[:] = keep
            config.hook.pytest_deselected(items=dropped)
            # Other shards' cases, not cases the user selected out: the selection's count
            # stays the one an unsharded run records.
            self.es.deselected -= sum(1 for i in dropped if _run_of(i) is not None)


def _key_of(item: pytest.Item) -> str:
    if isinstance(item, CheckItem):
        return item.key
    return item.get_closest_marker("llmops_check").args[0]


def _run_of(item: pytest.Item) -> CaseRun | None:
    if isinstance(item, CheckItem):
        return item.run
    callspec = getattr(item, "callspec", None)
    run = callspec.params.get("llmops_case") if callspec else None
    return run if isinstance(run, CaseRun) else None


@pytest.fixture
def llmops_session(request: pytest.FixtureRequest) -> EvalSession:
    es = _session(request.config)
    if es is None:
        pytest.skip("not an llmops eval run (run `pytest evals/`)")
    return es


def _exchange(request: pytest.FixtureRequest, run: CaseRun) -> tuple[EvalSession, Exchange]:
    """The one exchange of this case run (every check of the case judges this same exchange);
    a failed exchange makes the check an error, with its classified cause."""
    es = _session(request.config)
    if es is None:
        pytest.skip("not an llmops eval run (run `pytest evals/`)")
    return es, es.enter_check(request.node, run, _key_of(request.node))


@pytest.fixture
def llmops_exchange(request: pytest.FixtureRequest, llmops_case: CaseRun) -> Exchange:
    """The exchange of this case run, for eval tests of your own."""
    return _exchange(request, llmops_case)[1]


@pytest.fixture
def check(request: pytest.FixtureRequest, llmops_case: CaseRun) -> Callable[[], None]:
    """Judge this test's expectation on the case's exchange; fail with a readable message.
    (One fixture, not three: fixture set-up is most of pytest's cost per check.)"""
    es, _ = _exchange(request, llmops_case)
    return functools.partial(es.run_check, request.node, llmops_case, _key_of(request.node))


@pytest.fixture
def case_file_errors(llmops_case_file: tuple[str, list[str]]) -> list[str]:
    return [printable(e) for e in llmops_case_file[1]]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    es = _session(item.config)
    if es is None:
        return report
    run = _run_of(item)
    if run is not None:
        _finish_report(es, item, run, report)
    else:
        _neutralise(report)
    if run is None and call.when == "call" and report.failed and hasattr(item, "callspec"):
        file_and_errors = item.callspec.params.get("llmops_case_file")
        if file_and_errors:
            for message in file_and_errors[1]:
                es.add(results.file_error_record(file_and_errors[0], None, message))
    return report


def _finish_report(es: EvalSession, item: pytest.Item, run: CaseRun, report: Any) -> None:
    """What llmops does with each report of a check, whichever protocol made it: scrub its
    text, record it, and show a failure tolerated by min_pass_rate as an expected one."""
    _neutralise(report)
    _record_check(es, item, run, report)
    if report.when == "call" and report.failed:
        why = es.tolerated.get((run.case.id, _key_of(item)))
        if why:  # the record keeps the failure; pytest shows it as an expected one
            report.outcome = "skipped"
            report.wasxfail = why


def _neutralise(report: Any) -> None:
    """The last line of defence for what an eval run prints and puts in junit.xml and
    report.html: a failure's text (from a check of ours or a test of the user's) with a
    configured secret or a control character in it is replaced by its scrubbed, printable
    form. (Our own messages are built clean; this catches an exception's text.)"""
    if not report.failed or report.longrepr is None:
        return
    text = str(report.longrepr)
    clean = scrub.text(printable(text))
    if clean != text:
        report.longrepr = clean


def _record_check(es: EvalSession, item: pytest.Item, run: CaseRun, report: Any) -> None:
    if report.when == "setup" and report.passed:
        return
    if report.when == "teardown":
        return
    key = _key_of(item)
    ex = es.exchanges.get(run.key)
    verdict = None
    if report.when == "setup":
        outcome = "skipped" if report.skipped else "error"
        message = _reason(report)
    else:
        outcome = "skipped" if report.skipped else "passed" if report.passed else "failed"
        verdict = item.stash.get(VERDICT, None)
        if verdict is None:
            # judged as the answer arrived; its record is the last use of it
            verdict = es.verdicts.pop((run.case.id, run.repeat, key), None)
        if verdict is not None and verdict.error:
            outcome = "error"
        message = verdict.message if verdict else _reason(report)
    es.add(results.record(
        run.case, key, outcome, redact=es.redactor(ex), message=message, exchange=ex,
        verdict=verdict, repeat=run.repeat,
    ))


def _reason(report: Any) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    return str(getattr(report, "longreprtext", "") or "")[:500]


# tryfirst: results (and their stats) exist before pytest-html writes its report.
@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    es = _session(session.config)
    if es is None or session.config.option.collectonly:
        return
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        # An interrupted run covered part of the cases at best: no results, nothing to gate.
        es.aborted = "the run was interrupted"
        return
    doc = es.doc = es.finish()
    if doc is None:
        return
    if es.shard_empty and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK  # an empty shard is a shard, not a mistake
    es.write(doc)
    if es.write_error and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # no evidence is no pass
    want = es.feedback
    if want is None:
        if not doc["run"]["coverage"]["complete"]:
            es.feedback_skipped = "a partial run"
        elif not _in_ci():
            es.feedback_skipped = "not in CI"
        else:
            want = True
    if want:
        _feedback_from(es, doc)


def _in_ci() -> bool:
    """CI systems (GitHub Actions, GitLab, CircleCI, Travis, Buildkite, ...) set CI."""
    import os

    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _feedback_from(es: EvalSession, doc: dict[str, Any]) -> None:
    """Failed checks become feedback records (source: eval); never fail the run over it."""
    from llmops.feedback import from_results

    try:
        es.feedback_added = from_results(doc, es.cfg.feedback, redact=es.redact)
    except Exception as exc:  # feedback is a by-product: report, don't break the run
        es.feedback_error = f"{type(exc).__name__}: {exc}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    es = _session(terminalreporter.config)
    doc = es.doc if es else None
    if es and es.reports and es.reports.error and not doc:
        terminalreporter.write_line(f"llmops: {es.reports.error}", red=True)
    if not es or not doc:
        return
    s = doc["summary"]
    tr = terminalreporter
    tr.write_sep("=", "llmops summary")
    width = max([len(x) for x in s["suites"]] + [5])
    tr.write_line(f"{'suite':<{width}}  checks  passed  failed  errors  pass rate")
    for name, g in s["suites"].items():
        tr.write_line(
            f"{one_line(name):<{width}}  {g['checks']:>6}  {g['passed']:>6}  {g['failed']:>6}  "
            f"{g['errors']:>6}  {g['pass_rate']:>8.1%}"
        )
    lat = s["latency_ms"]
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    tr.write_line(
        f"{'all':<{width}}  {s['checks']:>6}  {s['passed']:>6}  {s['failed']:>6}  "
        f"{s['errors']:>6}  {s['pass_rate']:>8.1%}"
    )
    tr.write_line(
        f"cases {s['cases']} | latency ms p50 {fmt(lat['p50'])} p95 {fmt(lat['p95'])} "
        f"p99 {fmt(lat['p99'])} max {fmt(lat['max'])} | target {one_line(doc['run']['target'])}"
    )
    conc = doc["run"].get("concurrency_control")
    if conc:
        tr.write_line(f"concurrency: {describe(conc)}",
                      yellow=conc.get("bottleneck") == "target")
    if "stats" in doc:
        _write_rates(tr, doc)
    if doc.get("redteam"):
        from llmops.redteam.report import lines

        tr.write_sep("-", "llmops red team: probes resisted")
        for line in lines(doc["redteam"]):
            tr.write_line(line)
    judge = s.get("judge")
    if judge:
        tokens = judge["prompt_tokens"] + judge["completion_tokens"]
        tr.write_line(
            f"judge {judge['name']}: {judge['verdicts']} verdict(s), {judge['calls']} call(s), "
            f"{judge['cached']} cached, {judge['errors']} error(s)"
            + (f", {tokens} tokens" if tokens else "") + f", {judge['seconds']:.1f} s"
        )
    if es.write_error:
        tr.write_line(f"llmops: results NOT written: {es.write_error}", red=True, bold=True)
    else:
        tr.write_line(f"results: {es.results_path}")
    cov = doc["run"]["coverage"]
    if not cov["complete"]:
        sel = _selection_text(doc["run"]["selection"])
        tr.write_line(
            f"coverage: partial ({cov['selected']} of {cov['defined']} cases defined in "
            f"{cov['cases_dir']}" + (f", selected with {sel}" if sel else "")
            + "): the gate blocks it unless [tool.llmops.gate] allow_subsets names it",
            yellow=True,
        )
    if es.feedback_skipped and (s["failed"] or s["errors"]):
        tr.write_line(f"feedback: not recorded ({es.feedback_skipped}; --feedback to record)")
    if es.feedback_added:
        tr.write_line(f"feedback: {es.feedback_added} new record(s) in {es.cfg.feedback}")
    if es.abandoned:
        tr.write_line(es.abandoned_note(), yellow=True)
    if es.feedback_error:
        tr.write_line(f"feedback: not written: {one_line(es.feedback_error)}", yellow=True)




def _write_rates(tr: Any, doc: dict[str, Any]) -> None:
    """Rates with their 95% intervals: the checks not passed, then the flaky ones."""
    run = doc["run"]
    repeats = f"{run['repeat']}:{run['repeat_max']}" if run.get("repeat_max") else run["repeat"]
    tr.write_line(f"repeats {repeats}, {run.get('requests', '?')} sample(s) asked | "
                  + stats.summary_text(doc["summary"]))
    rows = stats.notable(doc["stats"])
    if not rows:
        return
    tr.write_line("pass rates [95% interval] of checks not passed or flaky:")
    for r in rows[:RATE_ROWS]:
        flaky = " flaky" if r["flaky"] else ""
        tr.write_line(
            f"  {r['verdict']:<9} {stats.rate_text(r):<24} min {stats.pct(r['min_pass_rate']):>4}"
            f"  {r['case_id']} [{r['check']}]{flaky}",
            red=r["verdict"] != "passed", yellow=r["verdict"] == "passed",
        )
    if len(rows) > RATE_ROWS:
        tr.write_line(f"  ... and {len(rows) - RATE_ROWS} more in results.json")


class HtmlColumns:
    """pytest-html 4 columns: case (file:line), check, latency and the redacted excerpt."""

    COLUMNS = (("case", "Case"), ("check", "Check"), ("latency_ms", "Latency ms"),
               ("response", "Response (redacted)"))

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        for i, (_, title) in enumerate(self.COLUMNS):
            cells.insert(2 + i, f"<th>{title}</th>")

    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        props = dict(report.user_properties)
        for i, (key, _) in enumerate(self.COLUMNS):
            cells.insert(2 + i, f"<td>{html.escape(str(props.get(key, '')))}</td>")

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: pytest.Session) -> None:
        """The pass rates of a run with repeats above the results, the red-team tables below
        (computed from the records collected so far: all of them)."""
        es = _session(session.config)
        if es is not None and es.doc and "stats" in es.doc:  # (our sessionfinish runs first)
            prefix.append(rates_html(es.doc))
        table = es.redteam_summary() if es else None
        if table:
            from llmops.redteam.report import html_tables

            postfix.append(html_tables(table))

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "llmops evals"


