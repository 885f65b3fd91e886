"""What the feedback tests share: a throwaway project to run `llmops feedback` in, and its store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pyproject: str) -> Path:
    """`tmp_path` with this pyproject.toml, made the working directory."""
    (tmp_path / "pyproject.toml").write_text(pyproject)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def stored(project: Path) -> list[dict]:
    """The records in the project's feedback store (none when it does not exist yet)."""
    path = project / "feedback" / "feedback.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
