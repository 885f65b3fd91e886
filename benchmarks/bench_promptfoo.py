"""llmops and promptfoo side by side (issue 18, goal 4): the same 200 cases against the same
OpenAI-compatible server (benchmarks/stub_server.py on 127.0.0.1, 200 ms latency), concurrency 16
(ideal 2.5 s), run alternately, each with its reports. Target: `pytest evals/` at most 0.5x
promptfoo's wall time (medians).

promptfoo is installed by this script from the npm registry into a temporary folder (or
--promptfoo-dir, reused), with its telemetry, update check and cache off, and its config and
database in the temporary folder. Each of its tests asks the same prompt as an llmops case and
holds the answer to five assertions, as llmops holds it to five checks: latency, not empty, no
e-mail address and no long digit run (stand-ins for llmops' PII and financial checks, which
promptfoo has no offline equivalent of), and contains freeze or lock. The stub counts the
requests: each tool must ask every case exactly once.

    .venv/bin/python benchmarks/bench_promptfoo.py [--repeat 3] [--python PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evalbench import (
    child_env,
    core_venv,
    load,
    make_project,
    median,
    pytest_cmd,
    run,
    stub_server,
    verdict,
)

PROMPTFOO = "promptfoo@0.121.20"  # the newest line that runs on Node 20 (0.122 needs Node 22)
CASES, LATENCY_MS, CONCURRENCY, TARGET_RATIO = 200, 200, 16, 0.5


def install_promptfoo(where: Path) -> Path:
    binary = where / "node_modules" / ".bin" / "promptfoo"
    if not binary.exists():
        print(f"installing {PROMPTFOO} from the npm registry into {where} ...", flush=True)
        subprocess.run(["npm", "install", "--prefix", str(where), "--no-audit", "--no-fund",
                        "--loglevel=error", PROMPTFOO], check=True, capture_output=True)
    return binary


def promptfoo_env(home: Path) -> dict[str, str]:
    return child_env(
        PROMPTFOO_DISABLE_TELEMETRY="1", PROMPTFOO_DISABLE_UPDATE="1",
        PROMPTFOO_CACHE_ENABLED="false", PROMPTFOO_CONFIG_DIR=str(home / "config"),
        PROMPTFOO_DISABLE_SHARING="1", OPENAI_API_KEY="bench", NO_COLOR="1",
    )


def promptfoo_config(root: Path, url: str, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tests = [{"vars": {"prompt": f"How do I freeze my card? ({root.name} {i})"},
              "assert": [{"type": "icontains-any", "value": ["freeze", "lock"]}]}
             for i in range(n)]
    config = {
        "description": "llmops side by side",
        "prompts": ["{{prompt}}"],
        "providers": [{"id": "openai:chat:stub", "config": {"apiBaseUrl": url,
                                                            "apiKey": "bench"}}],
        "defaultTest": {"assert": [
            {"type": "latency", "threshold": 5000},
            {"type": "javascript", "value": "output.trim().length > 0"},
            {"type": "not-regex", "value": r"[\w.+-]+@[\w-]+\.[\w.]+"},
            {"type": "not-regex", "value": r"\d{8,19}"},
        ]},
        "tests": tests,
    }
    path = root / "promptfooconfig.json"
    path.write_text(json.dumps(config, indent=1))
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--python", default="core",
                    help="interpreter whose llmops runs (default: a venv of the core install)")
    ap.add_argument("--promptfoo-dir", help="reuse (or make) a promptfoo install here")
    a = ap.parse_args()
    python = str(core_venv()) if a.python == "core" else os.path.abspath(a.python)
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(a.promptfoo_dir) if a.promptfoo_dir else Path(tmp) / "promptfoo"
        promptfoo = install_promptfoo(where)
        version = subprocess.run([str(promptfoo), "--version"], capture_output=True, text=True,
                                 env=promptfoo_env(Path(tmp))).stdout.strip()
        walls: dict[str, list[float]] = {"llmops": [], "promptfoo": []}
        with stub_server(LATENCY_MS) as stub:
            run(pytest_cmd(python), make_project(Path(tmp) / "warm", 1, stub.url))  # warm-up
            for r in range(a.repeat):
                for tool in ("llmops", "promptfoo") if r % 2 == 0 else ("promptfoo", "llmops"):
                    before = stub.stats()["answered"]
                    root = Path(tmp) / f"{tool}-{r}"
                    if tool == "llmops":
                        make_project(root, CASES, stub.url, concurrency=CONCURRENCY)
                        took = run(pytest_cmd(python), root, ok=(0,))
                    else:
                        config = promptfoo_config(root, stub.url, CASES)
                        took = run([str(promptfoo), "eval", "-c", str(config), "--no-cache",
                                    "-j", str(CONCURRENCY), "--no-progress-bar", "--no-share",
                                    "-o", str(root / "results.json"),
                                    "-o", str(root / "report.html")],
                                   root, env=promptfoo_env(Path(tmp)), ok=(0,))
                    stats = stub.stats()
                    asked = stats["answered"] - before
                    if asked != CASES or stats["asked_more_than_once"]:
                        raise SystemExit(f"{tool} asked {asked} times for {CASES} cases "
                                         f"({stats['asked_more_than_once']} prompts twice)")
                    walls[tool].append(took.wall_s)
        if not a.promptfoo_dir:
            shutil.rmtree(where, ignore_errors=True)
    ideal = CASES * LATENCY_MS / 1000 / CONCURRENCY
    lo, pf = median(walls["llmops"]), median(walls["promptfoo"])
    print(f"{CASES} cases x {LATENCY_MS} ms, concurrency {CONCURRENCY} (ideal {ideal:.2f} s), "
          f"medians of {a.repeat}, load average {load():.2f}:")
    print(f"  llmops (pytest evals/, every report): {lo:.2f} s  "
          f"{' '.join(f'{w:.2f}' for w in walls['llmops'])}")
    print(f"  promptfoo {version} (eval, JSON and HTML output): {pf:.2f} s  "
          f"{' '.join(f'{w:.2f}' for w in walls['promptfoo'])}")
    ok = verdict("llmops / promptfoo wall time", lo / pf, TARGET_RATIO, "x")
    # No tool can beat the server: CASES answers of LATENCY_MS each, CONCURRENCY at a time, take
    # ceil(CASES / CONCURRENCY) latencies. What each tool adds is its wall time beyond that.
    floor = math.ceil(CASES / CONCURRENCY) * LATENCY_MS / 1000
    print(f"  the server's own time (ceil({CASES}/{CONCURRENCY}) x {LATENCY_MS} ms): {floor:.2f} s;"
          f" 0.5x promptfoo would be {TARGET_RATIO * pf:.2f} s")
    print(f"  added beyond it: llmops {lo - floor:.2f} s, promptfoo {pf - floor:.2f} s "
          f"({(lo - floor) / (pf - floor):.2f}x)")
    if not ok and TARGET_RATIO * pf < floor:
        print("  (the 0.5x target is below the server's own time here: no tool could meet it "
              "against a promptfoo this quick)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
