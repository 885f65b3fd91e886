"""The summariser: figures on a hand-made log, alerts and exit codes, bad lines, HTML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmops.cli import main
from llmops.errors import InputError
from llmops.monitoring import Monitor
from llmops.monitoring.reading import log_files, read_events
from llmops.monitoring.summary import parse_rules, summarize, to_json

RULES = """
[tool.llmops]
logs = "logs"
reports = "reports"

[tool.llmops.monitor]
slow_ms = 1000
max_error_rate = {error}
max_p95_latency_ms = 5000
alert_min_requests = 3
"""


def event(**overrides: Any) -> dict[str, Any]:
    base = {
        "timestamp": "2025-03-01T10:15:00.000Z",
        "event_id": "e",
        "conversation_id": "c",
        "chatbot_version": "v1",
        "target": "reference",
        "latency_ms": 100.0,
        "status": "ok",
        "error_type": None,
        "slow": False,
        "pii_types": [],
        "prompt_redacted": "hi",
        "response_redacted": "hello",
    }
    return {**base, **overrides}


# v1: 4 events, latencies 100..400, one timeout, one empty, one email in the prompt, one slow.
# v2: 6 events, an hour later, all fine, a card number in one reply.
HAND_MADE = [
    event(latency_ms=100.0, pii_types=["EMAIL_ADDRESS"]),
    event(latency_ms=200.0, status="empty", response_redacted=""),
    event(latency_ms=300.0),
    event(
        latency_ms=400.0, status="error", error_type="timeout", slow=True, response_redacted=None
    ),
    *[
        event(
            timestamp=f"2025-03-01T11:{10 + i}:00.000Z",
            chatbot_version="v2",
            latency_ms=50.0,
            **(
                {"pii_types": ["CREDIT_CARD"], "pii_response_types": ["CREDIT_CARD"]}
                if i == 0
                else {}
            ),
        )
        for i in range(6)
    ],
]


def write_log(path: Path, events: list[dict[str, Any]], tail: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + tail, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text(RULES.format(error=0.5))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_figures_on_a_hand_made_log(tmp_path: Path) -> None:
    table = read_events([write_log(tmp_path / "m.jsonl", HAND_MADE)])
    assert table.bad_lines == []
    s = summarize(table, by=["version", "hour"])
    o = s.overall
    assert o["requests"] == 10
    assert o["errors"] == 1
    assert o["error_rate"] == pytest.approx(0.1)
    assert o["empty_rate"] == pytest.approx(0.1)
    assert o["slow_rate"] == pytest.approx(0.1)
    assert o["pii_rate"] == pytest.approx(0.2)
    assert o["response_pii_rate"] == pytest.approx(0.1)
    assert o["pii_rate.EMAIL_ADDRESS"] == pytest.approx(0.1)
    assert o["pii_rate.CREDIT_CARD"] == pytest.approx(0.1)
    assert o["errors.timeout"] == 1
    assert o["max_latency_ms"] == 400.0
    v1 = s.groups["version"].loc["v1"]
    assert v1["requests"] == 4
    assert v1["error_rate"] == pytest.approx(0.25)
    assert v1["p50_latency_ms"] == pytest.approx(250.0)  # linear interpolation
    assert v1["p95_latency_ms"] == pytest.approx(385.0)
    assert v1["p99_latency_ms"] == pytest.approx(397.0)
    v2 = s.groups["version"].loc["v2"]
    assert v2["requests"] == 6 and v2["error_rate"] == 0.0
    assert v2["pii_rate.CREDIT_CARD"] == pytest.approx(1 / 6)
    hours = s.groups["hour"]
    assert list(hours["requests"]) == [4, 6]
    assert [t.hour for t in hours.index] == [10, 11]


def test_json_output_and_no_alert_exit_0(project: Path, capsys: pytest.CaptureFixture) -> None:
    write_log(project / "logs/monitoring.jsonl", HAND_MADE)
    assert main(["monitor", "summarize", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["events"] == 10
    assert doc["overall"]["error_rate"] == pytest.approx(0.1)
    assert [g["group"] for g in doc["by"]["version"]] == ["v1", "v2"]
    assert doc["alerts"] == []
    assert doc["first"] == "2025-03-01T10:15:00Z"


def test_alert_fires_exit_1_overall_and_per_version(
    project: Path, capsys: pytest.CaptureFixture
) -> None:
    (project / "pyproject.toml").write_text(RULES.format(error=0.2))
    write_log(project / "logs/monitoring.jsonl", HAND_MADE)
    assert main(["monitor", "summarize"]) == 1
    out = capsys.readouterr().out
    # overall 10% is fine, v1's 25% is not: a new version failing is not diluted away
    assert "ALERT version v1: error_rate 25.0% > max_error_rate 20.0% (4 requests)" in out
    assert "ALERT overall" not in out
    (project / "pyproject.toml").write_text(RULES.format(error=0.05))
    assert main(["monitor", "summarize", "--json"]) == 1
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    assert {(a["scope"], a["group"]) for a in alerts} == {("overall", None), ("version", "v1")}
    assert all(a["rule"] == "max_error_rate" for a in alerts)


def test_rules_parse_and_reject_typos() -> None:
    rules = parse_rules(
        {"slow_ms": 5, "max_p95_latency_ms": 3000, "max_pii_rate.CREDIT_CARD": 0, "min_requests": 1}
    )
    assert {r.metric for r in rules} == {"p95_latency_ms", "pii_rate.CREDIT_CARD", "requests"}
    with pytest.raises(InputError, match="unknown rule 'max_eror_rate'"):
        parse_rules({"max_eror_rate": 0.1})
    with pytest.raises(InputError, match="must be a number"):
        parse_rules({"max_error_rate": "high"})


def test_unknown_rule_exit_2(project: Path, capsys: pytest.CaptureFixture) -> None:
    (project / "pyproject.toml").write_text("[tool.llmops.monitor]\nmax_latncy = 3\n")
    write_log(project / "logs/monitoring.jsonl", HAND_MADE)
    assert main(["monitor", "summarize"]) == 2
    assert "unknown rule 'max_latncy'" in capsys.readouterr().err


def test_bad_lines_reported_with_line_numbers_and_skipped(
    project: Path, capsys: pytest.CaptureFixture
) -> None:
    good = [json.dumps(e) for e in HAND_MADE[:3]]
    missing = event()
    del missing["status"], missing["slow"]
    lines = [
        good[0],
        "this is not json",
        json.dumps(missing),
        json.dumps(event(latency_ms="fast")),
        json.dumps(event(timestamp="yesterday")),
        "",
        "[1, 2]",
        good[1],
        good[2],
    ]
    log = project / "logs/monitoring.jsonl"
    log.parent.mkdir()
    log.write_text("\n".join(lines) + "\n" + good[0][:40], encoding="utf-8")  # truncated tail
    assert main(["monitor", "summarize", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["events"] == 3
    assert [(b["line"], b["reason"].split()[0]) for b in doc["bad_lines"]] == [
        (2, "not"),
        (3, "event"),
        (4, "invalid"),
        (5, "timestamp"),
        (7, "not"),
        (10, "truncated"),
    ]
    err = captured.err
    log = "logs/monitoring.jsonl"  # the default log is named relative to the working directory
    assert f"{log}:2: not JSON" in err
    assert f"{log}:3: event is missing slow, status" in err
    assert f"{log}:4: invalid event" in err and "latency_ms" in err
    assert f"{log}:5: timestamp 'yesterday' is not ISO 8601" in err
    assert f"{log}:7: not a JSON object but list" in err
    assert f"{log}:10: truncated line" in err
    assert ":6:" not in err  # a blank line loses nothing


def test_only_bad_lines_is_bad_input(project: Path, capsys: pytest.CaptureFixture) -> None:
    log = project / "logs/monitoring.jsonl"
    log.parent.mkdir()
    log.write_text("nope\n")
    assert main(["monitor", "summarize", str(log)]) == 2
    assert "no valid event" in capsys.readouterr().err


def test_missing_log_and_bad_by_exit_2(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["monitor", "summarize"]) == 2
    assert "no such file" in capsys.readouterr().err
    write_log(project / "logs/monitoring.jsonl", HAND_MADE)
    assert main(["monitor", "summarize", "--by", "weekday"]) == 2
    assert "--by 'weekday'" in capsys.readouterr().err


def test_empty_log_summarises_to_nothing(project: Path, capsys: pytest.CaptureFixture) -> None:
    write_log(project / "logs/monitoring.jsonl", [])
    assert main(["monitor", "summarize"]) == 0
    assert "no events" in capsys.readouterr().out


def test_html_report_with_charts(project: Path, capsys: pytest.CaptureFixture) -> None:
    write_log(project / "logs/monitoring.jsonl", HAND_MADE)
    assert main(["monitor", "summarize", "--html"]) == 0
    page = (project / "reports/monitoring.html").read_text(encoding="utf-8")
    assert page.count("<img") == 3
    assert "data:image/png;base64," in page
    assert "<table>" in page and ">v2<" in page
    assert "http://" not in page.replace("http://www.w3.org", "")  # self-contained
    other = project / "out/page.html"
    assert main(["monitor", "summarize", f"--html={other}", "--by", "day"]) == 0
    assert "By day" in other.read_text()


def test_default_reads_rotated_backups_oldest_first(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_log(logs / "monitoring.jsonl.2", HAND_MADE[:2])
    write_log(logs / "monitoring.jsonl.1", HAND_MADE[2:4])
    write_log(logs / "monitoring.jsonl", HAND_MADE[4:])
    (logs / "monitoring.jsonl.tmp").write_text("ignored")
    files = log_files(logs / "monitoring.jsonl")
    assert [f.name for f in files] == [
        "monitoring.jsonl.2",
        "monitoring.jsonl.1",
        "monitoring.jsonl",
    ]
    assert len(read_events(files).frame) == 10


def test_since_keeps_the_last_window(project: Path, capsys: pytest.CaptureFixture) -> None:
    write_log(project / "logs/monitoring.jsonl", HAND_MADE)
    # Counted back from now, a 2025 log has nothing in the last 30 minutes...
    assert main(["monitor", "summarize", "--since", "30m", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 0
    # ... and from its last event, its last half hour.
    assert main(["monitor", "summarize", "--since", "30m", "--now", "last", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["events"] == 6
    assert [g["group"] for g in doc["by"]["version"]] == ["v2"]
    assert main(["monitor", "summarize", "--since", "2025-03-01T10:00:00Z", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 10


def test_wrapper_events_round_trip(tmp_path: Path) -> None:
    mon = Monitor(tmp_path / "logs", slow_ms=10)
    mon.record(prompt="a", response="b", latency_ms=5.0, target="t", chatbot_version="v9")
    mon.record(
        prompt="mail me at x.y@example.com",
        response=None,
        latency_ms=20.0,
        target="t",
        chatbot_version="v9",
        error_type="http_5xx",
        error="HTTP 503",
    )
    mon.close()
    s = summarize(read_events([tmp_path / "logs/monitoring.jsonl"]))
    doc = to_json(s)
    assert doc["overall"]["requests"] == 2
    assert doc["overall"]["error_rate"] == 0.5
    assert doc["overall"]["slow_rate"] == 0.5
    assert doc["overall"]["pii_rate.EMAIL_ADDRESS"] == 0.5
    assert doc["overall"]["errors.http_5xx"] == 1
