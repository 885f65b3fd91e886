"""The DuckDB engine of `llmops monitor summarize` against the pandas one: the same figures,
groups, alerts and bad-line reports on the same logs (many hosts, rotated backups, every kind of
bad line), the Parquet round trip of `llmops monitor export`, and globs."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb", reason="the monitor extra: pip install 'llmops[monitor]'")

import pandas as pd

from llmops.cli import main
from llmops.limits import Limits
from llmops.monitoring import duck
from llmops.monitoring.duck import expand, read_events_duckdb
from llmops.monitoring.reading import read_events
from llmops.monitoring.summary import (
    filter_since,
    parse_rules,
    summarize,
    to_json,
)

NOW = pd.Timestamp("2026-06-01T00:00:00Z")
BY = ["version", "target", "model", "window", "hour", "day"]
RULES = parse_rules(
    {
        "max_error_rate": 0.02,
        "max_p95_latency_ms": 700,
        "max_response_pii_rate": 0.001,
        "max_pii_rate.CREDIT_CARD": 0.01,
        "min_requests": 10,
    }
)
PII = [[], [], [], ["EMAIL_ADDRESS"], ["CREDIT_CARD", "PHONE_NUMBER"], ["IBAN_CODE", "IBAN_CODE"]]
ERRORS = ["timeout", "http_5xx", "rate_limited", "connection"]


def make_events(n: int, seed: int, start: str = "2026-05-20T00:00:00Z", days: float = 7.0):
    rng = random.Random(seed)
    t0 = pd.Timestamp(start).timestamp()
    out = []
    for i in range(n):
        r = rng.random()
        status = "error" if r < 0.05 else "empty" if r < 0.08 else "ok"
        pii = rng.choice(PII)
        latency = None if rng.random() < 0.02 else round(rng.lognormvariate(5.5, 0.7), 3)
        t = t0 + rng.random() * days * 86400
        e: dict[str, Any] = {
            "timestamp": pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            + "Z",
            "event_id": f"{seed}-{i}",
            "conversation_id": f"c{i % 17}",
            "chatbot_version": rng.choice(["v1", "v2", "v10", "ünï"]),
            "target": rng.choice(["reference", "http://127.0.0.1:8000/v1"]),
            "latency_ms": latency,
            "status": status,
            "error_type": rng.choice(ERRORS) if status == "error" else None,
            "slow": latency is not None and latency > 800,
            "pii_types": pii,
            "pii_response_types": pii[:1] if pii and rng.random() < 0.3 else [],
            "prompt_redacted": "hi <EMAIL_ADDRESS>",
            "response_redacted": None if status == "error" else "hello",
        }
        if rng.random() < 0.7:
            e["gen_ai.request.model"] = rng.choice(["m-small", "m-large"])
        out.append(e)
    return out


def write(path: Path, events: list[dict[str, Any]], extra: list[str] = (), tail: str = ""):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    for i, line in enumerate(extra):  # bad lines spread through the file
        lines.insert(min(len(lines), 3 + i * 7), line)
    path.write_text("\n".join(lines) + "\n" + tail, encoding="utf-8")
    return path


def bad_lines() -> list[str]:
    """Every kind of line the pandas path rejects, including those DuckDB's reader would take
    (it casts "12" to 12.0 and 1 to true, and reads a missing key as null)."""
    base = make_events(1, 99)[0]

    def bad(**change: Any) -> str:
        e = {**base, **change}
        return json.dumps({k: v for k, v in e.items() if v is not DROP})

    return [
        "this is not json",
        "[1, 2]",
        "42",
        bad(latency_ms=DROP),  # missing, where null would be fine
        bad(error_type=DROP),
        bad(response_redacted=DROP),
        bad(status=DROP, slow=DROP),
        bad(latency_ms="12"),
        bad(slow=1),
        bad(chatbot_version=5),
        bad(status="fine"),
        bad(pii_types=[1]),
        bad(pii_types="EMAIL_ADDRESS"),
        bad(**{"gen_ai.request.model": 3}),
        bad(timestamp="yesterday"),
        bad(timestamp="1999-01-01T00:00:00Z"),  # before earliest_event_year
        bad(timestamp="2030-01-01T00:00:00Z"),  # far ahead of now
        "",
        "   ",
    ]


DROP = object()


def logs(tmp_path: Path, *, dirty: bool) -> list[Path]:
    """Three hosts, each with a log and two rotated backups; with `dirty`, bad lines in some."""
    paths = []
    for h in range(3):
        for k, suffix in enumerate((".2", ".1", "")):
            events = make_events(300, seed=h * 10 + k)
            extra = bad_lines() if dirty and (h, k) in ((0, 0), (2, 2)) else []
            tail = '{"timestamp": "2026-05-2' if dirty and (h, k) == (1, 2) else ""
            paths.append(write(tmp_path / f"host{h}" / f"monitoring.jsonl{suffix}", events,
                               extra, tail))
    return paths


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Equal documents; floats to 1e-12 (quantiles interpolate in a different order)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), (where, sorted(a.keys() ^ b.keys()))
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), (where, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), (where, a, b)
    else:
        assert a == b, (where, a, b)


def both(paths: list[Path], limits: Limits | None = None, since: str | None = None,
         by: list[str] = BY, now: Any = NOW) -> tuple[dict[str, Any], dict[str, Any]]:
    limits = limits or Limits()
    exact = read_events(paths, limits=limits, now=NOW)
    fast = read_events_duckdb(paths, limits=limits, now=NOW)
    try:
        if since:
            exact = filter_since(exact, since, now=now)
            fast = filter_since(fast, since, now=now)
        return (to_json(summarize(fast, by=by, rules=RULES, alert_min_requests=20)),
                to_json(summarize(exact, by=by, rules=RULES, alert_min_requests=20)))
    finally:
        fast.close()


def test_clean_logs_same_figures_without_the_exact_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = logs(tmp_path, dirty=False)
    exact = to_json(summarize(read_events(paths, now=NOW), by=BY, rules=RULES,
                              alert_min_requests=20))

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a clean log went to the exact reader")

    monkeypatch.setattr(duck, "read_events", forbidden)
    table = read_events_duckdb(paths, now=NOW)
    try:
        fast = to_json(summarize(table, by=BY, rules=RULES, alert_min_requests=20))
    finally:
        table.close()
    assert_same(fast, exact)
    assert fast["events"] == 2700 and not fast["bad_lines"]
    assert fast["alerts"], "the rules are meant to fire, so alerts are compared too"
    assert {g["group"] for g in fast["by"]["model"]} == {"-", "m-large", "m-small"}
    assert any(k.startswith("pii_rate.IBAN_CODE") for k in fast["overall"])


def test_every_kind_of_bad_line_reported_alike_and_figures_equal(tmp_path: Path) -> None:
    paths = logs(tmp_path, dirty=True)
    fast, exact = both(paths)
    assert_same(fast, exact)
    reasons = [b["reason"] for b in fast["bad_lines"]]
    assert len(fast["bad_lines"]) == 2 * 17 + 1  # 17 bad lines in two files, a truncated tail
    assert any("event is missing latency_ms" in r for r in reasons)
    assert any("is implausible" in r for r in reasons)
    assert any(r.startswith("truncated line") for r in reasons)
    # file order, then line order: what the CLI prints first is the same
    files = [str(p) for p in paths]
    keys = [(files.index(b["file"]), b["line"]) for b in fast["bad_lines"]]
    assert keys == sorted(keys)


def test_long_lines_offsets_and_since_alike(tmp_path: Path) -> None:
    events = make_events(500, 3)
    events[10]["timestamp"] = "2026-05-21T02:00:00+02:00"  # ISO 8601, not the wrapper's form
    events[11]["prompt_redacted"] = "x" * 5000
    path = write(tmp_path / "a.jsonl", events)
    limits = Limits(max_log_line_bytes=4096)
    fast, exact = both([path], limits=limits)
    assert_same(fast, exact)
    assert [b["line"] for b in fast["bad_lines"]] == [12]
    for since, now in (("2d", "last"), ("2026-05-25T12:00:00Z", NOW)):
        fast, exact = both([path], since=since, now=now)
        assert_same(fast, exact)
        assert 0 < fast["events"] < 500


def test_weekly_windows_floor_from_the_epoch_as_pandas_does(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", make_events(2000, 5, start="2025-08-01T00:00:00Z",
                                                   days=280))
    fast, exact = both([path], by=["window", "day"])
    assert fast["window"] == "7D"
    assert_same(fast, exact)


def test_globs_directories_and_rotation_order(tmp_path: Path) -> None:
    logs(tmp_path, dirty=False)
    found = expand([str(tmp_path / "host*" / "monitoring.jsonl*")])
    names = [(p.parent.name, p.name) for p in found]
    assert names == [(f"host{h}", f"monitoring.jsonl{s}") for h in range(3)
                     for s in (".2", ".1", "")]
    assert expand([tmp_path / "host1"]) == found[3:6]
    assert expand([tmp_path / "host1", str(tmp_path / "host1" / "*")]) == found[3:6]  # once
    from llmops.errors import InputError

    with pytest.raises(InputError, match="no file matches"):
        expand([str(tmp_path / "nohost*" / "x")])


def test_cli_engines_agree_and_parquet_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    logs(tmp_path, dirty=True)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.llmops]\n[tool.llmops.monitor]\nmax_error_rate = 0.02\n"
    )
    monkeypatch.chdir(tmp_path)
    glob = "host*/monitoring.jsonl*"
    runs = {}
    for engine in ("duckdb", "pandas"):
        code = main(["monitor", "summarize", glob, "--engine", engine, "--json", "--by",
                     "version,model,window"])
        out, err = capsys.readouterr()
        runs[engine] = (code, json.loads(out), err)
    assert runs["duckdb"][0] == runs["pandas"][0] == 1  # the error-rate alert fires in both
    assert_same(runs["duckdb"][1], runs["pandas"][1])
    assert runs["duckdb"][2] == runs["pandas"][2]  # the same bad lines on stderr
    assert "host0/monitoring.jsonl.2:4: not JSON" in runs["duckdb"][2]

    assert main(["monitor", "export", glob, "--parquet", "all.parquet"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"wrote {runs['pandas'][1]['events']:,} events from 9 files")
    assert err == runs["pandas"][2]  # export reports the bad lines too
    assert main(["monitor", "summarize", "all.parquet", "--json", "--by",
                 "version,model,window"]) == 1
    parquet = json.loads(capsys.readouterr().out)
    expected = {**runs["pandas"][1], "files": ["all.parquet"], "bad_lines": []}
    assert_same(parquet, expected)

    assert main(["monitor", "summarize", "all.parquet", "--engine", "pandas"]) == 2
    assert "Parquet input needs --engine duckdb" in capsys.readouterr().err
    (tmp_path / "not.parquet").write_text("hello")
    assert main(["monitor", "summarize", "not.parquet"]) == 2
    assert "not a Parquet file of monitoring events" in capsys.readouterr().err
