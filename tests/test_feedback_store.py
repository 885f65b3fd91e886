"""The feedback store: dedupe, atomic locked writes, concurrent writers, a writer killed mid-write.

Our choice (see llmops/feedback/store.py): every write replaces the whole file (temp file in the
same directory, fsync, os.replace) under a lock file, so the file on disk is always a complete
old or new version and never holds a partial line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmops.feedback import records as R
from llmops.feedback.store import FeedbackStore


def rec(n: int, **extra) -> dict:
    return R.normalise({"prompt": f"question {n}", "rating": "down", **extra}, redact=str)


def parse_strict(path: Path) -> list[dict]:
    """Every line a JSON object, ending in a newline: what any strict JSONL reader needs."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.decode().splitlines()]


def test_append_dedupes_against_store_and_within_batch(tmp_path):
    store = FeedbackStore(tmp_path / "fb" / "feedback.jsonl")
    first = store.append([rec(1), rec(2), rec(1)])
    assert [r["prompt"] for r in first.added] == ["question 1", "question 2"]
    assert first.duplicates == [rec(1)["id"]]
    again = store.append([rec(2), rec(3)])
    assert [r["prompt"] for r in again.added] == ["question 3"]
    stored = parse_strict(store.path)
    assert [r["prompt"] for r in stored] == ["question 1", "question 2", "question 3"]
    assert all(R.errors(r, stored=True) == [] for r in stored)


def test_nothing_to_add_leaves_the_file_alone(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    assert store.append([]).added == []
    assert not store.path.exists()
    store.append([rec(1)])
    before = store.path.stat().st_mtime_ns
    store.append([rec(1)])
    assert store.path.stat().st_mtime_ns == before


def test_update_rewrites_atomically_and_keeps_other_records(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    store.append([rec(1), rec(2)])
    a, b = (r["id"] for r in store.read().records)
    assert store.update({a: {"status": "converted", "case_id": "fb-1"}}) == 1
    assert store.update({a: {"status": "converted", "case_id": "fb-1"}}) == 0  # no change
    first, second = parse_strict(store.path)
    assert (first["status"], first["case_id"]) == ("converted", "fb-1")
    assert second == rec(2) | {"timestamp": second["timestamp"]}
    assert b == second["id"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_unreadable_lines_are_reported_and_kept(tmp_path):
    path = tmp_path / "feedback.jsonl"
    path.write_text(json.dumps(rec(1)) + "\n{broken\n" + json.dumps(rec(2)))  # no final newline
    store = FeedbackStore(path)
    snap = store.read()
    assert [r["prompt"] for r in snap.records] == ["question 1", "question 2"]
    assert snap.problems == [
        f"{path}:2: not a JSON line (Expecting property name enclosed in double quotes)"
    ]
    store.append([rec(3)])
    lines = path.read_text().splitlines()
    assert lines[1] == "{broken"  # never dropped
    assert [json.loads(lines[i])["prompt"] for i in (0, 2, 3)] == [
        "question 1",
        "question 2",
        "question 3",
    ]


def test_stale_temp_file_of_a_killed_writer_is_removed(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    stale = tmp_path / ".feedback.jsonl.abc123.tmp"
    stale.write_text('{"id": "half')
    store.append([rec(1)])
    assert not stale.exists()
    assert len(parse_strict(store.path)) == 1


WRITER = textwrap.dedent(
    """
    import sys
    from llmops.feedback import records as R
    from llmops.feedback.store import FeedbackStore

    path, tag, count, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = FeedbackStore(path)
    recs = [R.normalise({"prompt": f"{tag} {i}", "rating": 1}, redact=str) for i in range(count)]
    for i in range(0, count, batch):
        store.append(recs[i : i + batch])
    """
)


def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    path = tmp_path / "feedback.jsonl"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, "200", "5"])
        for tag in ("alpha", "beta")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    stored = parse_strict(path)
    prompts = sorted(r["prompt"] for r in stored)
    assert len(stored) == 400
    assert prompts == sorted([f"alpha {i}" for i in range(200)] + [f"beta {i}" for i in range(200)])
    assert len({r["id"] for r in stored}) == 400
    assert all(R.errors(r, stored=True) == [] for r in stored)


def test_concurrent_cli_imports_of_two_files(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.llmops]\nfeedback = "fb/feedback.jsonl"\n')
    files = []
    for tag in ("alpha", "beta"):
        f = tmp_path / f"{tag}.jsonl"
        f.write_text(
            "".join(
                json.dumps({"prompt": f"{tag} {i}", "rating": "down"}) + "\n" for i in range(200)
            )
        )
        files.append(f)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "llmops", "feedback", "import", str(f)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for f in files
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    stored = parse_strict(tmp_path / "fb" / "feedback.jsonl")
    assert len(stored) == 400
    assert len({r["id"] for r in stored}) == 400
    assert all(R.errors(r, stored=True) == [] for r in stored)


LOOPER = textwrap.dedent(
    """
    import sys
    from llmops.feedback import records as R
    from llmops.feedback.store import FeedbackStore

    store = FeedbackStore(sys.argv[1])
    big = "x" * 20000  # long records: a write takes a while, a kill lands inside one
    i = 0
    while True:
        store.append([R.normalise({"prompt": f"{sys.argv[2]} {i}", "rating": "down",
                                   "comment": big}, redact=str)])
        i += 1
    """
)


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "writer died on its own"
        try:
            if path.read_bytes().count(b"\n") >= n:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    pytest.fail(f"writer did not reach {n} records")


def test_writer_killed_mid_write_leaves_whole_records(tmp_path):
    path = tmp_path / "feedback.jsonl"
    seen = 0
    for round_ in range(3):  # kill three times, at different points
        proc = subprocess.Popen([sys.executable, "-c", LOOPER, str(path), f"r{round_}"])
        try:
            _wait_for_lines(path, seen + 5 + 3 * round_, proc)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        stored = parse_strict(path)  # parses strictly: no partial line, ever
        assert len(stored) >= seen + 5
        assert all(R.errors(r, stored=True) == [] for r in stored)
        assert all(len(r["comment"]) == 20000 for r in stored)
        assert len({r["id"] for r in stored}) == len(stored)
        seen = len(stored)
    # The next writer cleans up whatever temp file the kills left and appends normally.
    FeedbackStore(path).append([rec(1)])
    assert not list(tmp_path.glob(".*.tmp"))
    assert len(parse_strict(path)) == seen + 1
