"""Generation settings (`[tool.llmops.generation]`, a case's `generation:`) and how the HTTP target
sends them and reads the answer: streamed as server-sent events, with its size cap, its time to
first token and its finish reason, and closed when the runner gives up on it. Against real
servers on 127.0.0.1: a recording server (it keeps each request body and answers with the events
a test scripts), and the reference chatbot's."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llmops.cases import load_cases
from llmops.config import load_config
from llmops.errors import InputError
from llmops.generation import Generation
from llmops.limits import Limits
from llmops.runner import RetryPolicy, ask, ask_all
from llmops.schemas import load_schema
from llmops.targets import HttpTarget, TargetError
from tests.conftest import run_evals

MSG = [{"role": "user", "content": "How do I freeze my card?"}]


# -- configuration and cases ----------------------------------------------------------------------


def _config(tmp_path: Path, table: str) -> Any:
    (tmp_path / "pyproject.toml").write_text(f"[tool.llmops]\n{table}\n")
    return load_config(tmp_path)


def test_the_default_bounds_the_answer_and_streams(tmp_path: Path) -> None:
    gen = _config(tmp_path, "").generation
    assert gen == Generation() and gen.body() == {"max_tokens": 256}
    assert gen.record() == {"max_tokens": 256, "stream": True}


def test_configured_settings_become_request_fields(tmp_path: Path) -> None:
    gen = _config(tmp_path, """
[tool.llmops.generation]
max_tokens = 64
temperature = 0
seed = 7
stop = ["\\nUser:"]
stream = false
[tool.llmops.generation.extra_body]
top_p = 0.9
response_format = {type = "text"}
""").generation
    assert gen.body() == {"max_tokens": 64, "temperature": 0.0, "seed": 7, "stop": ["\nUser:"],
                          "top_p": 0.9, "response_format": {"type": "text"}}
    assert gen.stream is False
    assert _config(tmp_path, "[tool.llmops.generation]\nmax_tokens = 0").generation.body() == {}


@pytest.mark.parametrize(("table", "why"), [
    ("max_token = 5", "unknown key 'max_token'"),
    ("max_tokens = -1", "max_tokens must be an integer >= 0"),
    ("max_tokens = 1.5", "max_tokens must be an integer >= 0"),
    ("temperature = 3", "temperature must be a number from 0 to 2"),
    ("temperature = true", "temperature must be a number from 0 to 2"),
    ("seed = 'x'", "seed must be an integer"),
    ("stop = ['']", "stop must be a string or a list of non-empty strings"),
    ("stream = 1", "stream must be true or false"),
    ("extra_body = {model = 'x'}", "extra_body may not set 'model'"),
    ("extra_body = {max_tokens = 5}", "extra_body may not set 'max_tokens' (llmops sets it, or "
                                      "use the key of its own)"),
])
def test_a_bad_setting_is_an_error_naming_the_file_and_key(tmp_path: Path, table: str,
                                                            why: str) -> None:
    with pytest.raises(InputError) as err:
        _config(tmp_path, f"[tool.llmops.generation]\n{table}")
    assert f"pyproject.toml: [tool.llmops.generation]: {why}" in str(err.value)


CASES = """
defaults:
  generation: {temperature: 0.5, extra_body: {top_p: 0.9, top_k: 40}}
cases:
  - id: short
    prompt: Tell me about savings accounts.
    generation: {max_tokens: 3, stop: END, extra_body: {top_k: 1}}
  - id: plain
    prompt: How do I freeze my card?
"""


def test_a_case_overrides_the_configuration_key_by_key(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CASES)
    loaded = load_cases([tmp_path / "c.yaml"])
    assert loaded.errors == []
    short, plain = loaded.cases
    assert short.generation == {"temperature": 0.5, "max_tokens": 3, "stop": "END",
                                "extra_body": {"top_p": 0.9, "top_k": 1}}
    config = Generation(max_tokens=100, seed=1, extra_body={"presence_penalty": 0.1})
    assert config.merged(short.generation).body() == {
        "presence_penalty": 0.1, "top_p": 0.9, "top_k": 1, "max_tokens": 3,
        "temperature": 0.5, "seed": 1, "stop": ["END"]}
    assert config.merged(plain.generation).body()["max_tokens"] == 100
    # a case's settings are part of what it is (its digest); a case without any keeps its own
    assert short.canonical()["generation"] == short.generation
    (tmp_path / "d.yaml").write_text("cases:\n  - id: x\n    prompt: hi\n")
    assert "generation" not in load_cases([tmp_path / "d.yaml"]).cases[0].canonical()


@pytest.mark.parametrize(("snippet", "line", "why"), [
    ("    generation: {max_tokens: many}\n", 4, "generation.max_tokens: 'many' is not of type "
                                             "'integer'"),
    ("    generation:\n      temperature: 9\n", 5, "generation.temperature: 9 is greater than "
                                                  "the maximum of 2"),
    ("    generation: {max_tokens: 5, top_p: 1}\n", 4, "unknown key 'top_p' (other request "
                                                    "fields go under generation.extra_body) "
                                                    "in generation"),
    ("    generation:\n      extra_body:\n        stream: false\n", 6,
     "generation.extra_body may not set 'stream' (llmops sets it; max_tokens, temperature, "
     "seed and stop go under generation: by their own keys)"),
])
def test_a_bad_case_setting_is_reported_at_its_line(tmp_path: Path, snippet: str, line: int,
                                                    why: str) -> None:
    (tmp_path / "bad.yaml").write_text(f"cases:\n  - id: x\n    prompt: hi\n{snippet}"
                                       "  - id: fine\n    prompt: hello\n")
    loaded = load_cases([tmp_path / "bad.yaml"], root=tmp_path)
    assert [c.id for c in loaded.cases] == ["fine"]
    assert [str(e) for e in loaded.errors] == [f"bad.yaml:{line}: case 'x': {why}"]


# -- a recording server ---------------------------------------------------------------------------


class Recorder:
    """A real HTTP server on 127.0.0.1 (Starlette, uvicorn) that keeps every chat completion's
    body and answers with what `reply(body)` returns: (status, headers, bytes or chunks)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.reply: Callable[[dict[str, Any]], tuple[int, dict[str, str], Any]] = self.sse
        self.disconnected = 0

    @staticmethod
    def events(*events: Any, done: bool = True) -> list[bytes]:
        out = [f"data: {json.dumps(e)}\n\n".encode() for e in events]
        return out + ([b"data: [DONE]\n\n"] if done else [])

    def sse(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if not body.get("stream"):
            return 200, {"content-type": "application/json"}, json.dumps({
                "model": "rec", "choices": [{"message": {"content": "Freeze it in the app."},
                                             "finish_reason": "stop"}]}).encode()
        chunk = {"model": "rec", "choices": [{"index": 0, "delta": {"content": ""},
                                              "finish_reason": None}]}
        pieces = [{**chunk, "choices": [{"index": 0, "delta": {"content": w}}]}
                  for w in ("Freeze", " it", " in", " the", " app.")]
        end = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
        usage = {"model": "rec", "choices": [], "usage": {"prompt_tokens": 9,
                                                          "completion_tokens": 5,
                                                          "total_tokens": 14}}
        events = self.events(chunk, *pieces, end, usage)
        return 200, {"content-type": "text/event-stream"}, [b": ping\n\n", *events]

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response, StreamingResponse
        from starlette.routing import Route

        async def chat(request: Request) -> Response:
            body = json.loads(await request.body())
            self.bodies.append(body)
            status, headers, content = self.reply(body)
            if isinstance(content, list):
                async def gen() -> Any:
                    try:
                        for piece in content:
                            if piece == b"HANG":
                                await asyncio.sleep(3600)
                            yield piece
                    except asyncio.CancelledError:
                        self.disconnected += 1
                        raise

                return StreamingResponse(gen(), status_code=status, headers=headers)
            return Response(content, status_code=status, headers=headers)

        async def models(request: Request) -> Response:
            return JSONResponse({"data": [{"id": "rec"}]})

        return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                                 Route("/v1/models", models)])


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    from llmops.chatbot.server import serve_in_thread

    rec = Recorder()
    with serve_in_thread(rec.app()) as url:
        yield rec, url


def _ask(url: str, generation: Generation | None = None, *, limits: Limits | None = None,
         target_generation: Generation | None = None, timeout_s: float = 10) -> Any:
    async def main() -> Any:
        target = HttpTarget(url, limits=limits, generation=target_generation)
        try:
            return await ask(target, MSG, RetryPolicy(retries=0, timeout_s=timeout_s),
                             generation=generation)
        finally:
            await target.aclose()

    return asyncio.run(main())


def test_the_settings_are_sent_and_the_stream_read(recorder) -> None:
    rec, url = recorder
    gen = Generation(max_tokens=7, temperature=0.2, seed=3, stop=("END",),
                     extra_body={"top_p": 0.5})
    ex = _ask(url, gen)
    body = rec.bodies[-1]
    assert {k: v for k, v in body.items() if k != "messages"} == {
        "max_tokens": 7, "temperature": 0.2, "seed": 3, "stop": ["END"], "top_p": 0.5,
        "model": "rec", "stream": True, "stream_options": {"include_usage": True}}
    assert body["messages"] == MSG
    assert ex.ok and ex.response == "Freeze it in the app." and ex.finish_reason == "length"
    assert ex.usage == {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
    assert ex.first_token_ms is not None and ex.first_token_ms <= ex.latency_ms
    assert ex.generation == {**gen.body(), "stream": True}


def test_without_settings_a_target_sends_none_and_reads_one_body(recorder) -> None:
    rec, url = recorder
    ex = _ask(url)
    assert set(rec.bodies[-1]) == {"model", "messages"}
    assert ex.ok and ex.response == "Freeze it in the app." and ex.finish_reason == "stop"
    assert ex.first_token_ms is None and ex.generation is None


def test_a_json_answer_to_a_streamed_request_is_read(recorder) -> None:
    """A server that does not stream answers a streamed request with one JSON body."""
    rec, url = recorder
    rec.reply = lambda body: rec.sse({**body, "stream": False})
    ex = _ask(url, Generation())
    assert rec.bodies[-1]["stream"] is True
    assert ex.ok and ex.response == "Freeze it in the app." and ex.finish_reason == "stop"


def _events(*events: Any, done: bool = True) -> Callable[[Any], Any]:
    return lambda body: (200, {"content-type": "text/event-stream"},
                         Recorder.events(*events, done=done))


DELTA = {"choices": [{"index": 0, "delta": {"content": "Hello"}}]}


@pytest.mark.parametrize(("reply", "error_type", "message"), [
    (_events(DELTA, {"error": {"message": "model crashed"}}), "bad_response",
     "failed mid-answer: model crashed"),
    (_events(DELTA, done=False), "connection", "ended before the answer did"),
    # [DONE] with no finish reason: cut short, as llama.cpp's server cuts a stream to start
    # another request
    (_events(DELTA), "connection", "(no finish reason; the server cut it short)"),
    (lambda body: (200, {"content-type": "text/event-stream"}, [b"data: {not json\n\n"]),
     "bad_response", "invalid event"),
    (_events({"choices": [{"delta": {"content": 7}}]}), "bad_response", "delta content is int"),
    (lambda body: (503, {"retry-after": "2"}, b'{"error": {"message": "busy"}}'), "http_5xx",
     "HTTP 503"),
])
def test_a_broken_stream_is_classified(recorder, reply, error_type: str, message: str) -> None:
    rec, url = recorder
    rec.reply = reply
    ex = _ask(url, Generation())
    assert ex.error_type == error_type and message in ex.error


def test_a_503_carries_its_status_and_retry_after(recorder) -> None:
    rec, url = recorder
    rec.reply = lambda body: (503, {"retry-after": "2"}, b"{}")

    async def main() -> TargetError:
        target = HttpTarget(url, generation=Generation())
        try:
            with pytest.raises(TargetError) as err:
                await target.ask(MSG)
            return err.value
        finally:
            await target.aclose()

    err = asyncio.run(main())
    assert (err.status, err.retry_after, err.retryable) == (503, 2.0, True)


def test_a_stream_is_held_to_the_answer_size_limit(recorder) -> None:
    rec, url = recorder
    word = {"choices": [{"index": 0, "delta": {"content": "x" * 1000}}]}
    rec.reply = _events(*[word] * 200)  # ~220 KB of events, never finished in 64 KB
    ex = _ask(url, Generation(), limits=Limits(max_answer_bytes=65_536))
    assert ex.error_type == "too_large" and "65536 bytes" in ex.error
    # a line that never ends is cut at the limit too
    rec.reply = lambda body: (200, {"content-type": "text/event-stream"},
                              [b"data: " + b"y" * 100_000])
    ex = _ask(url, Generation(), limits=Limits(max_answer_bytes=65_536))
    assert ex.error_type == "too_large"


def test_a_gzip_stream_is_inflated_within_the_limit(recorder) -> None:
    rec, url = recorder
    body = b"".join(Recorder.events(DELTA, {"choices": [{"delta": {}, "finish_reason": "stop"}]}))
    rec.reply = lambda b: (200, {"content-type": "text/event-stream",
                                 "content-encoding": "gzip"}, gzip.compress(body))
    ex = _ask(url, Generation())
    assert ex.ok and ex.response == "Hello" and ex.finish_reason == "stop"
    bomb = gzip.compress(b"data: " + b"0" * 50_000_000)  # 50 MB in ~50 KB
    rec.reply = lambda b: (200, {"content-type": "text/event-stream",
                                 "content-encoding": "gzip"}, bomb)
    ex = _ask(url, Generation(), limits=Limits(max_answer_bytes=65_536))
    assert ex.error_type == "too_large"


def test_the_reference_server_honours_the_settings(chatbot_server) -> None:
    url = chatbot_server("v1")
    ex = _ask(url, Generation(max_tokens=3))
    assert ex.ok and ex.finish_reason == "length" and ex.usage["completion_tokens"] == 3
    ex = _ask(url, Generation(stop=("freeze",)))
    assert ex.ok and "freeze" not in ex.response.lower() and ex.finish_reason == "stop"


# -- abandoned requests are closed ----------------------------------------------------------------


def _wait_for(predicate: Callable[[], bool], seconds: float = 15) -> bool:
    """Poll until `predicate` holds (a bound on waiting, not an assertion on time)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_timed_out_stream_is_closed_and_the_server_sees_it(recorder) -> None:
    rec, url = recorder
    rec.reply = lambda body: (200, {"content-type": "text/event-stream"},
                              [*Recorder.events(DELTA, done=False), b"HANG"])
    ex = _ask(url, Generation(), timeout_s=0.5)
    assert ex.error_type == "timeout"
    assert _wait_for(lambda: rec.disconnected == 1), "the server never saw the client go"


def test_a_timed_out_request_is_closed_before_any_answer(chatbot_server) -> None:
    from llmops.chatbot.server import create_app, serve_in_thread

    app = create_app("v1", fault_markers=True)
    with serve_in_thread(app) as url:
        async def main() -> Any:
            target = HttpTarget(url, generation=Generation())
            try:
                return await ask(target, [{"role": "user", "content": "hi [[fault:timeout]]"}],
                                 RetryPolicy(retries=0, timeout_s=0.5), generation=Generation())
            finally:
                await target.aclose()

        ex = asyncio.run(main())
        assert ex.error_type == "timeout"
        assert _wait_for(lambda: app.state.counts["disconnected"] == 1)


def test_a_cancelled_run_closes_its_requests(chatbot_server) -> None:
    """Ctrl-C cancels the run's task: every request in flight is closed, none left hanging."""
    from llmops.chatbot.server import create_app, serve_in_thread

    app = create_app("v1", fault_markers=True)
    with serve_in_thread(app) as url:
        async def main() -> None:
            target = HttpTarget(url, generation=Generation())
            reqs = [(i, [{"role": "user", "content": f"q{i} [[fault:timeout]]"}])
                    for i in range(3)]
            run = asyncio.ensure_future(ask_all(target, reqs, concurrency=3,
                                                policy=RetryPolicy(timeout_s=60)))
            try:
                assert await asyncio.to_thread(_wait_for, lambda: app.state.counts["timeout"]
                                               == 3)
                run.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await run
            finally:
                await target.aclose()

        asyncio.run(main())
        assert _wait_for(lambda: app.state.counts["disconnected"] == 3)


# -- pytest evals/ --------------------------------------------------------------------------------

EVAL_CASES = """
suite: gen
cases:
  - id: capped
    prompt: Tell me everything about your savings accounts.
    generation: {max_tokens: 4}
  - id: freeze
    prompt: How do I freeze my debit card?
"""


def test_an_eval_run_sends_and_records_the_settings(project, chatbot_server) -> None:
    root = project({"gen.yaml": EVAL_CASES},
                   llmops="[tool.llmops.generation]\nmax_tokens = 300\nseed = 11\n")
    url = chatbot_server("v1")
    run = run_evals(root, "--target", url)
    assert run.returncode in (0, 1), run.stdout[-3000:]
    doc = json.loads((root / "reports" / "results.json").read_text())
    jsonschema.validate(doc, load_schema("results"))
    assert doc["run"]["generation"] == {"max_tokens": 300, "seed": 11, "stream": True}
    by_case = {e["case_id"]: e for e in doc["exchanges"]}
    assert by_case["capped"]["generation"] == {"max_tokens": 4, "seed": 11, "stream": True}
    assert by_case["capped"]["finish_reason"] == "length"
    assert by_case["capped"]["usage"]["completion_tokens"] == 4
    assert by_case["freeze"]["generation"]["max_tokens"] == 300
    assert by_case["freeze"]["first_token_ms"] is not None
    cc = doc["run"]["concurrency_control"]
    assert cc["mode"] == "adaptive" and cc["ceiling"] == 8 and cc["bottleneck"] == "suite"
    assert "concurrency: the target kept up (no backoff)" in run.stdout
    html = (root / "reports" / "report.html").read_text()
    assert "Generation</th><td>max_tokens 300, seed 11, stream true" in html


def test_settings_of_cases_are_not_sent_to_a_target_that_takes_none(project) -> None:
    root = project({"gen.yaml": EVAL_CASES})
    (root / "mybot.py").write_text("def reply(messages):\n    return 'Use the app.'\n")
    run = run_evals(root, "--target", "python:mybot:reply")
    doc = json.loads((root / "reports" / "results.json").read_text())
    assert "generation" not in doc["run"]
    assert all("generation" not in e for e in doc["exchanges"])
    assert "generation settings of cases are not sent to python:mybot:reply" in run.stdout


GENERATION_PROJECT = """
[tool.llmops]
target = "{url}"
feedback = "feedback/feedback.jsonl"
timeout_s = 10
retries = 0

[tool.llmops.generation]
max_tokens = 32
temperature = 0.1
"""


def test_feedback_collect_and_simulated_traffic_ask_as_an_eval_run_does(
        recorder, tmp_path, monkeypatch) -> None:
    """`feedback collect --ask` and `monitor simulate` send the configured generation settings
    (max_tokens bounds what a real model generates), streamed, as `pytest evals/` does."""
    from llmops.cli import main
    from tests.feedback_helpers import make_project, stored

    rec, url = recorder
    root = make_project(tmp_path, monkeypatch, GENERATION_PROJECT.format(url=url))
    (root / "a.json").write_text(json.dumps({"rating": 4}))
    assert main(["feedback", "collect", "--ask", "How do I freeze my card?",
                 "--answers", "a.json"]) == 0
    (record,) = stored(root)
    assert record["response"] == "Freeze it in the app."
    assert main(["monitor", "simulate", "-n", "3", "--seed", "1",
                 "--logs", str(root / "logs")]) == 0
    assert len(rec.bodies) == 4
    for body in rec.bodies:
        assert (body["max_tokens"], body["temperature"], body["stream"]) == (32, 0.1, True)
