"""The runner asks a target each request exactly once (plus retries of transient failures),
concurrently, and records one `Exchange` per request: the reply or the classified failure, and the
latency of the target call alone. How many requests are in flight is an `AdaptiveLimit`'s
business (llmops.concurrency): the wait for a slot is never part of the latency.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmops.concurrency import AdaptiveLimit
from llmops.generation import Generation
from llmops.targets import Message, Target, TargetError

#: Longest wait we honour from a Retry-After header, so one bad server cannot stall a run.
MAX_RETRY_AFTER_S = 30.0


@dataclass
class Exchange:
    messages: list[Message]
    response: str | None = None
    latency_ms: float | None = None
    error_type: str | None = None
    error: str | None = None
    attempts: int = 0
    model: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    #: Time to the first token of a streamed answer (of the attempt that answered).
    first_token_ms: float | None = None
    finish_reason: str | None = None
    #: The generation settings sent with it (None: the target takes none).
    generation: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    timeout_s: float = 30.0
    backoff_s: float = 0.25
    backoff_max_s: float = 8.0

    def delay(self, attempt: int, error: TargetError) -> float:
        """Exponential backoff with full jitter; a server's Retry-After wins when it is longer."""
        backoff = random.uniform(0, min(self.backoff_max_s, self.backoff_s * 2**attempt))
        if error.retry_after is not None:
            return max(min(error.retry_after, MAX_RETRY_AFTER_S), backoff)
        return backoff


def _outcome(err: TargetError) -> str:
    """What a failure tells the adaptive limit: overload (429, 503, an answer cut short), a
    timeout, or nothing."""
    if err.error_type == "rate_limited" or err.status == 429:
        return "rate_limited"
    if err.status == 503:
        return "unavailable"
    if err.interrupted:
        return "interrupted"
    if err.error_type == "timeout":
        return "timeout"
    return "error"


async def ask(
    target: Target,
    messages: list[Message],
    policy: RetryPolicy,
    *,
    generation: Generation | None = None,
    limit: AdaptiveLimit | None = None,
) -> Exchange:
    """Ask once, retrying connection errors, 429 and 5xx; never other failures. With `limit`,
    each attempt waits for a slot first (the wait is not latency) and reports how it went;
    `generation` goes to a target that takes generation settings."""
    ex = Exchange(messages=messages)
    send = generation is not None and target.accepts_generation
    if send:
        ex.generation = generation.record()  # type: ignore[union-attr]
    retries = max(0, policy.retries)  # a negative count still asks once: never an empty "ok"
    for attempt in range(retries + 1):
        ex.attempts = attempt + 1
        permit = await limit.acquire() if limit is not None else None
        # what the limit hears of this attempt; "cancelled" unless it ends another way
        outcome, signal_ms, signal = "cancelled", None, "latency"
        start = time.perf_counter()
        try:
            try:
                call = target.ask(messages, generation) if send else target.ask(messages)
                reply = await asyncio.wait_for(call, policy.timeout_s)
            except asyncio.TimeoutError:
                err: TargetError = TargetError(
                    "timeout", f"no reply within {policy.timeout_s:g} s from {target.name}"
                )
            except TargetError as exc:
                err = exc
            except Exception as exc:  # a user's python target may raise anything: classify
                err = TargetError("bad_response", f"{type(exc).__name__}: {exc}")
            else:
                ex.latency_ms = (time.perf_counter() - start) * 1000
                ex.response, ex.model, ex.usage = reply.text, reply.model, reply.usage
                ex.first_token_ms, ex.finish_reason = reply.first_token_ms, reply.finish_reason
                ex.error_type = ex.error = None
                outcome, signal_ms = "ok", ex.latency_ms
                if reply.first_token_ms is not None:
                    signal_ms, signal = reply.first_token_ms, "first_token"
                return ex
            ex.latency_ms = (time.perf_counter() - start) * 1000
            outcome = _outcome(err)
        finally:
            if permit is not None:  # also when cancelled (Ctrl-C): the slot is never lost
                limit.release(permit, outcome, signal_ms, signal)  # type: ignore[union-attr]
        ex.error_type, ex.error = err.error_type, str(err)
        ex.first_token_ms = ex.finish_reason = None
        if not err.retryable or attempt == retries:
            break
        await asyncio.sleep(policy.delay(attempt, err))
    return ex


async def ask_all(
    target: Target,
    requests: Iterable[tuple[Hashable, list[Message]]],
    *,
    concurrency: int,
    policy: RetryPolicy,
    on_done: Callable[[Hashable, Exchange], None] | None = None,
    generation: Mapping[Hashable, Generation] | None = None,
    limit: AdaptiveLimit | None = None,
) -> dict[Hashable, Exchange]:
    """Ask every request once, at most `concurrency` at a time (or as `limit` allows: an
    adaptive limit is shared by the rounds of one run); results keyed as given. `generation`:
    the settings of each request, by key, for targets that take them."""
    if limit is None:
        limit = AdaptiveLimit(concurrency, adaptive=False)
    results: dict[Hashable, Exchange] = {}
    settings = generation or {}

    async def one(key: Hashable, messages: list[Message]) -> None:
        ex = await ask(target, messages, policy, generation=settings.get(key), limit=limit)
        results[key] = ex
        if on_done:
            on_done(key, ex)

    await asyncio.gather(*(one(k, m) for k, m in requests))
    return results
