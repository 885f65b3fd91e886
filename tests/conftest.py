"""Shared fixtures: real reference-chatbot HTTP servers on 127.0.0.1, and throwaway projects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def chatbot_server() -> Iterator[Callable[..., str]]:
    """Start reference-chatbot servers (`create_app` options) on free ports; yield /v1 URLs."""
    from llmops.chatbot.server import create_app, serve_in_thread

    with ExitStack() as stack:

        def start(version: str = "v1", **options: Any) -> str:
            return stack.enter_context(serve_in_thread(create_app(version, **options)))

        yield start


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """A user's project: pyproject.toml with [tool.llmops], the evals/ module and a cases dir."""

    def make(cases: dict[str, str], llmops: str = "") -> Path:
        root = tmp_path / "proj"
        shutil.copytree(REPO / "evals", root / "evals",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (root / "pyproject.toml").write_text(
            "[tool.llmops]\ncases = 'cases'\nconcurrency = 8\ntimeout_s = 5\nretries = 2\n"
            f"feedback = 'feedback/feedback.jsonl'\n{llmops}\n"
            "[tool.llmops.pii]\nallow = ['+1 800 555 0199', 'support@examplebank.com']\n"
        )
        for name, text in cases.items():
            p = root / "cases" / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        return root

    return make


#: Variables that change what a run records: unset for the tests unless a test sets them.
RUN_ENV = ("CI", "LLMOPS_RESULTS_KEY", "LLMOPS_TARGET", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")


def eval_env(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in RUN_ENV}
    return {**clean, **env}


def run_evals(
    root: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`pytest evals/` in a project, as a user runs it (outside CI unless `env` says CI)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", "-rA", *args],
        cwd=root, capture_output=True, text=True, timeout=timeout, env=eval_env(**(env or {})),
    )
