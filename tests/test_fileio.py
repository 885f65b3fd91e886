"""Atomic writes (llmops.fileio): a reader sees the old file or the new one, never half, also
when the text is written piece by piece and the pieces fail half-way."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmops.fileio import dumps_readable, write_atomic, write_json

DOC = {
    "version": 1,
    "run": {"target": "http://x", "nested": {"a": [1, 2]}},
    "results": [{"case_id": f"c{i}", "message": "é \u2028 \"q\" <b>"} for i in range(5)],
    "empty": [],
    "exchanges": [{"n": None}],
}


def test_readable_json_is_the_document_one_item_a_line() -> None:
    text = dumps_readable(DOC)
    assert json.loads(text) == DOC
    lines = text.split("\n")
    # each result record on a line of its own, grep-able
    assert sum(1 for line in lines if '"case_id"' in line) == 5
    assert '    {"case_id": "c0", "message": "é \u2028 \\"q\\" <b>"},' in lines
    assert text.endswith("}\n") and '"empty": []' in text
    assert dumps_readable([1, 2]) == "[\n  1,\n  2\n]\n"
    assert json.loads(dumps_readable({})) == {}


def test_write_json_writes_what_dumps_readable_makes(tmp_path: Path) -> None:
    path = tmp_path / "out" / "results.json"
    write_json(path, DOC)
    assert path.read_text(encoding="utf-8") == dumps_readable(DOC)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_pieces_that_fail_half_way_leave_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("old evidence")
    os.chmod(path, 0o640)

    def pieces() -> Iterator[str]:
        yield "<html>" * 100_000  # past the write buffer: some of it reached the disk
        raise RuntimeError("render failed")

    with pytest.raises(RuntimeError, match="render failed"):
        write_atomic(path, pieces())
    assert path.read_text() == "old evidence"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary left

    write_atomic(path, iter(["<html>", "ünïcode", "</html>"]))
    assert path.read_text(encoding="utf-8") == "<html>ünïcode</html>"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # the file keeps its mode


def test_text_and_bytes_write_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    write_atomic(path, "x\r\ny")
    assert path.read_bytes() == b"x\r\ny"
    write_atomic(path, b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    write_atomic(path, iter(["x\r\n", "y\n"]))  # pieces keep their line ends too
    assert path.read_bytes() == b"x\r\ny\n"
