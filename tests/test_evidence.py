"""Evidence the gate cannot be fooled by: partial, stale, tampered, dirty and aborted runs.

Real processes throughout: `pytest evals/` and `llmops` run as subprocesses in a throwaway project
that is a real git repository with a bare remote, against the reference chatbot served over HTTP
on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from llmops.chatbot.server import create_app, serve_in_thread
from tests.conftest import eval_env, run_evals
from tests.test_evals_e2e import CASES  # the same three support cases

GATE = """
[tool.llmops.gate]
min_pass_rate = 0.9
max_p95_latency_ms = 5000
max_error_rate = 0.05
"""


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


@pytest.fixture
def repo(project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A project that is a git repository (everything committed) with a bare remote `origin`."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))

    def make(cases: dict[str, str] | None = None, llmops: str = GATE) -> Path:
        root = project(cases or {"support.yaml": CASES}, llmops)
        (root / ".gitignore").write_text("reports/\nfeedback/\n__pycache__/\n")
        bare = tmp_path / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        git(root, "init", "-q", "-b", "main")
        git(root, "config", "user.name", "CI")
        git(root, "config", "user.email", "ci@example.com")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "cases")
        git(root, "remote", "add", "origin", str(bare))
        git(root, "push", "-q", "origin", "main")
        return root

    return make


def llmops(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmops", *args], cwd=root,
                          capture_output=True, text=True, timeout=120, env=eval_env(**env))


def results_of(root: Path) -> dict:
    return json.loads((root / "reports" / "results.json").read_text())


def save(root: Path, doc: dict) -> None:
    (root / "reports" / "results.json").write_text(json.dumps(doc))


# -- partial runs ----------------------------------------------------------------------------


def test_a_keyword_selection_is_recorded_and_blocked(repo, chatbot_server) -> None:
    root = repo()
    url = chatbot_server("v1")
    run = run_evals(root, "--target", url, "-k", "freeze")
    assert run.returncode == 0, run.stdout[-2000:]
    assert "coverage: partial (1 of 3 cases defined in cases, selected with -k 'freeze')" \
        in run.stdout
    doc = results_of(root)
    assert doc["run"]["selection"]["keyword"] == "freeze"
    cov = doc["run"]["coverage"]
    assert (cov["defined"], cov["selected"], cov["complete"]) == (3, 1, False)
    gate = llmops(root, "gate")
    assert gate.returncode == 1
    assert "partial run (selected with -k 'freeze'): 2 case check(s) never ran: balance, hours" \
        in gate.stdout
    promote = llmops(root, "promote", "--push")
    assert promote.returncode == 1 and "partial run" in promote.stderr
    assert git(root, "ls-remote", "origin", "stable") == ""
    # The full run of the same commit goes through, and reaches the remote.
    assert run_evals(root, "--target", url).returncode == 0
    assert results_of(root)["run"]["coverage"]["complete"] is True
    assert llmops(root, "gate").returncode == 0
    promote = llmops(root, "promote", "--push")
    assert promote.returncode == 0, promote.stderr
    assert git(root, "ls-remote", "origin", "stable").split()[0] == git(root, "rev-parse", "HEAD")


def test_leaving_out_one_check_everywhere_is_partial(repo, chatbot_server) -> None:
    root = repo()
    run = run_evals(root, "--target", chatbot_server("v1"), "-k", "not test_no_pii")
    assert run.returncode == 0
    gate = llmops(root, "gate")
    assert gate.returncode == 1
    assert "3 case check(s) never ran: balance [no_pii], freeze [no_pii], hours [no_pii]" \
        in gate.stdout


def test_a_case_folder_of_its_own_is_partial(repo, chatbot_server) -> None:
    root = repo({"support.yaml": CASES, "extra/more.yaml":
                 "cases:\n  - id: more\n    prompt: How do I freeze my card?\n"})
    run = run_evals(root, "--target", chatbot_server("v1"), "--cases", "cases/extra")
    assert run.returncode == 0
    doc = results_of(root)
    assert doc["run"]["selection"]["cases"] == "cases/extra"
    assert (doc["run"]["coverage"]["defined"], doc["run"]["coverage"]["selected"]) == (4, 1)
    assert "selected with --cases cases/extra" in llmops(root, "gate").stdout


def test_a_named_subset_may_pass(repo, chatbot_server) -> None:
    root = repo(llmops=GATE + 'allow_subsets = [{markers = "smoke"}]\n')
    url = chatbot_server("v1")
    assert run_evals(root, "--target", url, "-m", "smoke").returncode == 0
    gate = llmops(root, "gate")
    assert gate.returncode == 0, gate.stdout
    assert "Coverage: 1/3 cases (limit every case (subset -m 'smoke' allowed))" in gate.stdout
    # Any other selection is still partial.
    run_evals(root, "--target", url, "-k", "freeze")
    assert llmops(root, "gate").returncode == 1


# -- dirty trees -----------------------------------------------------------------------------


PASS_EVERYTHING = """
import pytest

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report.outcome = "passed"
    return report
"""


@pytest.mark.parametrize("hide", ["untracked", "ignored"])
def test_an_untracked_conftest_makes_the_run_dirty(repo, chatbot_server, hide: str) -> None:
    root = repo()
    (root / "evals" / "conftest.py").write_text(PASS_EVERYTHING)
    if hide == "ignored":
        (root / ".git" / "info" / "exclude").write_text("evals/conftest.py\n")
    run = run_evals(root, "--target", chatbot_server("v2"))
    doc = results_of(root)
    assert doc["run"]["git_dirty"] is True
    assert "evals/conftest.py" in doc["run"]["git_dirty_paths"]
    promote = llmops(root, "promote")
    assert promote.returncode == 1, run.stdout[-1500:]
    assert "evals/conftest.py" in promote.stderr and "do not describe commit" in promote.stderr


def test_untracked_case_files_and_config_make_the_run_dirty(repo, chatbot_server) -> None:
    root = repo()
    (root / "cases" / "new.yaml").write_text("cases:\n  - id: new\n    prompt: Hello?\n")
    run_evals(root, "--target", chatbot_server("v1"))
    doc = results_of(root)
    assert doc["run"]["git_dirty"] is True
    assert doc["run"]["git_dirty_paths"] == ["cases/new.yaml"]


def test_a_clean_tree_is_clean_whatever_the_caches(repo, chatbot_server) -> None:
    root = repo()
    cache = root / "evals" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "test_pii.cpython-311-pytest-8.pyc").write_bytes(b"\0" * 16)
    run_evals(root, "--target", chatbot_server("v1"))
    assert results_of(root)["run"]["git_dirty"] is False


# -- tampering -------------------------------------------------------------------------------


def test_hand_edits_are_caught(repo, chatbot_server) -> None:
    root = repo()
    assert run_evals(root, "--target", chatbot_server("v2")).returncode == 1
    honest = results_of(root)
    assert llmops(root, "gate").returncode == 1

    flipped = json.loads(json.dumps(honest))
    for rec in flipped["results"]:
        rec["outcome"] = "passed"
    save(root, flipped)
    gate = llmops(root, "gate")
    assert gate.returncode == 1 and "the results do not add up: summary passed is" in gate.stdout

    deleted = json.loads(json.dumps(honest))
    deleted["results"] = [r for r in deleted["results"] if r["outcome"] == "passed"]
    from llmops.results import summarize

    deleted["summary"] = summarize(deleted["results"])  # a careful forger fixes the summary
    save(root, deleted)
    gate = llmops(root, "gate")
    assert gate.returncode == 1 and "case check(s) never ran: " in gate.stdout
    assert "balance [no_financial_details]" in gate.stdout

    skipped = json.loads(json.dumps(honest))
    for rec in skipped["results"]:
        if rec["outcome"] != "passed":
            rec["outcome"] = "skipped"
    skipped["summary"] = summarize(skipped["results"])
    save(root, skipped)
    gate = llmops(root, "gate")
    assert gate.returncode == 1
    assert "check(s) skipped though their case is not: " in gate.stdout
    assert "balance [no_financial_details]" in gate.stdout

    # A forger who lowers the latencies (records and summary agree) left the evidence as it was.
    faster = json.loads(json.dumps(honest))
    for rec in faster["results"]:
        if rec["latency_ms"] is not None:
            rec["latency_ms"] = 1.0
    faster["summary"] = summarize(faster["results"])
    save(root, faster)
    gate = llmops(root, "gate")
    assert gate.returncode == 1 and "latency 1.0 but its exchange says" in gate.stdout
    moved = json.loads(json.dumps(honest))
    moved["results"][0]["exchange"] = len(moved["exchanges"])
    save(root, moved)
    gate = llmops(root, "gate")
    assert gate.returncode == 1 and "is not in the run's" in gate.stdout

    text = json.dumps(honest).replace('"p95": ', '"p95": -Infinity, "x": ', 1)
    (root / "reports" / "results.json").write_text(text)
    gate = llmops(root, "gate")
    assert gate.returncode == 2 and "-Infinity is not a valid JSON number" in gate.stderr


def test_signed_results_prove_they_came_from_ci(repo, chatbot_server) -> None:
    root = repo()
    url = chatbot_server("v1")
    key = {"LLMOPS_RESULTS_KEY": "ci-secret-3f9a"}
    assert run_evals(root, "--target", url, env=key).returncode == 0
    doc = results_of(root)
    assert doc["signature"]["alg"] == "hmac-sha256" and len(doc["signature"]["value"]) == 64
    assert "ci-secret" not in (root / "reports" / "results.json").read_text()

    # A forger who edits a figure the consistency checks do not cover is caught by the key.
    forged = json.loads(json.dumps(doc))
    forged["run"]["chatbot_version"] = "v9"
    save(root, forged)
    refused = llmops(root, "promote", **key)
    assert refused.returncode == 1 and "the signature does not match" in refused.stderr
    # The gate in CI holds the key too: it blocks what promote would refuse, and says why.
    blocked = llmops(root, "gate", **key)
    assert blocked.returncode == 1 and "the signature does not match" in blocked.stdout
    assert llmops(root, "gate").returncode == 0  # without the key, the figures alone decide
    assert llmops(root, "promote", LLMOPS_RESULTS_KEY="another-key").returncode == 1
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    save(root, unsigned)
    refused = llmops(root, "promote", **key)
    assert refused.returncode == 1 and "the results are not signed" in refused.stderr
    save(root, doc)
    done = llmops(root, "promote", **key)
    assert done.returncode == 0, done.stderr
    assert "release-1" in done.stdout


# -- stale evidence --------------------------------------------------------------------------


def test_collect_only_touches_nothing(repo, chatbot_server) -> None:
    root = repo()
    assert run_evals(root, "--target", chatbot_server("v1")).returncode == 0
    before = {p.name: p.read_bytes() for p in (root / "reports").iterdir() if p.is_file()}
    assert {"results.json", "junit.xml", "report.html"} <= set(before)
    run = run_evals(root, "--collect-only")
    assert run.returncode == 0
    after = {p.name: p.read_bytes() for p in (root / "reports").iterdir() if p.is_file()}
    assert after == before


def test_a_bad_target_touches_nothing(repo, chatbot_server) -> None:
    root = repo()
    assert run_evals(root, "--target", chatbot_server("v1")).returncode == 0
    before = {p.name: p.read_bytes() for p in (root / "reports").iterdir() if p.is_file()}
    for bad in ("ftp://nowhere", "reference:nope", "python:no_such_module:f", "http://:80/v1"):
        run = run_evals(root, "--target", bad)
        assert run.returncode == pytest.ExitCode.USAGE_ERROR, bad
        assert "--target" in run.stderr, bad
        after = {p.name: p.read_bytes() for p in (root / "reports").iterdir() if p.is_file()}
        assert after == before, bad


@pytest.mark.parametrize("how", ["empty-folder", "keyword"])
def test_selecting_no_case_is_an_error_and_leaves_no_results(repo, chatbot_server, how) -> None:
    root = repo()
    assert run_evals(root, "--target", chatbot_server("v1")).returncode == 0
    assert llmops(root, "gate").returncode == 0
    (root / "empty").mkdir()
    args = ["--cases", "empty"] if how == "empty-folder" else ["-k", "no-such-case"]
    run = run_evals(root, "--target", chatbot_server("v1"), *args)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "no case selected from" in run.stderr and "no results were written" in run.stderr
    assert not (root / "reports" / "results.json").exists()
    gate = llmops(root, "gate")
    assert gate.returncode == 2 and "no such results file" in gate.stderr


def test_a_run_killed_mid_way_leaves_no_results_to_gate(repo, chatbot_server) -> None:
    root = repo()
    assert run_evals(root, "--target", chatbot_server("v1")).returncode == 0
    assert llmops(root, "gate").returncode == 0
    slow = chatbot_server("v1", latency_ms=60_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", "--target", slow],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=eval_env(PYTHONUNBUFFERED="1"),
    )
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if "llmops: asking" in line:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (root / "reports" / "results.json").exists()
    gate = llmops(root, "gate")
    assert gate.returncode == 2 and "no such results file" in gate.stderr


def test_two_runs_cannot_write_one_reports_directory(repo, chatbot_server) -> None:
    root = repo()
    # The first run's answers are held until the test has seen the second run and the gate
    # refused (a fixed latency was a race on a loaded machine: the first run could end first),
    # and each for at least 4 s, over the 3 s latency budget, so its latency checks fail.
    release = threading.Event()
    reference = create_app("v1")

    async def held(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/chat/completions"):
            arrived = time.monotonic()
            while not release.is_set() or time.monotonic() - arrived < 4:
                await asyncio.sleep(0.05)
        await reference(scope, receive, send)

    with serve_in_thread(held) as slow:
        first = subprocess.Popen(
            [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", "--target",
             slow, "--timeout", "300"],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=eval_env(PYTHONUNBUFFERED="1"),
        )
        try:
            for line in first.stdout:  # type: ignore[union-attr]
                if "llmops: asking" in line:
                    break
            second = run_evals(root, "--target", chatbot_server("v2"))
            assert second.returncode == pytest.ExitCode.USAGE_ERROR
            assert "another eval run is writing these reports (pid " in second.stderr
            assert f"pid {first.pid}" in second.stderr
            gate = llmops(root, "gate")
            assert gate.returncode == 2
            assert f"an eval run (pid {first.pid}" in gate.stderr
            assert first.poll() is None  # still asking: the refusals above were the lock's
        finally:
            release.set()
            out = first.communicate(timeout=300)[0]
    assert first.returncode == 1, out[-2000:]  # its answers are over the latency budget
    doc = results_of(root)
    assert doc["run"]["target"] == slow and doc["run"]["coverage"]["complete"]  # the first run's
    assert {r["outcome"] for r in doc["results"] if r["check"] == "max_latency_ms"} == {"failed"}
    # A second run with a directory of its own goes ahead meanwhile.
    other = run_evals(root, "--target", chatbot_server("v1"), "--reports", "reports/other")
    assert other.returncode == 0 and (root / "reports" / "other" / "results.json").exists()


def test_an_unwritable_reports_directory_is_a_clear_error_and_feedback_survives(
    repo, chatbot_server
) -> None:
    root = repo()
    (root / "blocker").write_text("a file where the reports directory should be")
    run = run_evals(root, "--target", chatbot_server("v2"), "--reports", "blocker/reports",
                    "--feedback")
    assert run.returncode == 1
    assert "INTERNALERROR" not in run.stdout + run.stderr
    assert "llmops: results NOT written: " in run.stdout
    assert "blocker/reports: cannot write reports" in run.stdout
    store = root / "feedback" / "feedback.jsonl"
    assert len(store.read_text().splitlines()) >= 3  # v2 fails several checks: kept as feedback
