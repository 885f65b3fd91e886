"""The packaged checks as llmops' own pytest items: reported without pytest's protocol once
judged, or through it when a conftest hooks into the running of tests; either way the same
checks, outcomes, node ids and JUnit test cases."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import eval_env, run_evals
from tests.test_evals_e2e import CASES

HOOKED = """
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.config._llmops_test_setups = getattr(item.config, "_llmops_test_setups", 0) + 1

def pytest_unconfigure(config):
    (config.rootpath / "setups.txt").write_text(str(getattr(config, "_llmops_test_setups", 0)))
"""


def _evidence(root: Path) -> tuple[dict, list[tuple[str, str]]]:
    doc = json.loads((root / "reports" / "results.json").read_text())
    outcomes = {(r["case_id"], r["check"]): r["outcome"] for r in doc["results"]}
    cases = ET.parse(root / "reports" / "junit.xml").getroot().iter("testcase")
    junit = sorted((c.get("name"), "failed" if c.find("failure") is not None else
                    "error" if c.find("error") is not None else "passed") for c in cases)
    return outcomes, junit


#: tests of the team's own before and after the packaged module: pytest sets up and tears down
#: each module around the checks (a finalizer's failure is the error of the item before it)
OWN_BEFORE = """
import pytest

@pytest.fixture(scope="module")
def resource():
    yield "r"
    raise RuntimeError("module tear-down failed")

def test_first(resource):
    assert resource == "r"
"""
OWN_AFTER = """
import pytest

@pytest.fixture(scope="module")
def resource():
    yield "r"

def test_after(resource, llmops_session):
    assert resource == "r"

@pytest.mark.llmops_check("refuses")
def test_declines(check):
    check()
"""


def _own_tests(root: Path) -> None:
    (root / "evals" / "test_a_own.py").write_text(OWN_BEFORE)
    (root / "evals" / "test_z_own.py").write_text(OWN_AFTER)


def test_both_protocols_give_the_same_evidence(project, chatbot_server, tmp_path) -> None:
    url = chatbot_server("v2")  # fails some checks, so failures are compared too
    fast = project({"support.yaml": CASES})
    _own_tests(fast)
    run = run_evals(fast, "--target", url)
    assert run.returncode == 1
    fast_evidence = _evidence(fast)

    hooked = fast.parent / "hooked"
    fast.rename(hooked)
    (hooked / "evals" / "conftest.py").write_text(HOOKED)
    run2 = run_evals(hooked, "--target", url)
    assert run2.returncode == 1
    # the conftest's hook ran for every check: pytest's own protocol, not the shortcut
    outcomes, junit = _evidence(hooked)
    assert int((hooked / "setups.txt").read_text()) == len(junit) > 0
    assert (outcomes, junit) == fast_evidence
    assert "failed" in {o for _, o in junit}
    names = {n for n, _ in junit}
    assert "test_no_pii[support/freeze]" in names and "test_declines[support/balance]" in names
    assert ("test_after", "passed") in junit and ("test_first", "error") in junit
    assert "previous item was not torn down" not in run.stdout + run2.stdout


def test_a_node_id_selects_one_check(project, chatbot_server) -> None:
    root = project({"support.yaml": CASES})
    url = chatbot_server("v1")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "evals/test_llmops.py::test_not_empty[support/hours]",
         "-p", "no:cacheprovider", "--target", url],
        cwd=root, capture_output=True, text=True, timeout=120, env=eval_env(),
    )
    assert run.returncode == 0, run.stdout[-2000:]
    doc = json.loads((root / "reports" / "results.json").read_text())
    assert [(r["case_id"], r["check"]) for r in doc["results"]] == [("hours", "not_empty")]


KEPT = """
import json

def pytest_sessionfinish(session):
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    kept = {k or "setup/teardown": len(v) for k, v in tr.stats.items()}
    (session.config.rootpath / "kept.json").write_text(json.dumps(kept))
"""


def test_passed_setups_and_teardowns_are_not_kept(project, chatbot_server) -> None:
    """The terminal reporter keeps no passed set-up or tear-down report of a check (nothing to
    show of them; 100,000 at 10,000 cases), unless --durations lists them; the summary counts
    stay whole either way. (Also the proof that the shortcut runs in the test venv: with
    pytest's protocol every report is kept.)"""
    root = project({"support.yaml": CASES})
    (root / "evals" / "conftest.py").write_text(KEPT)
    url = chatbot_server("v2")
    run = run_evals(root, "--target", url)
    assert run.returncode == 1
    kept = json.loads((root / "kept.json").read_text())
    failed, passed = kept["failed"], kept["passed"]
    assert failed >= 2 and passed >= 10
    assert f"{failed} failed, {passed} passed" in run.stdout
    # the case-file test's (a pytest function) and the last check's, which pytest's protocol
    # runs: the module's tear-down is due after it
    assert kept.get("setup/teardown", 0) == 4
    checks = failed + passed - 1

    run = run_evals(root, "--target", url, "--durations=0")
    kept2 = json.loads((root / "kept.json").read_text())
    assert (kept2["failed"], kept2["passed"]) == (failed, passed)
    assert kept2["setup/teardown"] == 2 * checks + 2
    assert "slowest durations" in run.stdout
