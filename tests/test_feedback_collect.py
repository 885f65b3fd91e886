"""`llmops feedback collect`: answers from a file, from a real pseudo-terminal, and no terminal."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from llmops.cli import main
from llmops.feedback import records as R
from tests.feedback_helpers import make_project, stored

PYPROJECT = """
[tool.llmops]
target = "reference"
feedback = "feedback/feedback.jsonl"
timeout_s = 10
retries = 0
"""


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    return make_project(tmp_path, monkeypatch, PYPROJECT)


def test_no_terminal_and_no_answers_is_bad_input(project, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115 - closed by pytest
    assert main(["feedback", "collect"]) == 2
    err = capsys.readouterr().err
    assert "standard input is not a terminal" in err and "--answers FILE" in err
    assert stored(project) == []


def test_typed_exchanges_from_an_answers_file(project, capsys):
    answers = project / "answers.yaml"
    answers.write_text(
        yaml.safe_dump(
            [
                {
                    "prompt": "My email is bob@example.com, is my card blocked?",
                    "response": "Yes, bob@example.com, card 4111 1111 1111 1111 is blocked.",
                    "rating": "down",
                    "category": "pii_leak",
                    "comment": "it repeated the card number",
                    "expected": "I can't see card details here; open Cards in the app.",
                },
                {"prompt": "Opening hours?", "response": "9 to 5.", "rating": 5},
            ]
        )
    )
    assert main(["feedback", "collect", "--answers", str(answers), "--source", "pm"]) == 0
    assert "2 record(s) saved" in capsys.readouterr().err
    first, second = stored(project)
    assert (first["rating"], first["category"], first["source"]) == ("down", "pii_leak", "pm")
    assert "<EMAIL_ADDRESS>" in first["prompt"] and "<CREDIT_CARD>" in first["response"]
    assert "bob@example.com" not in json.dumps(first) and "4111" not in json.dumps(first)
    assert first["expected"].startswith("I can't see card details")
    assert (second["rating"], second["category"]) == (5, None)
    assert all(R.errors(r, stored=True) == [] for r in (first, second))


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"prompt": "p", "rating": "meh"}, "answer 1: rating: rating must be up, down or 1..5"),
        ({"prompt": "p", "rating": "up", "category": "rude"}, "answer 1: category: category must"),
        ({"prompt": "p", "rating": "up", "mood": "x"}, "answer 1: unknown key mood"),
        ({"rating": "up"}, "answer 1: prompt: required"),
    ],
)
def test_bad_answers_name_the_answer(project, capsys, answer, why):
    (project / "a.json").write_text(json.dumps(answer))
    assert main(["feedback", "collect", "--answers", "a.json"]) == 2
    assert why in capsys.readouterr().err
    assert stored(project) == []


def test_ask_the_reference_chatbot_on_the_spot(project):
    (project / "a.json").write_text(json.dumps({"rating": 4, "comment": "clear"}))
    args = ["feedback", "collect", "--ask", "How do I freeze my debit card?", "--answers", "a.json"]
    assert main(args) == 0
    (rec,) = stored(project)
    assert rec["prompt"] == "How do I freeze my debit card?"
    assert "freeze" in rec["response"].lower()
    assert rec["chatbot_version"] == "v1"
    assert rec["latency_ms"] >= 0
    assert (rec["rating"], rec["comment"]) == (4, "clear")


def test_pick_an_event_from_a_monitoring_log(project):
    log = project / "monitoring.jsonl"
    events = [
        {
            "timestamp": "2024-05-01T10:00:00Z",
            "event_id": "e1",
            "conversation_id": "c1",
            "chatbot_version": "v1",
            "status": "ok",
            "slow": False,
            "pii_types": ["EMAIL_ADDRESS"],
            "latency_ms": 120,
            "prompt_redacted": "who is <EMAIL_ADDRESS>?",
            "response_redacted": "that is <EMAIL_ADDRESS>",
        },
        {
            "timestamp": "2024-05-01T10:01:00Z",
            "event_id": "e2",
            "conversation_id": "c1",
            "chatbot_version": "v1",
            "status": "empty",
            "slow": False,
            "pii_types": [],
            "latency_ms": 80,
            "prompt_redacted": "hello?",
            "response_redacted": "",
        },
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in events) + "{truncated")
    (project / "a.json").write_text(json.dumps({"rating": "down"}))
    base = ["feedback", "collect", "--from-log", "monitoring.jsonl", "--answers", "a.json"]
    assert main([*base, "--event", "e1"]) == 0
    assert main([*base, "--last"]) == 0
    first, last = stored(project)
    assert (first["event_id"], first["conversation_id"], first["category"]) == (
        "e1",
        "c1",
        "pii_leak",
    )
    assert first["prompt"] == "who is <EMAIL_ADDRESS>?"
    assert (last["event_id"], last["category"], last["response"]) == ("e2", "empty", "")
    assert main([*base, "--event", "nope"]) == 2


def test_rate_a_failed_eval_result(project, capsys):
    results = {
        "run": {"git_commit": "abc", "chatbot_version": "v2"},
        "results": [
            {
                "case_id": "c1",
                "check": "not_empty",
                "outcome": "passed",
                "prompt": "p1",
                "response_excerpt": "r1",
                "message": "",
            },
            {
                "case_id": "c1",
                "check": "no_financial_details",
                "outcome": "failed",
                "prompt": "p1",
                "response_excerpt": "r1",
                "message": "ACCOUNT_BALANCE",
                "suite": "accounts",
            },
        ],
    }
    (project / "results.json").write_text(json.dumps(results))
    (project / "a.yaml").write_text("rating: 1\nexpected: I can't share balances here.\n")
    args = ["feedback", "collect", "--from-results", "results.json", "--answers", "a.yaml"]
    assert main([*args, "--case", "c1"]) == 0
    (rec,) = stored(project)
    assert (rec["case_id"], rec["check"], rec["category"]) == (
        "c1",
        "no_financial_details",
        "financial_disclosure",
    )
    assert (rec["commit"], rec["chatbot_version"], rec["suite"]) == ("abc", "v2", "accounts")
    assert main([*args, "--case", "c9"]) == 2
    assert "no results for case c9" in capsys.readouterr().err


# --- a real pseudo-terminal -----------------------------------------------------------------


class Pty:
    """`llmops feedback collect` with a pseudo-terminal as standard input."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.master, slave = os.openpty()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmops", "feedback", "collect", *args],
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Ctrl-C must reach it: a shell runs background jobs with SIGINT ignored, and a
            # child inherits that, so give it the default back.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        os.close(slave)

    def type(self, *lines: str) -> None:
        for line in lines:
            os.write(self.master, (line + "\n").encode())
            self.drain()

    def drain(self) -> None:
        """Read the terminal's echo so it never fills up."""
        while select.select([self.master], [], [], 0)[0]:
            try:
                if not os.read(self.master, 4096):
                    return
            except OSError:
                return

    def expect(self, text: str, count: int = 1, timeout: float = 60) -> None:
        """Read standard output until `text` has appeared `count` times (prompts included)."""
        seen = ""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while seen.count(text) < count:
            assert time.monotonic() < deadline and self.proc.poll() is None, seen
            self.drain()
            if select.select([fd], [], [], 0.05)[0]:
                seen += os.read(fd, 4096).decode()

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        finally:
            os.close(self.master)
        return self.proc.returncode, out, err


def test_interactive_session_in_a_terminal(project):
    term = Pty(project)
    term.type(
        "What is the wire cutoff time?",  # prompt
        "Wires go out whenever.",  # response
        "sideways",  # not a rating: asked again
        "2",  # rating
        "9",  # not a category: asked again
        "1",  # category: wrong_answer
        "vague, call me at +1 415 555 2671",  # comment
        "Wires sent before 5 pm Eastern go out the same business day.",  # expected
        "y",  # another
        "Thanks!",
        "You're welcome.",
        "up",
        "",  # category: the default (none, for a positive rating)
        "",
        "",
        "n",
    )
    code, out, err = term.finish()
    assert code == 0, err
    assert "rating must be up, down or 1..5" in out and "category must be" in out
    first, second = stored(project)
    assert (first["rating"], first["category"]) == (2, "wrong_answer")
    assert first["comment"] == "vague, call me at <PHONE_NUMBER>"
    assert first["expected"].startswith("Wires sent before 5 pm")
    assert (second["rating"], second["category"], second["prompt"]) == ("up", None, "Thanks!")
    assert "comment" not in second and "expected" not in second
    assert "2 record(s) saved" in err


def test_ctrl_c_keeps_what_was_saved(project):
    term = Pty(project)
    term.type("First question", "First answer", "down", "other", "", "", "y", "Second question")
    term.expect("Response (what the chatbot answered)", count=2)  # blocked in the second one
    # What Ctrl-C sends, mid-way through the second record. A signal that lands between the
    # prompt and the read it blocks in is only noticed at the next one: press again until the
    # collector says it was interrupted, and never after (a second Ctrl-C while a slow machine
    # is still exiting would kill the interpreter itself: exit -2, not the collector's 130).
    said, fd = "", term.proc.stderr.fileno()
    for _ in range(120):
        term.proc.send_signal(signal.SIGINT)
        until = time.monotonic() + 1.0
        while "interrupted" not in said and term.proc.poll() is None and time.monotonic() < until:
            if select.select([fd], [], [], 0.05)[0]:
                said += os.read(fd, 4096).decode()
        if "interrupted" in said or term.proc.poll() is not None:
            break
    code, _, err = term.finish()
    err = said + err
    assert code == 130
    assert "interrupted: 1 record(s) saved" in err
    (rec,) = stored(project)
    assert (rec["prompt"], rec["rating"], rec["category"]) == ("First question", "down", "other")
