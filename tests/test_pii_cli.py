"""`llmops pii scan` and `llmops pii redact`: output, exit codes, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmops.cli import main

TEXT = "Call +44 20 7946 0958.\r\nCard 4111 1111 1111 1111; mail a@b.io\n"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    p = tmp_path / "answer.txt"
    p.write_bytes(TEXT.encode("utf-8"))
    return p


def test_scan_prints_findings_without_text_and_exits_1(
    sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pii", "scan", str(sample)]) == 1
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split("\t") for line in lines]
    assert [r[0] for r in rows] == ["PHONE_NUMBER", "CREDIT_CARD", "EMAIL_ADDRESS"]
    for _kind, start, end, score in rows:
        value = TEXT[int(start) : int(end)]
        assert value and value not in "\n".join(lines)  # offsets right, text absent
        assert 0.5 <= float(score) <= 1.0
    assert TEXT[int(rows[1][1]) : int(rows[1][2])] == "4111 1111 1111 1111"


def test_scan_json_and_show_text(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pii", "scan", "--json", str(sample)]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(set(r) == {"type", "start", "end", "score"} for r in rows)
    assert main(["pii", "scan", "--json", "--show-text", str(sample)]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["+44 20 7946 0958", "4111 1111 1111 1111", "a@b.io"]
    assert all(TEXT[r["start"] : r["end"]] == r["text"] for r in rows)


def test_scan_types_filter(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pii", "scan", "--types", "email_address", str(sample)]) == 1
    assert capsys.readouterr().out.startswith("EMAIL_ADDRESS\t")
    assert main(["pii", "scan", "--types", "NOPE", str(sample)]) == 2


def test_scan_clean_text_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "clean.txt"
    p.write_text("Version 1.2.3 shipped on 2024-03-15; order 12345678.", encoding="utf-8")
    assert main(["pii", "scan", str(p)]) == 0
    assert capsys.readouterr().out == ""


def test_redact(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pii", "redact", str(sample)]) == 0
    assert capsys.readouterr().out == (
        "Call <PHONE_NUMBER>.\r\nCard <CREDIT_CARD>; mail <EMAIL_ADDRESS>\n"
    )


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pii", "scan", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt: no such file" in capsys.readouterr().err
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"line one\nline \xff two\n")
    assert main(["pii", "redact", str(binary)]) == 2
    assert "bin.txt:2: not UTF-8 text" in capsys.readouterr().err


def test_allowlist_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.llmops.pii]\nallow = ["+1 800 555 0199"]\nregions = ["US"]\n', encoding="utf-8"
    )
    text = tmp_path / "t.txt"
    text.write_text("Call (800) 555-0199 any time.", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["pii", "scan", str(text)]) == 0
    assert main(["pii", "scan", "--no-allow", str(text)]) == 1
    (tmp_path / "pyproject.toml").write_text(
        '[tool.llmops.pii]\nregions = ["QQ"]\n', encoding="utf-8"
    )
    assert main(["pii", "scan", str(text)]) == 2


def test_stdin_in_a_real_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llmops", "pii", "redact", "-"],
        input=b"SSN 536-90-4399\n",
        capture_output=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == "SSN <US_SSN>\n"
    proc = subprocess.run(
        [sys.executable, "-m", "llmops", "pii", "scan", "--json"],
        input=b"SSN 536-90-4399",
        capture_output=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == {"type": "US_SSN", "start": 4, "end": 15, "score": 1.0}
