"""The adaptive concurrency limit (llmops.concurrency): its rules on values first, then the runner
with it against real reference-chatbot servers on 127.0.0.1 that refuse over their capacity (503,
429) or queue behind one slot, as llama.cpp's server does. No assertion on time: the limits,
counts and signals are what is checked."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from llmops.concurrency import AdaptiveLimit, Permit, describe
from llmops.runner import Exchange, RetryPolicy, ask_all
from llmops.targets import HttpTarget, Reply, Target

ALONE, BUSY = Permit(0, False), Permit(0, True)


def test_slow_start_grows_by_one_per_answer_up_to_the_ceiling() -> None:
    limit = AdaptiveLimit(5)
    assert (limit.slots, limit.initial) == (1, 1)
    seen = []
    for _ in range(6):
        limit.in_flight += 1  # as acquire() does
        limit.release(BUSY, "ok", 100.0)
        seen.append(limit.slots)
    assert seen == [2, 3, 4, 5, 5, 5]
    assert limit.bottleneck == "suite" and limit.highest == 5 and limit.lowest == 1


def _at(limit: AdaptiveLimit, slots: float) -> AdaptiveLimit:
    limit.limit = float(slots)
    limit._slow_start = False
    return limit


@pytest.mark.parametrize("outcome", ["unavailable", "rate_limited"])
def test_overload_halves_the_limit_once_per_round(outcome: str) -> None:
    limit = _at(AdaptiveLimit(8), 8)
    limit.in_flight = 4
    for _ in range(4):  # four requests of one round all refused
        limit.release(Permit(0, True), outcome)
    assert limit.slots == 4 and limit.backoffs[outcome] == 1 and limit.signals[outcome] == 4
    limit.in_flight = 1
    limit.release(Permit(1, False), outcome)  # a request of the next round: halves again
    assert limit.slots == 2 and limit.backoffs[outcome] == 2
    assert limit.bottleneck == "target" and limit.lowest == 2


def test_the_limit_never_goes_below_one_and_grows_back_additively() -> None:
    limit = _at(AdaptiveLimit(8), 1)
    limit.in_flight = 1
    limit.release(ALONE, "unavailable")
    assert limit.slots == 1 and limit.limit == 1.0
    # additive increase: one more slot per limit's worth of answers
    _at(limit, 4)
    for _ in range(4):  # 4 -> 4.25 -> 4.49 -> 4.71 -> 4.92
        limit.in_flight += 1
        limit.release(Permit(limit._epoch, True), "ok", 10.0)
        assert limit.slots == 4
    limit.in_flight += 1
    limit.release(Permit(limit._epoch, True), "ok", 10.0)
    assert limit.slots == 5 and limit.recoveries == 1


def test_latency_well_above_the_baseline_under_load_halves() -> None:
    limit = _at(AdaptiveLimit(8), 6)
    limit.in_flight = 5
    limit.release(ALONE, "ok", 100.0)  # the baseline: an answer with nothing beside it
    limit.release(BUSY, "ok", 190.0)  # under twice the baseline: no strain
    assert limit.backoffs["latency"] == 0
    limit.release(BUSY, "ok", 260.0)  # over twice, and 160 ms more: once is one long answer
    assert limit.backoffs["latency"] == 0 and limit.signals["latency"] == 1
    limit.release(BUSY, "ok", 300.0)  # twice in a row: a queue
    assert limit.backoffs["latency"] == 1 and limit.slots == 3
    limit.release(BUSY, "ok", 900.0)  # same round: counted, not halved again
    assert limit.backoffs["latency"] == 1 and limit.signals["latency"] == 3


def test_one_slow_answer_among_quick_ones_is_no_strain() -> None:
    """A model's long answer (an unstreamed call takes as long as the answer is) is one slow
    answer; a queue makes every answer behind it slow."""
    limit = _at(AdaptiveLimit(8), 6)
    limit.in_flight = 5
    limit.release(ALONE, "ok", 100.0)
    for ms in (120.0, 900.0, 110.0, 1200.0, 105.0, 950.0):
        limit.release(BUSY, "ok", ms)
    assert limit.signals["latency"] == 3 and limit.backoffs["latency"] == 0
    assert limit.slots == 6


def test_slow_answers_are_no_strain_alone_or_within_scheduling_noise() -> None:
    limit = _at(AdaptiveLimit(8), 4)
    limit.in_flight = 4
    limit.release(ALONE, "ok", 10.0)
    limit.release(BUSY, "ok", 45.0)  # 4.5x the baseline, but only 35 ms: noise of a fast bot
    limit.release(ALONE, "ok", 5000.0)  # slow with nothing beside it: not our queueing
    limit.release(ALONE, "timeout")  # likewise
    assert limit.signals == dict.fromkeys(limit.signals, 0)
    limit.in_flight = 1
    limit.release(BUSY, "timeout")  # a timeout while others were in flight is strain
    assert limit.backoffs["timeout"] == 1


def test_first_token_and_whole_latency_keep_baselines_of_their_own() -> None:
    limit = _at(AdaptiveLimit(8), 4)
    limit.in_flight = 3
    limit.release(ALONE, "ok", 40.0, "first_token")
    limit.release(ALONE, "ok", 3000.0, "latency")  # an unstreamed answer: a long one
    # 100 ms to the first token is strain against the first tokens' 40 ms (it would not be
    # against a baseline mixed with whole answers)
    limit.release(BUSY, "ok", 100.0, "first_token")
    assert limit.signals["latency"] == 1 and limit.backoffs["latency"] == 0
    limit.release(BUSY, "ok", 120.0, "first_token")
    assert limit.backoffs["latency"] == 1


def test_an_answer_cut_short_to_serve_another_caps_the_limit_for_the_run() -> None:
    """llama.cpp's server ends a streamed answer early (a bare [DONE]) when another request
    comes in: what else was in flight is all it serves at once, and the limit stays there."""
    limit = AdaptiveLimit(8)
    limit.in_flight = 1
    limit.release(ALONE, "ok", 100.0)
    assert limit.slots == 2
    limit.in_flight = 2
    limit.release(BUSY, "interrupted")
    assert (limit.capacity, limit.slots, limit.backoffs["interrupted"]) == (1, 1, 1)
    for _ in range(20):
        limit.in_flight = 1
        limit.release(Permit(limit._epoch, False), "ok", 100.0)
    assert limit.slots == 1 and limit.report()["capacity"] == 1
    assert "the server serves 1 at once" in describe(limit.report())


def test_a_fixed_limit_counts_signals_and_never_moves() -> None:
    limit = AdaptiveLimit(3, adaptive=False)
    assert limit.slots == 3
    limit.in_flight = 3
    limit.release(BUSY, "unavailable")
    limit.release(BUSY, "ok", 10.0)
    assert limit.slots == 3 and limit.backoffs["unavailable"] == 0
    assert limit.signals["unavailable"] == 1 and limit.bottleneck == "target"
    report = limit.report()
    assert report["mode"] == "fixed" and report["signals"] == {"unavailable": 1}
    assert "fixed at 3: the target was the bottleneck (1 x unavailable" in describe(report)


def test_a_waiter_cancelled_in_the_queue_loses_no_slot() -> None:
    async def main() -> tuple[int, int]:
        limit = AdaptiveLimit(1, adaptive=False)
        first = await limit.acquire()
        waiting = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        waiting.cancel()  # Ctrl-C, or a timeout around the whole run
        with pytest.raises(asyncio.CancelledError):
            await waiting
        limit.release(first, "ok", 1.0)
        again = await asyncio.wait_for(limit.acquire(), 5)  # the slot is free, not lost
        limit.release(again, "cancelled")
        return limit.in_flight, len(limit._waiters)

    assert asyncio.run(main()) == (0, 0)


def test_time_waiting_for_a_slot_is_not_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock the target moves: each call takes 1,000 ms; one slot; three requests. Each
    latency is its call's 1,000 ms, and the waits (0, 1,000, 2,000 ms) are the suite's."""
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])

    class Takes1s(Target):
        name = "one-second"

        async def ask(self, messages: list[dict[str, str]]) -> Reply:
            await asyncio.sleep(0)
            now[0] += 1.0
            return Reply("ok")

    limit = AdaptiveLimit(1, adaptive=False)
    reqs = [(i, [{"role": "user", "content": f"q{i}"}]) for i in range(3)]
    got = asyncio.run(ask_all(Takes1s(), reqs, concurrency=1, policy=RetryPolicy(),
                              limit=limit))
    assert [got[i].latency_ms for i in range(3)] == [1000.0, 1000.0, 1000.0]
    assert sorted(limit.queued_ms) == [0.0, 1000.0, 2000.0]
    assert limit.report()["queued_ms"] == {"total": 3000.0, "max": 2000.0, "waited": 2,
                                           "acquired": 3}


# -- against real servers on 127.0.0.1 ------------------------------------------------------------

FAST = RetryPolicy(retries=8, timeout_s=30, backoff_s=0.01, backoff_max_s=0.05)


def _ask(url: str, n: int, limit: AdaptiveLimit) -> dict[Any, Exchange]:
    async def main() -> dict[Any, Exchange]:
        from llmops.generation import Generation

        target = HttpTarget(url, generation=Generation())  # what an eval run sends
        try:
            reqs = [(i, [{"role": "user", "content": f"How do I freeze my card? ({i})"}])
                    for i in range(n)]
            return await ask_all(target, reqs, concurrency=limit.ceiling, policy=FAST,
                                 limit=limit)
        finally:
            await target.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize(("status", "signal"), [(503, "unavailable"), (429, "rate_limited")])
def test_a_server_over_capacity_makes_the_limit_back_off_and_grow_again(
        status: int, signal: str) -> None:
    from llmops.chatbot.server import create_app, serve_in_thread

    app = create_app("v1", latency_ms=80, capacity=3, capacity_status=status, retry_after_s=0)
    with serve_in_thread(app) as url:
        limit = AdaptiveLimit(8)
        got = _ask(url, 40, limit)
    counts = app.state.counts
    # every case answered, and asked exactly once (refusals aside, which are retried)
    assert all(ex.ok for ex in got.values()) and len(got) == 40
    assert counts["ok"] == 40
    # the limit heard every refusal, halved on them, and grew back after
    assert counts["overloaded"] == limit.signals[signal] >= 1
    assert limit.backoffs[signal] >= 1
    assert limit.lowest < limit.highest and limit.recoveries >= 1
    assert limit.report()["bottleneck"] == "target"
    # and a fixed 8 against the same server is refused more often
    fixed_app = create_app("v1", latency_ms=80, capacity=3, capacity_status=status,
                           retry_after_s=0)
    with serve_in_thread(fixed_app) as url:
        fixed = AdaptiveLimit(8, adaptive=False)
        _ask(url, 40, fixed)
    assert fixed_app.state.counts["overloaded"] > counts["overloaded"]


def test_a_one_slot_server_that_queues_makes_the_limit_back_off_on_latency() -> None:
    from llmops.chatbot.server import create_app, serve_in_thread

    app = create_app("v1", latency_ms=150, slots=1)
    with serve_in_thread(app) as url:
        limit = AdaptiveLimit(8)
        got = _ask(url, 24, limit)
    assert all(ex.ok for ex in got.values()) and app.state.counts["ok"] == 24
    assert limit.backoffs["latency"] >= 1 and limit.lowest < limit.highest
    assert limit.backoffs["unavailable"] == limit.backoffs["rate_limited"] == 0
    # fewer requests ever waited in the server's queue than a fixed 8 would have put there
    assert app.state.load["peak"] < 8
    # the streamed answers' time to first token was measured (the signal the limit compares)
    assert all(ex.first_token_ms is not None for ex in got.values())
