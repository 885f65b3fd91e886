"""The runner against a real HTTP chatbot: once per case, concurrently, with retries that
follow the rules, and every failure classified."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from llmops.runner import Exchange, RetryPolicy, ask, ask_all
from llmops.targets import (
    CommandTarget,
    HttpTarget,
    PythonTarget,
    Reply,
    Target,
    TargetError,
    make_target,
    parse_retry_after,
    public_target,
)

MSG = [{"role": "user", "content": "How do I freeze my card?"}]
FAST = RetryPolicy(retries=2, timeout_s=2.0, backoff_s=0.01, backoff_max_s=0.05)


def ask_http(url: str, policy: RetryPolicy = FAST, **kw: Any) -> Exchange:
    async def main() -> Exchange:
        target = HttpTarget(url, **kw)
        try:
            return await ask(target, MSG, policy)
        finally:
            await target.aclose()

    return asyncio.run(main())


def test_http_answer(chatbot_server) -> None:
    ex = ask_http(chatbot_server("v1"))
    assert ex.ok and ex.attempts == 1
    assert "freeze" in ex.response.lower()
    assert ex.latency_ms is not None and ex.latency_ms > 0
    assert ex.usage.get("total_tokens", 0) > 0


@pytest.mark.parametrize(
    ("fault", "error_type", "attempts"),
    [
        ("500", "http_5xx", 3),
        ("429", "rate_limited", 3),
        ("garbage", "bad_response", 1),
        ("drop", "connection", 3),
        ("timeout", "timeout", 1),
    ],
)
def test_faults_are_classified_and_retried_by_rule(
    chatbot_server, fault: str, error_type: str, attempts: int
) -> None:
    url = chatbot_server("v1", fault=fault, fault_rate=1.0, retry_after_s=0)
    policy = RetryPolicy(retries=2, timeout_s=1.0, backoff_s=0.01, backoff_max_s=0.05)
    ex = ask_http(url, policy)
    assert ex.error_type == error_type
    assert ex.attempts == attempts
    assert ex.response is None


def test_empty_content_is_an_answer_not_an_error(chatbot_server) -> None:
    ex = ask_http(chatbot_server("v1", fault="empty", fault_rate=1.0))
    assert ex.ok and ex.response == ""


def test_4xx_is_never_retried(chatbot_server) -> None:
    url = chatbot_server("v1")
    ex = ask_http(url.replace("/v1", "/nope"), model="m")
    assert ex.error_type == "http_4xx" and ex.attempts == 1


def test_connection_refused_is_classified() -> None:
    ex = ask_http("http://127.0.0.1:9/v1", model="m")
    assert ex.error_type == "connection" and ex.attempts == 3


def test_retry_after_is_honoured() -> None:
    calls: list[float] = []

    class Limited(Target):
        name = "limited"

        async def ask(self, messages: list[dict[str, str]]) -> Reply:
            calls.append(time.monotonic())
            if len(calls) == 1:
                raise TargetError("rate_limited", "429", retryable=True, retry_after=0.3)
            return Reply("ok")

    ex = asyncio.run(ask(Limited(), MSG, RetryPolicy(retries=2, backoff_s=0.001)))
    assert ex.ok and ex.attempts == 2
    assert calls[1] - calls[0] >= 0.3
    assert RetryPolicy(backoff_s=0.001).delay(0, TargetError("x", "", retry_after=2)) == 2
    assert parse_retry_after("3") == 3 and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0


def test_latency_is_of_the_target_call_alone() -> None:
    class Slow(Target):
        name = "slow"

        async def ask(self, messages: list[dict[str, str]]) -> Reply:
            await asyncio.sleep(0.05)
            return Reply("ok")

    ex = asyncio.run(ask(Slow(), MSG, RetryPolicy()))
    assert 50 <= ex.latency_ms < 1000


def test_each_request_asked_once_and_concurrency_bounded() -> None:
    seen: list[str] = []
    running = 0
    peak = 0

    class Counting(Target):
        name = "counting"

        async def ask(self, messages: list[dict[str, str]]) -> Reply:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            seen.append(messages[0]["content"])
            await asyncio.sleep(0.01)
            running -= 1
            return Reply(messages[0]["content"].upper())

    reqs = [(i, [{"role": "user", "content": f"q{i}"}]) for i in range(40)]
    got = asyncio.run(ask_all(Counting(), reqs, concurrency=5, policy=RetryPolicy()))
    assert sorted(seen) == sorted(f"q{i}" for i in range(40))
    assert peak == 5
    assert got[7].response == "Q7"


def test_python_target_sync_and_async() -> None:
    sync = PythonTarget("tests.bots:echo")
    assert asyncio.run(sync.ask(MSG)).text == "echo: How do I freeze my card?"
    asyn = PythonTarget("tests.bots:aecho")
    assert asyncio.run(asyn.ask(MSG)).text == "async echo: How do I freeze my card?"
    ex = asyncio.run(ask(PythonTarget("tests.bots:broken"), MSG, RetryPolicy()))
    assert ex.error_type == "bad_response" and "RuntimeError" in ex.error and ex.attempts == 1


def test_cmd_target(tmp_path) -> None:
    script = tmp_path / "bot.py"
    script.write_text(
        "import json, sys\nmsgs = json.load(sys.stdin)\nprint('cmd: ' + msgs[-1]['content'])\n"
    )
    import sys

    target = CommandTarget(f"{sys.executable} {script}")
    assert asyncio.run(target.ask(MSG)).text == "cmd: How do I freeze my card?"
    failing = CommandTarget(f"{sys.executable} -c 'import sys; sys.exit(3)'")
    ex = asyncio.run(ask(failing, MSG, RetryPolicy()))
    assert ex.error_type == "bad_response" and "exited with 3" in ex.error


def test_target_strings() -> None:
    from llmops.errors import InputError

    assert make_target("reference").name == "reference:v1"
    assert make_target("reference:v2").chatbot_version == "v2"
    with pytest.raises(InputError, match="unknown target"):
        make_target("ftp://x")
    with pytest.raises(InputError, match="cannot import"):
        make_target("python:no.such.module:f")
    assert public_target("https://user:pw@api.x.com/v1?api_key=sk-1&a=b") == (
        "https://api.x.com/v1?api_key=***&a=b"
    )
