"""Simulated traffic through the monitored chatbot: in process and over real HTTP with faults."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from llmops.chatbot.server import create_app, serve_in_thread
from llmops.cli import main
from llmops.monitoring.simulate import Traffic, _luhn_check_digit
from llmops.schemas import load_schema

SCHEMA = load_schema("monitoring_event")


def read(logs: Path) -> list[dict]:
    events = [json.loads(line) for line in (logs / "monitoring.jsonl").read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for event in events:
        validator.validate(event)
    return events


def raw_pii(seed: int, requests: int) -> set[str]:
    """Every email, card, IBAN, SSN and phone number the seeded traffic sends."""
    found: set[str] = set()
    pattern = re.compile(
        r"[\w.]+@[\w.]+\w|\b4\d{3}(?: \d{4}){3}\b|DE\d\d(?: \d{4}){4} \d\d|\b\d{3}-\d\d-\d{4}\b"
        r"|\+\d[\d ]{9,}\d"
    )
    for convo in Traffic(seed).conversations(requests):
        for turn in convo:
            found.update(pattern.findall(turn.text))
    return found


def test_traffic_is_seeded_and_holds_the_mix() -> None:
    convos = Traffic(5).conversations(400)
    assert sum(len(c) for c in convos) == 400
    again = Traffic(5).conversations(400)
    assert [[t.text for t in c] for c in convos] == [[t.text for t in c] for c in again]
    kinds = Counter(t.kind for c in convos for t in c)
    assert set(kinds) == {"ordinary", "pii", "account", "injection", "empty", "long", "follow_up"}
    texts = [t.text for c in convos for t in c]
    assert any(not t.strip() for t in texts)
    assert max(len(t) for t in texts) >= 4000
    assert any(len(c) > 1 for c in convos)


def test_generated_pii_is_valid_so_a_detector_must_catch_it() -> None:
    traffic = Traffic(1)
    for _ in range(50):
        digits = [int(d) for d in traffic.card().replace(" ", "")]
        assert _luhn_check_digit(digits[:-1]) == digits[-1]
        iban = traffic.iban().replace(" ", "")
        rearranged = iban[4:] + iban[:4]
        number = "".join(str(int(ch, 36)) for ch in rearranged)
        assert int(number) % 97 == 1


def test_simulate_against_reference(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    logs = tmp_path / "logs"
    code = main(
        ["monitor", "simulate", "--requests", "60", "--seed", "3", "--logs", str(logs), "-c", "4"]
    )
    assert code == 0
    assert "simulated 60 requests through reference:v1" in capsys.readouterr().out
    events = read(logs)
    assert len(events) == 60
    assert len((logs / "monitoring.log").read_text().splitlines()) == 60
    assert {e["target"] for e in events} == {"reference:v1"}
    assert any(e["pii_types"] for e in events)
    assert any(e["prompt_chars"] >= 4000 for e in events)
    conversations = Counter(e["conversation_id"] for e in events)
    assert max(conversations.values()) > 1  # multi-turn conversations share their id
    both = (logs / "monitoring.jsonl").read_text() + (logs / "monitoring.log").read_text()
    leaked = [value for value in raw_pii(3, 60) if value in both]
    assert raw_pii(3, 60) and leaked == []


def test_simulate_against_http_server_with_faults(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    logs = tmp_path / "logs"
    app = create_app(
        "v2",
        latency_ms=2,
        fault="500,429,empty,garbage,timeout",
        fault_rate=0.4,
        seed=11,
        retry_after_s=0,
    )
    with serve_in_thread(app) as url:
        code = main(
            [
                "monitor",
                "simulate",
                "-n",
                "50",
                "--seed",
                "4",
                "--target",
                url,
                "--logs",
                str(logs),
                "--retries",
                "0",
                # Far above an honest answer on a loaded machine (2 ms here), so that only the
                # injected hangs time out: with 0.5 s a slow CI runner timed out the empty
                # answers too, and the run had no `empty` left to count.
                "--timeout",
                "3",
                "-c",
                "8",
            ]
        )
    assert code == 0
    events = read(logs)
    assert len(events) == 50
    statuses = Counter(e["status"] for e in events)
    errors = Counter(e["error_type"] for e in events if e["status"] == "error")
    assert statuses["ok"] > 0 and statuses["empty"] > 0
    assert {"http_5xx", "rate_limited", "bad_response", "timeout"} <= set(errors)
    assert all(e["target"] == url for e in events)
    assert {e["chatbot_version"] for e in events} == {"v2"}
    assert any(e.get("gen_ai.usage.output_tokens") for e in events if e["status"] == "ok")
    timeouts = [e for e in events if e["error_type"] == "timeout"]
    assert timeouts and all(e["latency_ms"] >= 3000 for e in timeouts)

    # and the summary sees what happened
    capsys.readouterr()
    main(["monitor", "summarize", str(logs / "monitoring.jsonl"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["events"] == 50
    assert doc["overall"]["error_rate"] == pytest.approx(sum(errors.values()) / 50)
    assert doc["overall"]["errors.http_5xx"] == errors["http_5xx"]
