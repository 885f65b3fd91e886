"""The packaged checks as pytest items of llmops' own: one item per expectation of each case run,
named and marked as a parametrized test would be (`test_no_pii[suite/case-id]`, the case's tags
and severity as markers), so `-k`, `-m`, node ids, JUnit and the HTML report see the same checks.

Why not `metafunc.parametrize`: a parametrized pytest Function costs ~30 us to collect and
~1 ms to run and report (fixture set-up and tear-down, output capture and log capture around
each of its three phases): 10,000 cases (50,000 checks) took 8 s to collect, and every check
~1 ms after the last answer. The verdicts are judged while the answers arrive
(`EvalSession.ask`), so an item has nothing left to do but report: `report_fast` makes its
setup, call and teardown reports and hands them to the same hooks pytest's own protocol calls
(terminal, JUnit, pytest-html, `-x`/`--maxfail`, our results records).

Pytest's own protocol still runs an item when anything could need it: a verdict not judged yet
(a check that raised, `similar_to`), a skip, skipif or xfail marker, `--pdb` or `--trace`, or a
plugin or conftest of the project that hooks into the running of tests. A test of the project's
own marked `@pytest.mark.llmops_check(KEY)` stays a normal pytest function with fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from llmops.plugin import CaseRun, EvalSession

#: Markers whose meaning pytest's own protocol carries out (skipping, expected failures,
#: fixtures, warning filters): an item marked so is run by it.
PROTOCOL_MARKS = frozenset({"skip", "skipif", "xfail", "usefixtures", "filterwarnings"})
#: Plugins whose runtest hooks `report_fast` may bypass: pytest's own, llmops', and plugins
#: that only observe (their hooks in this phase add nothing to a check that calls nothing).
KNOWN_PLUGINS = ("_pytest.", "llmops.", "pytest_html.", "pytest_metadata.", "faker.",
                 "hypothesis.", "_hypothesis_pytestplugin.", "pytest_randomly", "anyio.",
                 "playwright", "pytest_playwright", "pytest_base_url")
RUNTEST_HOOKS = ("pytest_runtest_setup", "pytest_runtest_call", "pytest_runtest_teardown",
                 "pytest_runtest_makereport")


class CheckItem(pytest.Item):
    """One expectation (`key`) of one case run, judged on that run's exchange."""

    def __init__(self, *, run: CaseRun, key: str, marks: Iterable[Any], originalname: str,
                 **kw: Any) -> None:
        super().__init__(**kw)
        self.run = run
        self.key = key
        #: the test's name without its parameter, as a pytest Function has it
        self.originalname = originalname
        self.own_markers.extend(marks)
        self.fixturenames: tuple[str, ...] = ()  # for --setup-show and plugins that look

    # pytest's protocol (see the module's docstring for when it runs): the exchange's failure
    # is an error of the set-up, as it was when a fixture fetched it; the verdict is the call.
    def setup(self) -> None:
        self._es().enter_check(self, self.run, self.key)

    def runtest(self) -> None:
        self._es().run_check(self, self.run, self.key)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        # A line, not None: pytest's report of a skip (a case with `skip:`) asserts it has one.
        return self.path, 0, self.name

    def _es(self) -> EvalSession:
        from llmops.plugin import _session

        es = _session(self.config)
        assert es is not None  # items are made only in an eval run
        return es


def make_items(collector: pytest.Collector, name: str, function: Callable[..., Any],
               key: str, runs: list[tuple[CaseRun, str, list[Any]]]) -> list[CheckItem]:
    """The items of test `name` (which judges `key`) for these (run, id, markers)."""
    marks = list(getattr(function, "pytestmark", ()))
    base = f"{collector.nodeid}::{name}"  # node ids as a parametrized function's
    items = [CheckItem.from_parent(collector, name=f"{name}[{ident}]", run=run, key=key,
                                   marks=[*marks, *case_marks], nodeid=f"{base}[{ident}]",
                                   originalname=name)
             for run, ident, case_marks in runs]
    if items:
        # `location` (a cached property pytest computes per item from its path) is the same
        # file for all: computed once, set on each as the property would cache it.
        relpath = items[0].location[0]
        for item in items[1:]:
            item.__dict__["location"] = (relpath, 0, item.name)
    return items


def bypassable(config: pytest.Config) -> bool:
    """May `report_fast` stand in for pytest's protocol in this session? Not under a debugger,
    and not when a plugin or conftest we do not know hooks into the running of tests."""
    opt = config.option
    if getattr(opt, "usepdb", False) or getattr(opt, "trace", False):
        return False
    if getattr(opt, "setuponly", False) or getattr(opt, "setupplan", False):
        return False
    hooks = config.pluginmanager.hook
    for hook in RUNTEST_HOOKS:
        for impl in getattr(hooks, hook).get_hookimpls():
            module = getattr(impl.plugin, "__module__", None) or getattr(impl.plugin, "__name__",
                                                                         "")
            if isinstance(impl.plugin, type(pytest)):  # a module: its own name
                module = impl.plugin.__name__
            if not (module + ".").startswith(KNOWN_PLUGINS):
                return False
    return True


def needs_protocol(item: CheckItem, nextitem: pytest.Item | None) -> bool:
    """Must pytest's own protocol run this item: a marker it carries out, or a tear-down due
    after it (the next item leaves the module or session whose set-up is on pytest's stack:
    pytest tears it down after this item, and reports a failing finalizer as its error)?"""
    if any(m.name in PROTOCOL_MARKS for m in item.iter_markers()):
        return True
    state = getattr(item.session, "_setupstate", None)
    stack = getattr(state, "stack", None)
    if stack is None:
        return True  # a pytest whose set-up state we cannot see: let it do the work
    if not stack:
        return False
    chain = nextitem.listchain() if nextitem is not None else ()
    return any(node not in chain for node in stack)


def forgetter(config: pytest.Config) -> Callable[[pytest.TestReport], None] | None:
    """What lets the terminal reporter drop a passed set-up or tear-down report once it has
    shown it, or None when something still reads them (`--durations`). pytest keeps every
    report to the end for its summary; a passed set-up or tear-down of a check has no output
    to show there, and 100,000 of them (50,000 checks) held ~50 MB."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None or getattr(config.option, "durations", None) is not None:
        return None
    stats: dict[str, list[Any]] = tr.stats

    def forget(report: pytest.TestReport) -> None:
        kept = stats.get("")
        if kept and kept[-1] is report:
            kept.pop()

    return forget


def report_fast(item: CheckItem, failed_when: str | None, message: str | None,
                finish: Callable[[pytest.TestReport], None],
                forget: Callable[[pytest.TestReport], None] | None = None) -> None:
    """The setup, call and teardown reports of a check whose outcome is known (`failed_when`:
    "setup" when its exchange failed, "call" when its verdict did, None when it passed; then
    `message` is the failure's text), each handed to `finish` (our records) and then to the
    hooks pytest's own protocol calls. A failed set-up has no call, as in pytest. `forget`
    (see `forgetter`) gets each passed set-up and tear-down report once the hooks have it."""
    ihook = item.ihook
    nodeid, location = item.nodeid, item.location
    # pytest 9 keeps a parsed node id in each report: the item's own, not one parsed per report
    # (~1 KB a check at 50,000 checks)
    node_id: Any = getattr(item, "id", None) or nodeid
    keywords = dict.fromkeys(item.keywords, 1)
    props = item.user_properties
    ihook.pytest_runtest_logstart(nodeid=nodeid, location=location)
    phases = ("setup", "teardown") if failed_when == "setup" else ("setup", "call", "teardown")
    for when in phases:
        failed = when == failed_when
        report = pytest.TestReport(node_id, location, keywords, "failed" if failed else "passed",
                                   message if failed else None, when,  # type: ignore[arg-type]
                                   user_properties=props)
        finish(report)
        ihook.pytest_runtest_logreport(report=report)
        if forget is not None and when != "call" and not failed:
            forget(report)
    ihook.pytest_runtest_logfinish(nodeid=nodeid, location=location)
