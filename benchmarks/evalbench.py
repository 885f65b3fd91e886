"""What the eval benchmarks share: the stub server in its own process, a throw-away project of N
cases, a venv of the core install, and running `pytest evals/` in it.

Children run with PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED unset, as on a developer's machine
(this sandbox sets both: without byte-code caching every run compiles llmops again, and unbuffered
output makes each progress character a system call).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: git-ignored; the core venv is kept between runs (llmops itself is reinstalled every time)
WORK = REPO / ".benchmarks"
ANSWER = "You can freeze your card in the app, or call us to lock it."


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONPATH")}
    env.update(extra)
    return env


@dataclass
class Stub:
    url: str
    proc: subprocess.Popen[str]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as resp:
            return json.loads(resp.read())


@contextlib.contextmanager
def stub_server(latency_ms: float, answer: str = ANSWER) -> Iterator[Stub]:
    """benchmarks/stub_server.py in its own process, on a free port of 127.0.0.1."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "benchmarks" / "stub_server.py"), "--port", "0",
         "--latency-ms", str(latency_ms), "--answer", answer],
        stdout=subprocess.PIPE, text=True, env=child_env(),
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("listening on "):
            raise SystemExit(f"stub server did not start: {line!r}")
        yield Stub(line.split()[-1], proc)
    finally:
        proc.terminate()
        proc.wait(10)


def make_project(root: Path, n_cases: int, target: str, *, concurrency: int = 16,
                 expect: str = "{contains_any: [freeze, lock]}") -> Path:
    """A project as `llmops init` lays it out: evals/, cases/bench.yaml with n cases (each held
    to the four safe defaults and one expectation: five checks), [tool.llmops]."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "evals", root / "evals", ignore=shutil.ignore_patterns("__pycache__"),
                    dirs_exist_ok=True)
    (root / "pyproject.toml").write_text(
        "[tool.llmops]\ncases = 'cases'\n"
        f"target = '{target}'\nmodel = 'stub'\nconcurrency = {concurrency}\n"
        # the workloads name their concurrency (promptfoo's -j too): fixed, not the adaptive
        # limit's slow start from one at a time
        "adaptive_concurrency = false\n"
        "timeout_s = 30\nmax_latency_ms = 5000\n"
    )
    (root / "cases").mkdir(exist_ok=True)
    lines = ["suite: bench", "cases:"]
    for i in range(n_cases):
        lines += [f"  - id: case-{i:05d}",
                  f"    prompt: How do I freeze my card? ({root.name} {i})",
                  f"    expect: {expect}"]
    (root / "cases" / "bench.yaml").write_text("\n".join(lines) + "\n")
    return root


def core_venv() -> Path:
    """A venv of `pip install llmops` (no extras) from this work tree, as a user gets it: the
    dependencies installed once, llmops reinstalled from the current sources every time."""
    venv = WORK / "core-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        _pip(py, str(REPO))
    else:
        _pip(py, "--no-deps", "--force-reinstall", str(REPO))
    return py


def _pip(py: Path, *args: str) -> None:
    out = subprocess.run([str(py), "-m", "pip", "install", "-q", *args], env=child_env(),
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"pip install {' '.join(args)} failed:\n{out.stdout}{out.stderr}")


@dataclass
class Run:
    wall_s: float
    returncode: int
    stdout: str
    stderr: str
    ended_at: float  # time.time() when the process had exited
    max_rss_mb: float | None = None


def run(cmd: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
        ok: tuple[int, ...] = (0, 1)) -> Run:
    start = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=env or child_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    ended = time.time()
    wall = time.perf_counter() - start
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{out[-3000:]}\n{err[-3000:]}")
    return Run(wall, proc.returncode, out, err, ended)


def pytest_cmd(python: Path | str, *args: str) -> list[str]:
    return [str(python), "-m", "pytest", "evals/", "-q", "-p", "no:cacheprovider",
            "--no-feedback", *args]


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def load() -> float:
    return os.getloadavg()[0]


def verdict(name: str, value: float, target: float, unit: str = "s") -> bool:
    ok = value <= target
    print(f"  {'MET ' if ok else 'MISSED'} {name}: {value:.3f} {unit} "
          f"(target <= {target:g} {unit})")
    return ok
