"""The attack list (issue 14): hostile input is bounded and leaks nothing.

Each attack is one parametrized case, named `<item><letter>-<what>` after the issue's items, with
the bound it is held to. Bounds are asserted on behaviour and values, never on speed: the peak
RSS of a real process (`os.wait4`), the peak of Python allocations (tracemalloc), a process
that must have ended, a count of bytes or requests. Where an attack used to hang for ever, a
generous deadline turns the hang into a failure (the deadline is no speed claim: without the
fix the run never ends at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llmops import scrub
from llmops.cases import load_cases
from llmops.chatbot.server import create_app, serve_in_thread
from llmops.checks import Context, judge
from llmops.cli import main
from llmops.errors import InputError
from llmops.feedback.ingest import import_file
from llmops.feedback.store import FeedbackStore
from llmops.limits import Limits
from llmops.monitoring.wrapper import Monitor
from llmops.pii import redact
from llmops.runner import Exchange
from llmops.schemas import load_schema
from llmops.targets import CommandTarget, PythonTarget
from llmops.textsafe import md_text, one_line, printable
from tests.conftest import REPO

#: A deadline for "the process must have ended": far beyond any honest run here, finite where
#: the attack made the run endless.
ENDS_WITHIN_S = 240
CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.org"
AZURE_KEY = "9f86d081884c7d659a2feaa0c55ad015"  # 32 hex digits: no shape a detector knows
ESC = "\x1b[2J"
IMG = "<img src=https://attacker.example/pixel.png>"


# -- running things under a bound ----------------------------------------------------------------


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float
    ended: bool  # by itself, not by the deadline


def _address_space_cap() -> None:
    # A safety net for the machine, far above every bound asserted: an unbounded attack fails
    # with MemoryError in the child instead of swapping the host.
    cap = 6 << 30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def run_bounded(args: list[str], cwd: Path, *, env: dict[str, str] | None = None,
                deadline: float = ENDS_WITHIN_S) -> Ran:
    """Run a real process; its peak RSS from the kernel (wait4), whether it ended by itself."""
    out, err = cwd / ".out", cwd / ".err"
    full_env = {**os.environ, **(env or {})}
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(args, cwd=cwd, env=full_env, stdout=fo, stderr=fe,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_address_space_cap)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(deadline, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever the process left behind
    return Ran(proc.returncode, out.read_text(errors="replace"), err.read_text(errors="replace"),
               usage.ru_maxrss / 1024, not killed.is_set())


def llmops_cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from llmops.cli import main; sys.exit(main())",
            *args]


def evals(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", "-rA", *args]


def ends_within(fn: Callable[[], Any], seconds: float = ENDS_WITHIN_S) -> Any:
    """Call `fn` in a thread; fail if it has not returned by the deadline."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s: unbounded"
    if "error" in box:
        raise box["error"]
    return box["value"]


def peak_in_child(body: str, deadline: float = 120) -> dict[str, Any]:
    """Run `body` (the inside of `async def attack()`, which returns or raises) in a fresh
    interpreter under tracemalloc: {"error_type", "message", "peak_mb"}. A child of its own, so
    the peak counts the attacked code alone, not a server thread of this test or what earlier
    tests left running in this process (tracemalloc traces every thread)."""
    code = "\n".join([
        "import asyncio, json, sys, tracemalloc",
        "from llmops.limits import Limits",
        "from llmops.targets import CommandTarget, HttpTarget, TargetError",
        "import httpx, zlib  # imported up front: modules are not the answer's memory",
        "async def attack():",
        *("    " + line for line in body.strip().splitlines()),
        "tracemalloc.start()",
        "try:",
        "    asyncio.run(attack())",
        "    out = {'error_type': None, 'message': ''}",
        "except TargetError as exc:",
        "    out = {'error_type': exc.error_type, 'message': str(exc)}",
        "out['peak_mb'] = tracemalloc.get_traced_memory()[1] / 2**20",
        "print(json.dumps(out))",
    ])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=deadline, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[-1])


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def proj(tmp_path: Path) -> Callable[..., Path]:
    """A user's project with evals/ and cases; `python:` bots import from its root."""
    import shutil

    def make(cases: dict[str, str], llmops: str = "", files: dict[str, str] | None = None) -> Path:
        root = tmp_path / "proj"
        if not (root / "evals").exists():
            shutil.copytree(REPO / "evals", root / "evals",
                            ignore=shutil.ignore_patterns("__pycache__"))
        (root / "pyproject.toml").write_text(
            "[tool.llmops]\ncases = 'cases'\ntimeout_s = 5\nretries = 0\n"
            f"feedback = 'feedback/feedback.jsonl'\n{llmops}\n"
        )
        for name, text in {**{f"cases/{k}": v for k, v in cases.items()},
                           **(files or {})}.items():
            p = root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        return root

    return make


GOOD = """
cases:
  - id: survivor
    prompt: How do I freeze my debit card?
"""


def artifacts(root: Path) -> dict[str, str]:
    out = {}
    for p in [*(root / "reports").glob("*"), *(root / "feedback").glob("*")]:
        if p.is_file():
            out[p.name] = p.read_text(errors="replace")
    return out


# -- 1. YAML aliases ---------------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
) + "cases: [*j]\n"


@pytest.mark.parametrize("how", [
    pytest.param("validate", id="1a-alias-bomb-cases-validate-rss<300MB"),
    pytest.param("evals", id="1b-alias-bomb-pytest-evals-rss<400MB-neighbour-runs"),
])
def test_yaml_alias_bomb(how: str, proj: Callable[..., Path]) -> None:
    assert len(BOMB) < 600  # 9^10 references once expanded
    root = proj({"bomb.yaml": BOMB, "good.yaml": GOOD})
    if how == "validate":
        ran = run_bounded(llmops_cli("cases", "validate"), root)
        bound = 300
    else:
        ran = run_bounded(evals("--target", "python:bot:reply"), root)
        bound = 400
    assert ran.ended
    assert ran.max_rss_mb < bound, ran.max_rss_mb
    text = ran.stdout + ran.stderr
    assert "cases/bomb.yaml:2: YAML aliases (*name) are not allowed" in text, text[-3000:]
    assert "INTERNALERROR" not in text
    if how == "evals":
        assert ran.returncode == 1
        doc = json.loads((root / "reports/results.json").read_text())
        assert {r["case_id"] for r in doc["results"]} >= {"survivor", "cases/bomb.yaml"}
    else:
        assert ran.returncode == 2


def test_alias_bomb_in_any_yaml_llmops_reads(tmp_path: Path) -> None:
    """1c (addition): the same bomb as a chatbot version, knowledge base or answers file."""
    from llmops.yamlio import read_yaml

    path = tmp_path / "answers.yaml"
    path.write_text(BOMB)
    with pytest.raises(InputError, match=r"answers.yaml:2: YAML aliases"):
        ends_within(lambda: read_yaml(path))


@pytest.fixture(autouse=True)
def _bot(tmp_path: Path) -> None:
    """A plain python: bot in the project root, for runs that need one."""
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "bot.py").write_text("def reply(messages):\n    return 'Use the app to freeze it.'\n")


# -- 2. depth --------------------------------------------------------------------------------


def nested_not(depth: int) -> str:
    """A json_schema of `depth` nested `not`s, as YAML flow text (300 of them are 2.8 KB)."""
    return "{not: " * depth + "{type: string}" + "}" * depth


@pytest.mark.parametrize("depth", [
    pytest.param(300, id="2a-json-schema-300-nested-not-is-a-case-error"),
    pytest.param(900, id="2a+-json-schema-900-nested-not-is-a-file-error"),
])
def test_deep_json_schema_costs_only_its_case(depth: int, tmp_path: Path) -> None:
    (tmp_path / "deep.yaml").write_text(
        "cases:\n  - id: ok\n    prompt: hi\n  - id: deep\n    prompt: hi\n    expect:\n"
        f"      json_schema: {nested_not(depth)}\n")
    (tmp_path / "good.yaml").write_text(GOOD)
    loaded = ends_within(lambda: load_cases([tmp_path]))
    [err] = loaded.errors
    assert err.file.endswith("deep.yaml")
    if depth == 300:  # only its case is lost, with the json_schema's line
        assert sorted(c.id for c in loaded.cases) == ["ok", "survivor"]
        assert err.line == 7
        assert f"json_schema nests deeper than {Limits.max_json_depth} levels" in err.message
    else:  # a file this deep is no case file; its neighbours still load
        assert [c.id for c in loaded.cases] == ["survivor"]
        assert "nested deeper than" in err.message


def test_deep_yaml_document_is_a_file_error(tmp_path: Path) -> None:
    """2b+ (addition): a case file that is 100,000 brackets deep."""
    (tmp_path / "deep.yaml").write_text("cases: " + "[" * 100_000 + "]" * 100_000 + "\n")
    (tmp_path / "good.yaml").write_text(GOOD)
    loaded = ends_within(lambda: load_cases([tmp_path]))
    assert [c.id for c in loaded.cases] == ["survivor"]
    assert len(loaded.errors) == 1 and loaded.errors[0].file.endswith("deep.yaml")


@pytest.mark.parametrize("layout", [
    pytest.param("jsonl", id="2b-feedback-import-10000-deep-line-is-record-N"),
    pytest.param("jsonl-300", id="2b+-feedback-import-300-deep-line-is-record-N"),
    pytest.param("array", id="2b+-feedback-import-deep-array-is-exit-2"),
])
def test_deep_feedback_import(layout: str, tmp_path: Path) -> None:
    depth = 300 if layout == "jsonl-300" else 10_000
    deep = '{"prompt": "x", "rating": "up", "comment": ' + "[" * depth + "]" * depth + "}"
    good = json.dumps({"prompt": "how do I freeze my card?", "rating": "down"})
    path = tmp_path / "in.jsonl"
    store = FeedbackStore(tmp_path / "fb.jsonl")
    if layout == "array":
        path.write_text("[" + good + ", " + deep + "]")
        with pytest.raises(InputError, match="nested too deeply"):
            import_file(path, store, redact=redact)
        return
    path.write_text(good + "\n" + deep + "\n" + good.replace("down", "up") + "\n")
    report = import_file(path, store, redact=redact)
    assert report.added == 2
    [why] = report.invalid
    assert "record 2:" in why and ("nested" in why)


def test_deep_json_answer_fails_its_check() -> None:
    """2c (addition): an answer nested 100,000 deep against a json_schema check."""
    [case] = _case({"json_schema": {"type": "object"}})
    ex = Exchange(messages=[], response="[" * 100_000 + "]" * 100_000, latency_ms=1.0)
    verdict = ends_within(lambda: judge("json_schema", case, ex, Context()))
    assert not verdict.passed and "nests deeper than" in verdict.message


# -- 3. patterns -----------------------------------------------------------------------------


def _case(expect: dict[str, Any], tmp: Path | None = None) -> list[Any]:
    import tempfile

    d = Path(tmp or tempfile.mkdtemp())
    (d / "c.yaml").write_text(json.dumps({"cases": [{"id": "c", "prompt": "p", "expect": expect}]}))
    loaded = load_cases([d / "c.yaml"])
    assert not loaded.errors, loaded.errors
    return loaded.cases


@pytest.mark.parametrize(("key", "expect", "answer"), [
    pytest.param("regex", {"regex": "(a+)+$"}, "a" * 50_000 + "!",
                 id="3a-regex-(a+)+$-on-50k-chars-ends"),
    pytest.param("not_regex", {"not_regex": "(x+x+)+y"}, "x" * 50_000 + "y",
                 id="3a+-not-regex-(x+x+)+y-ends"),
    pytest.param("json_schema", {"json_schema": {"type": "string", "pattern": "^(a+)+$"}},
                 json.dumps("a" * 50_000 + "!"), id="3b-json-schema-pattern-ends"),
    pytest.param("json_schema", {"json_schema": {"type": "object",
                                                 "patternProperties": {"^(a+)+$": {}},
                                                 "additionalProperties": False}},
                 json.dumps({"a" * 50_000 + "!": 1}), id="3b+-pattern-properties-ends"),
])
def test_backtracking_patterns_run_in_linear_time(key: str, expect: dict[str, Any],
                                                  answer: str) -> None:
    [case] = _case(expect)
    ex = Exchange(messages=[], response=answer, latency_ms=1.0)
    verdict = ends_within(lambda: judge(key, case, ex, Context()), 60)
    assert not verdict.passed


@pytest.mark.parametrize(("pattern", "why"), [
    pytest.param(r"(a)\1", "backreferences are not supported", id="3c-backreference-refused"),
    pytest.param(r"foo(?=bar)", "lookahead is not supported", id="3c-lookahead-refused"),
])
def test_unsupported_patterns_are_case_errors(pattern: str, why: str, tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(f"cases:\n  - id: c\n    prompt: p\n    expect:\n"
                                     f"      regex: '{pattern}'\n")
    [err] = load_cases([tmp_path]).errors
    assert err.line == 5 and why in err.message and "RE2" in err.message


def test_validate_warns_on_backtracking_patterns(proj: Callable[..., Path],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """3d: `cases validate` says which patterns would backtrack elsewhere; exit 0 still."""
    root = proj({"c.yaml": "cases:\n  - id: c\n    prompt: p\n    expect:\n"
                           "      regex: '(a+)+$'\n"})
    monkeypatch.chdir(root)
    assert main(["cases", "validate"]) == 0
    err = capsys.readouterr().err
    assert "cases/c.yaml:5: warning: case 'c': regex '(a+)+$' has a repeat nested in a repeat" \
        in err


# -- 4. remote references --------------------------------------------------------------------


@pytest.fixture
def secret_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server holding a 'secret' schema; it records every request it gets."""
    hits: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        hits.append(scope["path"])
        body = json.dumps({"const": "TOP-SECRET-VALUE"}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    with serve_in_thread(app) as url:
        yield url.removesuffix("/v1"), hits


@pytest.mark.parametrize("ref", [
    pytest.param("{server}/secret.json", id="4a-ref-http-refused-never-fetched"),
    pytest.param("file:///etc/passwd", id="4b-ref-file-refused"),
    pytest.param("{server}/x.json#/defs", id="4a+-ref-http-with-fragment-refused"),
])
def test_remote_refs_are_refused_and_never_fetched(ref: str, secret_server: Any,
                                                   tmp_path: Path) -> None:
    server, hits = secret_server
    schema = {"$ref": ref.format(server=server)}
    (tmp_path / "c.yaml").write_text(json.dumps(
        {"cases": [{"id": "c", "prompt": "p", "expect": {"json_schema": schema}}]}))
    loaded = load_cases([tmp_path])
    assert not loaded.cases
    assert "only local references" in loaded.errors[0].message
    # Even a validator built around the check (a schema that skipped validation) fetches nothing.
    from llmops import userschema

    with pytest.raises(Exception):  # noqa: B017 - referencing's Unresolvable, whatever its name
        list(userschema.validator(schema).iter_errors({}))
    assert hits == []


# -- 5. answer size --------------------------------------------------------------------------


@pytest.fixture
def endless_server() -> Iterator[str]:
    """A chat-completions endpoint whose body never ends (64 KB chunks, for ever)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        chunk = b" " * (64 << 10)
        await send({"type": "http.response.body", "body": b'{"choices": [', "more_body": True})

        async def hung_up() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        gone = asyncio.ensure_future(hung_up())
        # For ever, as far as the client can tell; it stops once the client is gone (uvicorn's
        # send to a closed connection returns at once: without this the loop spun a core for
        # the rest of the test session, and the server never shut down).
        while not gone.done():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(0)

    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def gzip_bomb_server() -> Iterator[str]:
    """An answer that is 200 KB on the wire and 200 MB once inflated."""
    bomb = gzip.compress(b'{"choices": [' + b" " * (200 << 20), compresslevel=9)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-encoding", b"gzip")]})
        for i in range(0, len(bomb), 16384):
            await send({"type": "http.response.body", "body": bomb[i:i + 16384],
                        "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with serve_in_thread(app) as url:
        yield url


@pytest.mark.parametrize("server", [
    pytest.param("endless_server", id="5a-http-endless-body-too_large-peak<4xlimit"),
    pytest.param("gzip_bomb_server", id="5a+-http-gzip-bomb-too_large-peak<4xlimit"),
])
def test_http_answer_is_capped(server: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(server)
    out = peak_in_child(f"""
target = HttpTarget({url!r}, model="m", limits=Limits(max_answer_bytes=2 << 20))
try:
    return await target.ask([{{"role": "user", "content": "hi"}}])
finally:
    await target.aclose()
""")
    assert out["error_type"] == "too_large", out
    assert "max_answer_bytes" in out["message"]
    assert out["peak_mb"] < 4 * 2, out  # MB: a few copies of the 2 MB limit at most


def _pid_bot(tmp_path: Path, body: str) -> tuple[Path, Path]:
    """A shell bot that writes its own pid and its child's, then does `body`."""
    pids = tmp_path / "pids"
    script = tmp_path / "bot.sh"
    script.write_text(f"#!/bin/sh\necho $$ >> {pids}\n{body}\n")
    script.chmod(0o755)
    return script, pids


def test_cmd_endless_output_is_capped(tmp_path: Path) -> None:
    """5b: `cmd:yes`: too_large at the limit, and `yes` is gone."""
    script, pids = _pid_bot(tmp_path, "exec yes")
    out = peak_in_child(f"""
target = CommandTarget({str(script)!r}, limits=Limits(max_answer_bytes=1 << 20))
return await target.ask([{{"role": "user", "content": "hi"}}])
""")
    assert out["error_type"] == "too_large", out
    assert out["peak_mb"] < 8, out
    assert not any(alive(int(p)) for p in pids.read_text().split())


# -- 6. hung bots ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    pytest.param("sleep 300 & echo $! >> {pids}; wait",
                 id="6a-cmd-child-of-the-shell-killed-with-its-group"),
    pytest.param("trap '' TERM; sleep 300 & echo $! >> {pids}; wait",
                 id="6a-cmd-ignoring-SIGTERM-gets-SIGKILL"),
    pytest.param("(trap '' TERM; exec sleep 300) & echo $! >> {pids}; exec sleep 300",
                 id="6a+-cmd-grandchild-ignoring-SIGTERM"),
])
def test_hung_command_leaves_no_process(body: str, tmp_path: Path) -> None:
    script, pids = _pid_bot(tmp_path, body.format(pids=tmp_path / "pids"))
    target = CommandTarget(str(script), limits=Limits(kill_grace_s=0.5))

    async def ask() -> Any:
        return await asyncio.wait_for(target.ask([{"role": "user", "content": "hi"}]), 5.0)

    with pytest.raises(asyncio.TimeoutError):
        ends_within(lambda: asyncio.run(ask()), 60)
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2
    assert [p for p in started if alive(p)] == []


def test_hung_cmd_run_ends_and_leaves_no_orphan(proj: Callable[..., Path], tmp_path: Path) -> None:
    """6b: `pytest evals/ --target "cmd:sleep 300" --timeout 2`: the run ends, sleep is gone."""
    root = proj({"good.yaml": GOOD})
    pids = tmp_path / "evalpids"
    ran = run_bounded(evals("--target", f"cmd:sleep 300 & echo $! >> {pids}; wait",
                            "--timeout", "2"), root)
    assert ran.ended and ran.returncode == 1
    assert "the target failed (timeout)" in ran.stdout
    assert [p for p in map(int, pids.read_text().split()) if alive(p)] == []


def test_ctrl_c_kills_the_bots_process_groups(tmp_path: Path) -> None:
    """6a+ (issue 13 item 3): Ctrl-C while two `cmd:` bots run leaves neither running."""
    pids = tmp_path / "intpids"
    bot = f"echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; wait"
    script = (
        "import asyncio, sys\n"
        "from llmops.targets import CommandTarget\n"
        "target = CommandTarget(sys.argv[1])\n"
        "async def main():\n"
        "    await asyncio.gather(*(target.ask([{'role': 'user', 'content': 'hi'}])"
        " for _ in range(2)))\n"
        "asyncio.run(main())\n"
    )
    with open(tmp_path / "int.out", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", script, bot], cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(ENDS_WITHIN_S * 10):  # until both bots have started their sleep
            if pids.exists() and len(pids.read_text().split()) >= 4:
                break
            time.sleep(0.1)
        started = [int(p) for p in pids.read_text().split()]
        assert len(started) == 4 and all(alive(p) for p in started)
        proc.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends
        try:
            proc.wait(ENDS_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail("it did not end after Ctrl-C:\n"
                        + (tmp_path / "int.out").read_text(errors="replace")[-3000:])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert "KeyboardInterrupt" in (tmp_path / "int.out").read_text()
    assert [p for p in started if alive(p)] == []


def test_cancelled_at_any_step_of_a_cmd_bots_start_leaves_nothing(tmp_path: Path) -> None:
    """6a+: a cancellation (Ctrl-C, a timeout) can land while the bot's process is starting.
    asyncio's own clean-up then kills the shell alone and waits for its pipes, which the shell's
    `sleep` holds open: the run hung for 300 s. Cancel at every step of the start in turn."""
    pids = tmp_path / "pids"
    target = CommandTarget(f"echo $$ >> {pids}; sleep 300 & echo $! >> {pids}; wait")

    # every turn of the event loop for the first 40, then later and later in real time (on a
    # quick machine 40 turns end before the shell has run a line)
    delays = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]
    steps = [(n, 0.0) for n in range(40)] + [(0, d) for d in delays]

    async def sweep() -> list[tuple[int, float]]:
        done = []
        for turns, delay in steps:
            task = asyncio.ensure_future(target.ask([{"role": "user", "content": "hi"}]))
            for _ in range(turns):
                await asyncio.sleep(0)
            if delay:
                await asyncio.sleep(delay)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            done.append((turns, delay))
        return done

    assert ends_within(lambda: asyncio.run(sweep()), 200) == steps
    started = [int(p) for p in pids.read_text().split()] if pids.exists() else []
    assert started, "no step reached the bot: the sweep tested nothing"
    assert [p for p in started if alive(p)] == []


def test_cmd_bots_default_to_one_process_per_core() -> None:
    """Issue 13 item 3: concurrency 8 on 2 cores queued the bot's processes on the CPU and
    counted the wait as its latency; a cmd: target asks as many at once as there are cores
    (an explicit --concurrency still wins: the plugin takes this only when none is given)."""
    assert CommandTarget("true").preferred_concurrency == len(os.sched_getaffinity(0))


def test_blocked_sync_python_target_is_abandoned(proj: Callable[..., Path]) -> None:
    """6c: a sync python: target blocked for ever: the run ends and says so."""
    root = proj({"good.yaml": GOOD}, files={
        "stuck.py": "import threading\n\ndef reply(messages):\n"
                    "    threading.Event().wait()\n"})
    ran = run_bounded(evals("--target", "python:stuck:reply", "--timeout", "1"), root)
    assert ran.ended, "the run waited for the blocked thread"
    assert ran.returncode == 1
    assert "could not be stopped and were abandoned" in ran.stdout
    doc = json.loads((root / "reports/results.json").read_text())
    assert doc["run"]["abandoned"] == 1
    jsonschema.validate(doc, load_schema("results"))
    assert {r["error_type"] for r in doc["results"]} == {"timeout"}


def test_python_target_thread_does_not_block_the_loop() -> None:
    """6c (unit): the abandoned call counts; a later call still answers."""
    import types

    gate = threading.Event()
    mod = types.ModuleType("hostile_stuck")
    mod.reply = lambda m: (gate.wait(), "late")[1]  # type: ignore[attr-defined]
    mod.fast = lambda m: "fast"  # type: ignore[attr-defined]
    sys.modules["hostile_stuck"] = mod
    target = PythonTarget("hostile_stuck:reply")

    async def ask() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(target.ask([]), 0.2)

    asyncio.run(ask())
    gate.set()
    assert target.abandoned == 1
    assert asyncio.run(PythonTarget("hostile_stuck:fast").ask([])).text == "fast"


# -- 7. monitoring logs ----------------------------------------------------------------------


def event(ts: str, status: str = "ok", version: str = "v1") -> dict[str, Any]:
    return {"timestamp": ts, "event_id": "e", "conversation_id": "c", "chatbot_version": version,
            "target": "t", "latency_ms": 10.0, "status": status,
            "error_type": "timeout" if status == "error" else None, "slow": False,
            "pii_types": [], "prompt_redacted": "p", "response_redacted": "r"}


def recent(minutes_ago: float = 5) -> str:
    from datetime import datetime, timedelta, timezone

    t = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_huge_log_line_is_skipped_with_bounded_memory(tmp_path: Path) -> None:
    """7a: one 64 MB line (an emoji in it) costs a bad line, not ten times its size."""
    normal = tmp_path / "normal.jsonl"
    normal.write_text("".join(json.dumps(event(recent(i))) + "\n" for i in range(30)))
    huge = tmp_path / "huge.jsonl"
    with open(huge, "w", encoding="utf-8") as f:
        f.write(normal.read_text())
        big = event(recent())
        big["prompt_redacted"] = "😀" + "x" * (64 << 20)
        f.write(json.dumps(big, ensure_ascii=False) + "\n")
    base = run_bounded(llmops_cli("monitor", "summarize", str(normal), "--json"), tmp_path)
    ran = run_bounded(llmops_cli("monitor", "summarize", str(huge), "--json"), tmp_path)
    assert base.returncode == ran.returncode == 0, ran.stderr[-2000:]
    assert f"{huge}:31: line longer than {Limits.max_log_line_bytes} bytes" in ran.stderr
    assert json.loads(ran.stdout)["events"] == 30
    assert ran.max_rss_mb - base.max_rss_mb < 24, (ran.max_rss_mb, base.max_rss_mb)


@pytest.mark.parametrize("stamp", [
    pytest.param("9999-12-31T23:59:59Z", id="7b-year-9999-is-a-bad-line-html-ok"),
    pytest.param("0001-01-01T00:00:00Z", id="7c-year-1-is-a-bad-line-html-ok"),
    pytest.param("2200-01-01T00:00:00Z", id="7b+-year-2200-is-a-bad-line"),
])
def test_implausible_timestamps_are_bad_lines(stamp: str, tmp_path: Path) -> None:
    log = tmp_path / "m.jsonl"
    lines = [event(recent(i)) for i in range(30)] + [event(stamp)]
    log.write_text("".join(json.dumps(e) + "\n" for e in lines))
    ran = run_bounded(llmops_cli("monitor", "summarize", str(log), "--html",
                                 str(tmp_path / "m.html")), tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "Traceback" not in ran.stderr
    assert f"{log}:31: timestamp" in ran.stderr
    assert (tmp_path / "m.html").is_file()


def test_far_future_event_does_not_hide_real_alerts(tmp_path: Path) -> None:
    """7d: `--since 2h` counts back from now: a 2099 event hides nothing."""
    log = tmp_path / "m.jsonl"
    (tmp_path / "pyproject.toml").write_text("[tool.llmops.monitor]\nmax_error_rate = 0.1\n"
                                             "alert_min_requests = 5\n")
    lines = [event(recent(i), status="error") for i in range(30)]
    lines.append(event("2099-01-01T00:00:00Z"))
    log.write_text("".join(json.dumps(e) + "\n" for e in lines))
    ran = run_bounded(llmops_cli("monitor", "summarize", str(log), "--since", "2h", "--json"),
                      tmp_path)
    assert ran.returncode == 1, ran.stderr[-2000:]  # the alert fires
    doc = json.loads(ran.stdout)
    assert doc["events"] == 30
    assert doc["alerts"] and doc["alerts"][0]["metric"] == "error_rate"


# -- 8. slowloris ----------------------------------------------------------------------------


@pytest.mark.parametrize(("slow", "limit"), [
    pytest.param(30, 1000, id="8-slowloris-30-trickling-all-closed-by-the-request-timeout"),
    pytest.param(60, 20, id="8-slowloris-60-over-a-limit-of-20-all-closed"),
])
def test_slow_connections_are_closed_by_the_server(slow: int, limit: int) -> None:
    """Connections that trickle header lines and never finish a request: the server closes
    every one (EOF or reset; a socket still open when its generous wait ends counts as open),
    and answers a normal request afterwards."""
    import httpx

    limits = Limits(server_header_timeout_s=0.5, server_max_connections=limit)
    with serve_in_thread(create_app("v1"), limits=limits) as url:
        host, port = url.split("//")[1].split("/")[0].split(":")
        socks = []
        for _ in range(slow):
            s = socket.create_connection((host, int(port)))
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        outcomes = []
        for s in socks:
            s.settimeout(60)  # the server's bound is 0.5 s; a hang would end here, as "open"
            try:
                with contextlib.suppress(OSError):
                    s.sendall(b"X-Trickle: 1\r\n")
                outcomes.append("closed" if s.recv(1024) == b"" else "answered")
            except ConnectionResetError:
                outcomes.append("closed")
            except TimeoutError:
                outcomes.append("open")
            s.close()
        assert outcomes == ["closed"] * slow
        reply = httpx.post(f"{url}/chat/completions", json={
            "model": "v1", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
        assert reply.status_code == 200


# -- 9-12. leaks and injections into artifacts -------------------------------------------------


@dataclass
class Echo:
    url: str
    requests: list[dict[str, Any]]


@pytest.fixture
def echo_server() -> Iterator[Echo]:
    """A hostile OpenAI-compatible server: it echoes the Authorization header in its answers,
    and in a 4xx body with terminal escapes and HTML for prompts that say 'fail'."""
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        seen.append({"path": scope["path"], "auth": auth})
        prompt = json.loads(body or b"{}").get("messages", [{}])[-1].get("content", "")
        if "fail" in prompt:
            status = 401
            out = {"error": {"message": f"bad key {auth} {ESC} {IMG} \r\x1b]8;;http://x\x07"}}
        else:
            status = 200
            out = {"choices": [{"message": {"role": "assistant",
                                            "content": f"Your key is {auth}. Freeze it."}}],
                   "model": f"m-{auth}"}
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(out).encode()})

    with serve_in_thread(app) as url:
        yield Echo(url, seen)


LEAKY_CASES = """
cases:
  - id: echo
    prompt: How do I freeze my card?
  - id: fails
    prompt: please fail
"""
MALFORMED = f"""
cases:
  - id: bad
    prompt: ["card {CARD}, mail {EMAIL}"]
    expect: {{contains: "{CARD}"}}
"""


def test_secrets_pii_and_escapes_reach_no_artifact(proj: Callable[..., Path], echo_server: Echo,
                                                    tmp_path: Path) -> None:
    """9, 10, 12: a malformed case file holding PII, a 32-hex key echoed by the server, ANSI
    escapes and <img> in a 4xx body: none of them raw in results.json, junit.xml, report.html,
    feedback, the terminal, the gate's output, its annotations or the job summary."""
    root = proj({"leaky.yaml": LEAKY_CASES, "malformed.yaml": MALFORMED})
    summary = tmp_path / "summary.md"
    env = {"LLMOPS_API_KEY": AZURE_KEY, "GITHUB_STEP_SUMMARY": str(summary),
           "GITHUB_ACTIONS": "true"}
    ran = run_bounded(evals("--target", echo_server.url, "--model", "m"), root, env=env)
    assert ran.returncode == 1, ran.stdout[-3000:]
    assert any(r["auth"] == f"Bearer {AZURE_KEY}" for r in echo_server.requests)
    gate_run = run_bounded(llmops_cli("gate"), root, env=env)
    assert gate_run.returncode == 1
    outputs = {**artifacts(root), "terminal": ran.stdout + ran.stderr,
               "gate": gate_run.stdout + gate_run.stderr, "summary": summary.read_text()}
    assert {"results.json", "junit.xml", "report.html"} <= set(outputs)
    digits = CARD.replace(" ", "")
    for name, text in outputs.items():
        assert AZURE_KEY not in text, name
        assert CARD not in text and digits not in text, name
        assert EMAIL not in text, name
        assert "\x1b" not in text, name
        assert "\r" not in text.replace("\r\n", "\n"), name
    assert "<img" not in outputs["summary"]
    assert "::error " in outputs["gate"]  # the annotations were printed, and held nothing


def test_a_users_own_eval_test_cannot_leak_the_key(proj: Callable[..., Path]) -> None:
    """10+/12+ (addition): an exception of the user's own eval test quoting the key, with
    escapes: scrubbed and neutralised in the terminal, junit.xml and report.html."""
    root = proj({"good.yaml": GOOD}, files={"evals/test_mine.py": (
        "import os\n\ndef test_mine(llmops_session):\n"
        "    raise AssertionError('key ' + os.environ['LLMOPS_API_KEY'] + ' \\x1b[2J')\n")})
    ran = run_bounded(evals("--target", "python:bot:reply"), root,
                      env={"LLMOPS_API_KEY": AZURE_KEY})
    assert ran.returncode == 1
    assert "test_mine" in ran.stdout
    for name, text in {**artifacts(root), "terminal": ran.stdout + ran.stderr}.items():
        assert AZURE_KEY not in text and "\x1b" not in text, name


def test_key_in_url_and_query_is_scrubbed(proj: Callable[..., Path], echo_server: Echo) -> None:
    """10+ (addition): credentials in the target URL (user:KEY@, ?api-key=KEY)."""
    root = proj({"leaky.yaml": LEAKY_CASES})
    host = echo_server.url.split("//")[1]
    secret = "hunter2-" + AZURE_KEY[:12]
    url = f"http://bot:{secret}@{host}?api-key={AZURE_KEY}"
    ran = run_bounded(evals("--target", url, "--model", "m"), root)
    assert ran.ended
    for name, text in {**artifacts(root), "terminal": ran.stdout}.items():
        assert secret not in text and AZURE_KEY not in text, name


def test_feedback_fields_are_redacted_or_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """11a: PII and keys in case_id, suite, commit, event_id, conversation_id,
    chatbot_version, id: stored redacted or refused; `feedback stats` prints no key."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMOPS_API_KEY", AZURE_KEY)
    (tmp_path / "pyproject.toml").write_text("[tool.llmops]\n")
    records = [
        {"prompt": "hi", "rating": "down", "case_id": EMAIL, "suite": f"s {CARD}",
         "event_id": EMAIL, "conversation_id": EMAIL, "chatbot_version": f"v-{AZURE_KEY}"},
        {"prompt": "hi", "rating": "up", "commit": EMAIL},
        {"prompt": "hi", "rating": "up", "id": CARD.replace(" ", "")},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["feedback", "import", str(src)]) in (0, 1, 2)
    out = capsys.readouterr()
    stored = (tmp_path / "feedback/feedback.jsonl").read_text()
    assert len(stored.splitlines()) == 1
    assert main(["feedback", "stats"]) == 0
    stats = capsys.readouterr().out
    for text in (stored, stats, out.out, out.err):
        assert EMAIL not in text and AZURE_KEY not in text
        assert CARD not in text and CARD.replace(" ", "") not in text
    assert "record 2: commit" in out.err and "record 3: id: holds personal data" in out.err


def test_monitor_record_fields_are_redacted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """11b: Monitor.record's target (user:KEY@), conversation_id (an e-mail), version."""
    monkeypatch.setenv("LLMOPS_API_KEY", AZURE_KEY)
    scrub.reset()
    mon = Monitor(tmp_path / "logs")
    try:
        mon.record(prompt="hi", response=f"key {AZURE_KEY}", latency_ms=5.0,
                   target=f"https://user:{AZURE_KEY}@bot.example/v1?token={AZURE_KEY}",
                   chatbot_version=f"v1-{AZURE_KEY}", conversation_id=EMAIL,
                   model=f"m-{AZURE_KEY}")
    finally:
        mon.close()
        scrub.reset()
    for name in ("monitoring.jsonl", "monitoring.log"):
        text = (tmp_path / "logs" / name).read_text()
        assert AZURE_KEY not in text and EMAIL not in text, name
        assert "bot.example" in text


def test_rollback_reason_and_results_reach_the_terminal_neutralised(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """12b, 12c: a rollback reason (`llmops releases`) and a results file (`llmops gate`)
    with escapes and bidi overrides."""
    from tests.test_gate import record, results, write

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for args in (["config", "user.name", "t"], ["config", "user.email", "t@example.com"],
                 ["commit", "-q", "--allow-empty", "-m", "c"],
                 ["tag", "-a", "rollback-1", "-m", f"rollback-1: {ESC}\u202eevil\rspoof"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    (repo / "pyproject.toml").write_text("[tool.llmops]\n")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert main(["releases"]) == 0
    out = capsys.readouterr().out
    assert "rollback-1" in out and "evil" in out
    assert "\x1b" not in out and "\u202e" not in out and "\r" not in out
    bad = record("x", "contains", "failed", message=f"{ESC}{IMG}\u202e")
    write(repo / "r.json", results([bad]))
    assert main(["gate", "r.json", "--annotations", "always"]) == 1
    out = capsys.readouterr()
    assert "\x1b" not in out.out + out.err and "\u202e" not in out.out + out.err


# -- the sanitizer and scrubber themselves ---------------------------------------------------


@pytest.mark.parametrize("text", [
    pytest.param(f"a{ESC}b", id="12-ansi-csi"),
    pytest.param("a\x1b]8;;http://x\x07link\x1b]8;;\x07", id="12-osc8-hyperlink"),
    pytest.param("ok\rFAKE", id="12-carriage-return-overwrite"),
    pytest.param("abc\u202efed", id="12-bidi-override"),
    pytest.param("a\x9b2Jb", id="12-c1-csi"),
    pytest.param("zero\u200bwidth", id="12-zero-width"),
])
def test_printable_neutralises(text: str) -> None:
    for out in (printable(text), one_line(text), md_text(text)):
        assert not any(c in out for c in "\x1b\r\x07\u202e\x9b\u200b")
    assert json.loads(json.dumps(text)) == text  # the escapes are JSON's own: lossless there
    assert json.loads('"' + printable(text) + '"') == text


def test_markdown_escapes_html() -> None:
    assert "<img" not in md_text(IMG) and "&lt;img" in md_text(IMG)
    assert "[x](http://y)" not in md_text("[x](http://y)")


@pytest.mark.parametrize("secret", [
    pytest.param(AZURE_KEY, id="10-32-hex"),
    pytest.param("short-but-8", id="10-any-format"),
    pytest.param("p@ss/word+=", id="10-url-encoded-too"),
])
def test_scrub_by_value(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.parse import quote

    monkeypatch.setenv("MY_SERVICE_API_KEY", secret)
    scrub.reset()
    try:
        text = f"a {secret} b {quote(secret, safe='')} c"
        assert secret not in scrub.text(text) and quote(secret, safe="") not in scrub.text(text)
        doc = scrub.deep({"k": [text, {secret: 1}]})
        assert secret not in json.dumps(doc)
    finally:
        monkeypatch.delenv("MY_SERVICE_API_KEY")
        scrub.reset()


def test_case_file_errors_are_redacted(tmp_path: Path) -> None:
    """9 (unit): the loader's messages quote the file; they are redacted."""
    (tmp_path / "m.yaml").write_text(MALFORMED)
    [err] = load_cases([tmp_path]).errors
    assert CARD not in str(err) and EMAIL not in str(err)
    assert "<CREDIT_CARD>" in str(err) or "<EMAIL_ADDRESS>" in str(err)


def test_limits_are_settings(tmp_path: Path) -> None:
    from llmops.config import load_config

    (tmp_path / "pyproject.toml").write_text("[tool.llmops.limits]\nmax_answer_bytes = 1000\n")
    assert load_config(tmp_path).limits.max_answer_bytes == 1000
    (tmp_path / "pyproject.toml").write_text("[tool.llmops.limits]\nmax_answr_bytes = 1\n")
    with pytest.raises(InputError, match="unknown key 'max_answr_bytes'"):
        load_config(tmp_path)
