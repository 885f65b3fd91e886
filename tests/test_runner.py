"""The runner against a real HTTP chatbot: once per case, concurrently, with retries that
follow the rules, and every failure classified."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from llmops import runner
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
    assert ex.error_type == error_type and ex.ok is False
    assert ex.attempts == attempts
    assert ex.response is None


def test_empty_content_is_an_answer_not_an_error(chatbot_server) -> None:
    ex = ask_http(chatbot_server("v1", fault="empty", fault_rate=1.0))
    assert ex.ok is True and ex.response == ""


def test_4xx_is_never_retried(chatbot_server) -> None:
    url = chatbot_server("v1")
    ex = ask_http(url.replace("/v1", "/nope"), model="m")
    assert ex.error_type == "http_4xx" and ex.attempts == 1


def test_connection_refused_is_classified() -> None:
    ex = ask_http("http://127.0.0.1:9/v1", model="m")
    assert ex.error_type == "connection" and ex.attempts == 3


class Clock:
    """A fake clock for the runner: the target and the backoff advance it, nothing sleeps.

    Deterministic where the real clock and the jitter are not: the runner's `time` and
    `asyncio.sleep` and the jitter's `random.uniform` are replaced for one test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.jitter: list[tuple[float, float]] = []
        monkeypatch.setattr(runner, "time", SimpleNamespace(perf_counter=lambda: self.now))
        monkeypatch.setattr(runner.random, "uniform", self.uniform)
        monkeypatch.setattr(runner.asyncio, "sleep", self.sleep)

    def uniform(self, low: float, high: float) -> float:
        self.jitter.append((low, high))
        return high  # the longest wait full jitter can pick

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky(Target):
    """Fails with `errors` in turn (each after `took` seconds of the fake clock), then answers."""

    name = "flaky"

    def __init__(self, clock: Clock, errors: list[TargetError], took: list[float]) -> None:
        self.clock, self.errors, self.took, self.calls = clock, errors, took, 0

    async def ask(self, messages: list[dict[str, str]]) -> Reply:
        self.clock.now += self.took[self.calls]
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return Reply("ok")


def limited(retry_after: float | None = None) -> TargetError:
    return TargetError("rate_limited", "429", retryable=True, retry_after=retry_after)


def test_retry_after_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    target = Flaky(clock, [limited(0.3)], took=[0.01, 0.02])
    ex = asyncio.run(ask(target, MSG, RetryPolicy(retries=2, backoff_s=0.001)))
    assert ex.ok and ex.attempts == 2 and target.calls == 2
    assert clock.sleeps == [0.3]  # the server's wait, not the (shorter) backoff
    assert RetryPolicy(backoff_s=0.001).delay(0, TargetError("x", "", retry_after=2)) == 2
    assert parse_retry_after("3") == 3 and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0


def test_backoff_is_exponential_with_full_jitter_and_capped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch)
    policy = RetryPolicy(backoff_s=0.25, backoff_max_s=8.0)
    delays = [policy.delay(attempt, limited()) for attempt in range(8)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert [low for low, _ in clock.jitter] == [0.0] * 8  # full jitter: from zero up
    assert RetryPolicy().delay(0, limited()) == 0.25  # the defaults
    assert RetryPolicy().delay(10, limited()) == 8.0


@pytest.mark.parametrize(
    ("retry_after", "backoff_s", "delay"),
    [
        (120.0, 0.25, runner.MAX_RETRY_AFTER_S),  # one bad server cannot stall the run
        (30.0, 0.25, 30.0),
        (1.0, 4.0, 4.0),  # the backoff wins when it is longer
        (0.0, 0.5, 0.5),
        (2.0, 0.5, 2.0),
    ],
)
def test_retry_after_is_capped_and_never_shortens_the_backoff(
    monkeypatch: pytest.MonkeyPatch, retry_after: float, backoff_s: float, delay: float
) -> None:
    Clock(monkeypatch)
    assert runner.MAX_RETRY_AFTER_S == 30.0
    policy = RetryPolicy(backoff_s=backoff_s, backoff_max_s=8.0)
    assert policy.delay(0, limited(retry_after)) == delay


def test_every_retry_waits_its_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    target = Flaky(clock, [limited(), limited(), limited()], took=[0.1] * 4)
    ex = asyncio.run(ask(target, MSG, RetryPolicy(retries=3, backoff_s=0.5, backoff_max_s=8)))
    assert ex.ok and ex.attempts == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_latency_of_a_failed_exchange_is_its_last_attempt_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Neither the earlier attempts nor the backoff between them count as the target's time."""
    clock = Clock(monkeypatch)
    errors = [limited(), TargetError("http_5xx", "502", retryable=True), limited()]
    target = Flaky(clock, errors, took=[0.2, 0.3, 0.125])
    ex = asyncio.run(ask(target, MSG, RetryPolicy(retries=2, backoff_s=1.0, backoff_max_s=8)))
    assert (ex.error_type, ex.error, ex.attempts) == ("rate_limited", "429", 3)
    assert clock.sleeps == [1.0, 2.0]
    assert ex.latency_ms == pytest.approx(125.0)
    assert ex.response is None


def test_latency_of_an_answer_after_retries_is_its_own_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch)
    target = Flaky(clock, [limited(5.0)], took=[0.4, 0.0625])
    ex = asyncio.run(ask(target, MSG, RetryPolicy(retries=1)))
    assert ex.ok and ex.response == "ok" and ex.attempts == 2
    assert ex.latency_ms == pytest.approx(62.5)
    assert (ex.error_type, ex.error) == (None, None)


def test_no_retries_means_one_attempt_and_no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    target = Flaky(clock, [limited(), limited()], took=[0.1, 0.1])
    ex = asyncio.run(ask(target, MSG, RetryPolicy(retries=0)))
    assert (ex.error_type, ex.attempts, target.calls, clock.sleeps) == ("rate_limited", 1, 1, [])


def test_a_negative_retry_count_still_asks_once(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    ex = asyncio.run(ask(Flaky(clock, [], took=[0.01]), MSG, RetryPolicy(retries=-2)))
    assert (ex.ok, ex.response, ex.attempts) == (True, "ok", 1)
    ex = asyncio.run(ask(Flaky(clock, [limited()], took=[0.01]), MSG, RetryPolicy(retries=-2)))
    assert (ex.ok, ex.error_type, ex.attempts, clock.sleeps) == (False, "rate_limited", 1, [])


def test_retry_policy_defaults_match_the_configuration_and_are_frozen() -> None:
    import dataclasses

    from llmops.config import DEFAULTS

    policy = RetryPolicy()
    assert (policy.retries, policy.timeout_s) == (DEFAULTS["retries"], DEFAULTS["timeout_s"])
    assert (policy.retries, policy.timeout_s, policy.backoff_s, policy.backoff_max_s) == (
        2, 30.0, 0.25, 8.0
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.retries = 5  # type: ignore[misc]  # shared by every concurrent ask


def test_a_failure_that_is_not_retryable_is_asked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    target = Flaky(clock, [TargetError("http_4xx", "400 bad request")], took=[0.1, 0.1])
    ex = asyncio.run(ask(target, MSG, RetryPolicy(retries=3)))
    assert (ex.error_type, ex.error, ex.attempts, clock.sleeps) == (
        "http_4xx", "400 bad request", 1, []
    )


def test_a_timeout_names_the_limit_and_the_target() -> None:
    class Silent(Target):
        name = "silent"

        async def ask(self, messages: list[dict[str, str]]) -> Reply:
            await asyncio.Event().wait()  # never answers
            raise AssertionError

    ex = asyncio.run(ask(Silent(), MSG, RetryPolicy(retries=2, timeout_s=0.05)))
    assert (ex.error_type, ex.error, ex.attempts) == (
        "timeout", "no reply within 0.05 s from silent", 1
    )


@pytest.mark.parametrize("concurrency", [0, -3])
def test_concurrency_below_one_is_clamped_to_one(concurrency: int) -> None:
    running = peak = 0
    done: list[tuple[int, str | None]] = []

    class Counting(Target):
        name = "counting"

        async def ask(self, messages: list[dict[str, str]]) -> Reply:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0)
            running -= 1
            return Reply(messages[0]["content"])

    reqs = [(i, [{"role": "user", "content": f"q{i}"}]) for i in range(6)]

    async def main() -> dict[Any, Exchange]:
        # bounded: a semaphore of zero would wait forever
        return await asyncio.wait_for(
            ask_all(
                Counting(),
                reqs,
                concurrency=concurrency,
                policy=RetryPolicy(),
                on_done=lambda key, ex: done.append((key, ex.response)),
            ),
            timeout=30,
        )

    got = asyncio.run(main())
    assert peak == 1
    assert {k: ex.response for k, ex in got.items()} == {i: f"q{i}" for i in range(6)}
    assert sorted(done) == [(i, f"q{i}") for i in range(6)]


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


# -- what each attempt tells the adaptive limit


@pytest.mark.parametrize(("err", "outcome"), [
    (TargetError("rate_limited", "x"), "rate_limited"),
    (TargetError("http_error", "x", status=429), "rate_limited"),
    (TargetError("http_error", "x", status=430), "error"),
    (TargetError("http_error", "x", status=503), "unavailable"),
    (TargetError("http_error", "x", status=502), "error"),
    (TargetError("bad_response", "x", interrupted=True), "interrupted"),
    (TargetError("timeout", "x"), "timeout"),
    (TargetError("timeout", "x", status=503), "unavailable"),
    (TargetError("bad_response", "x"), "error"),
])
def test_a_failure_is_classified_for_the_adaptive_limit(err: TargetError, outcome: str) -> None:
    assert runner._outcome(err) == outcome


class Heard:
    """The run's real adaptive limit, with what each attempt told it kept."""

    def __init__(self) -> None:
        from llmops.concurrency import AdaptiveLimit

        self.limit = AdaptiveLimit(4)
        self.heard: list[tuple[str, float | None, str]] = []

    async def acquire(self) -> Any:
        return await self.limit.acquire()

    def release(self, permit: Any, outcome: str, latency_ms: float | None = None,
                signal: str = "latency") -> None:
        self.heard.append((outcome, latency_ms, signal))
        self.limit.release(permit, outcome, latency_ms, signal)


class Answers(Target):
    name = "answers"

    def __init__(self, replies: list[Reply | TargetError]) -> None:
        self.replies = replies

    async def ask(self, messages: list[dict[str, str]]) -> Reply:
        got = self.replies.pop(0)
        if isinstance(got, TargetError):
            raise got
        return got


def test_the_limit_hears_first_token_times_of_streamed_answers_and_latency_of_others() -> None:
    heard = Heard()
    ex = asyncio.run(ask(Answers([Reply("a", first_token_ms=12.5)]), MSG, FAST,
                         limit=heard))  # type: ignore[arg-type]
    assert heard.heard == [("ok", 12.5, "first_token")] and ex.first_token_ms == 12.5
    heard = Heard()
    ex = asyncio.run(ask(Answers([TargetError("http_error", "busy", status=503, retryable=True),
                                  Reply("b")]), MSG, FAST, limit=heard))  # type: ignore[arg-type]
    (first, _, _), (second, latency, signal) = heard.heard
    assert (first, second, signal) == ("unavailable", "ok", "latency")
    assert latency == ex.latency_ms and ex.response == "b"


def test_http_requests_in_flight_each_have_a_client_and_reuse_it(chatbot_server) -> None:
    """One client (one kept-alive connection) per request in flight, reused by the next: 30
    requests, 4 at a time, open at most 4 clients (and each of them is closed at the end)."""
    url = chatbot_server("v1")
    reqs = [(i, [{"role": "user", "content": f"When are you open? ({i})"}]) for i in range(30)]

    async def main() -> tuple[dict[Any, Exchange], HttpTarget]:
        target = HttpTarget(url)
        try:
            got = await ask_all(target, reqs, concurrency=4, policy=RetryPolicy(retries=0))
        finally:
            await target.aclose()
        return got, target

    got, target = asyncio.run(main())
    assert len(got) == 30 and all(ex.ok for ex in got.values())
    assert 1 <= len(target._lanes) <= 4
    assert sorted(map(id, target._idle)) == sorted(map(id, target._lanes))
    assert all(client.is_closed for client in target._lanes)


def test_an_https_target_verifies_certificates_with_one_context() -> None:
    import ssl

    target = HttpTarget("https://chat.example.invalid/v1")
    ctx = target._client_options["verify"]
    assert isinstance(ctx, ssl.SSLContext)  # loaded once, shared by every client
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] > 0
    plain = HttpTarget("http://127.0.0.1:9/v1")._client_options["verify"]
    assert plain.cert_store_stats()["x509_ca"] == 0  # plain http loads no bundle
