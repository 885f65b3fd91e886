"""llmops' default junit.xml is streamed as checks finish (llmops.junit), and is the file
pytest's own writer makes of the same run: compared test case for test case, with failures,
set-up errors, skips, expected failures, a failing tear-down, properties of tests and of the
suite, and collection errors, against `--junitxml` (pytest's writer) on the same project."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import run_evals
from tests.test_evals_e2e import CASES

MORE_CASES = CASES + """
  - id: later
    prompt: What is new?
    skip: not written yet
    expect: {contains: new}
  - id: markup
    prompt: Say <b>bold</b> & "quoted"
    expect: {contains: "]]> <x/>"}
"""

OWN_TESTS = '''
import pytest

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("tear-down failed")

def test_records(record_property, record_testsuite_property):
    record_property("ticket", "OPS-1 <urgent>")
    record_testsuite_property("build", "42")

def test_fails_then_teardown_fails(broken_teardown):
    assert 1 == 2

def test_teardown_fails(broken_teardown):
    pass

@pytest.mark.skip(reason="not here")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known")
def test_expected_failure():
    assert False

def test_output_and_failure():
    print("captured \\x1b[31m stdout")
    raise ValueError("bad \\x00 value")
'''

#: what differs between two runs of the same project: durations, the start, measured latencies
VARYING = re.compile(r'\b(?P<a>time|timestamp)="[^"]*"|(?P<b>name="latency_ms" value)="\d+"'
                     r'|(?P<c>[(\[])\d+ ms\b')


def _normal(path: Path) -> str:
    return VARYING.sub(lambda m: m["c"] + "* ms" if m["c"] else f'{m["a"] or m["b"]}="*"',
                       path.read_text())


def _both(root: Path, *args: str) -> tuple[str, str]:
    """junit.xml of the default (streamed) run and of pytest's own writer, same project."""
    streamed = run_evals(root, *args)
    assert "junit" in streamed.stdout, streamed.stdout[-2000:]
    ours = root / "reports" / "junit.xml"
    assert ours.is_file()
    # nothing of the writer's own is left beside the reports
    assert not [p.name for p in (root / "reports").iterdir() if "junit-" in p.name]
    ours_text = _normal(ours)
    theirs = root / "pytest-junit.xml"
    run = run_evals(root, *args, f"--junitxml={theirs}")
    assert run.returncode == streamed.returncode
    return ours_text, _normal(theirs)


def test_the_streamed_file_is_pytests_own(project, chatbot_server) -> None:
    root = project({"support.yaml": MORE_CASES})
    (root / "evals" / "test_own.py").write_text(OWN_TESTS)
    url = chatbot_server("v2")  # fails some checks
    ours, theirs = _both(root, "--target", url)
    assert ours == theirs
    doc = ET.fromstring(ours)
    suite = doc.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    # every check and own test once, with its outcome
    assert int(suite.get("tests", "0")) > 15 and int(suite.get("failures", "0")) >= 2
    assert int(suite.get("errors", "0")) >= 2 and int(suite.get("skipped", "0")) >= 2
    names = [c.get("name") for c in cases]
    assert "test_no_pii[support/freeze]" in names and "test_records" in names
    assert [p.get("value") for p in suite.iter("property") if p.get("name") == "build"] == ["42"]
    own = {c.get("name"): c for c in cases if c.get("classname") == "evals.test_own"}
    assert own["test_records"].find("properties/property").get("value") == "OPS-1 <urgent>"
    assert own["test_expected_failure"].find("skipped") is not None


def test_collection_errors_come_first_as_in_pytests_file(project, chatbot_server) -> None:
    root = project({"support.yaml": CASES})
    (root / "evals" / "test_broken.py").write_text("raise RuntimeError('cannot import')\n")
    (root / "evals" / "test_own.py").write_text(OWN_TESTS)
    url = chatbot_server("v1")
    ours, theirs = _both(root, "--target", url, "--continue-on-collection-errors")
    assert ours == theirs
    cases = ET.fromstring(ours).find("testsuite").findall("testcase")
    assert cases[0].get("name") == "evals.test_broken"
    assert cases[0].find("error") is not None


def test_many_test_cases_stream_in_batches(project, chatbot_server) -> None:
    """More test cases than one batch of the writer (512): the same file as pytest's."""
    cases = "suite: many\ncases:\n" + "".join(
        f"  - id: c{i:03d}\n    prompt: How do I freeze my card? ({i})\n"
        f"    expect: {{contains_any: [freeze, lock]}}\n" for i in range(120))
    root = project({"many.yaml": cases})
    ours, theirs = _both(root, "--target", chatbot_server("v1"))
    assert ours == theirs
    assert len(ET.fromstring(ours).find("testsuite").findall("testcase")) == 1 + 120 * 5
