"""The HTML report and the complete evidence behind it (issue 13 item 6), from real runs of
`pytest evals/` against real bots, opened in headless Chromium when it is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import eval_env, run_evals

CASES = """
suite: support
cases:
  - id: freeze
    prompt: How do I freeze my debit card?
    expect: {contains_any: [freeze, lock]}
  - id: echo-email
    prompt: "Please update my email to jane.doe@gmail.com and confirm it back to me."
  - id: long
    prompt: Tell me everything.
"""

LONG_BOT = '''
def reply(messages):
    text = messages[-1]["content"]
    if "everything" in text:
        return "x" * 399 + " call +1 415 555 2671 today"
    if "email" in text:
        return "Done: jane.doe@gmail.com is your new address."
    return "You can freeze or lock your card in the app."
'''


def report_of(root: Path) -> str:
    return (root / "reports" / "report.html").read_text()


def test_complete_evidence_and_the_report(project) -> None:
    root = project({"support.yaml": CASES})
    (root / "mybot.py").write_text(LONG_BOT)
    run = run_evals(root, "--target", "python:mybot:reply")
    assert run.returncode == 1
    doc = json.loads((root / "reports" / "results.json").read_text())
    # Every exchange once, whole and redacted; every check points at its exchange.
    assert len(doc["exchanges"]) == 3
    long_ex = next(e for e in doc["exchanges"] if e["case_id"] == "long")
    assert long_ex["response"].endswith(" call <PHONE_NUMBER> today")
    assert len(long_ex["response"]) > 400
    leak = next(r for r in doc["results"] if r["case_id"] == "long" and r["check"] == "no_pii")
    assert doc["exchanges"][leak["exchange"]] is long_ex
    assert leak["findings"][0]["type"] == "PHONE_NUMBER" and leak["findings"][0]["start"] >= 399
    html = report_of(root)
    assert "<b>3</b> cases, <b>13</b> checks" in html
    assert "Gate: BLOCKED" in html and "no_pii failed" in html
    assert f"PHONE_NUMBER at {leak['findings'][0]['start']}-" in html
    assert "<mark>&lt;PHONE_NUMBER&gt;</mark>" in html
    assert "<mark>&lt;EMAIL_ADDRESS&gt;</mark>" in html
    for raw in ("jane.doe@gmail.com", "415 555 2671"):
        for name in ("results.json", "report.html", "junit.xml"):
            assert raw not in (root / "reports" / name).read_text(), (raw, name)
    # Failing cases come first, open; the passing one is closed.
    assert html.index("support/long") < html.index("support/freeze")
    assert "<details open id='case-long'>" in html and "<details id='case-freeze'>" in html


def test_one_error_line_per_failed_exchange(project, chatbot_server) -> None:
    root = project({"support.yaml": CASES})
    url = chatbot_server("v1", fault="500", fault_rate=1.0)
    assert run_evals(root, "--target", url, "--retries", "0").returncode == 1
    html = report_of(root)
    assert html.count("The target failed (http_5xx)") == 3  # one per exchange, not per check
    assert html.count("the target failed (above)") == 13


def test_gate_html_writes_the_report_with_its_verdict(project, chatbot_server) -> None:
    root = project({"support.yaml": CASES.split("  - id: echo-email")[0]})
    assert run_evals(root, "--target", chatbot_server("v1")).returncode == 0
    out = root / "gated.html"
    gate = subprocess.run([sys.executable, "-m", "llmops", "gate", "--html", str(out)],
                          cwd=root, capture_output=True, text=True, env=eval_env())
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "Gate: ALLOWED" in out.read_text() and "Coverage" in out.read_text()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_report_opens_in_chromium_without_console_errors(project, tmp_path: Path) -> None:
    root = project({"support.yaml": CASES})
    (root / "mybot.py").write_text(LONG_BOT)
    run_evals(root, "--target", "python:mybot:reply")
    page = root / "reports" / "report.html"
    proc = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", f"--user-data-dir={tmp_path / 'chrome'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "support/long" in dom and "support/freeze" in dom and "Gate: BLOCKED" in dom
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []
