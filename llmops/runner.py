"""The runner asks a target each request exactly once (plus retries of transient failures),
concurrently, and records one `Exchange` per request: the reply or the classified failure, and the
latency of the target call alone.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

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


async def ask(target: Target, messages: list[Message], policy: RetryPolicy) -> Exchange:
    """Ask once, retrying connection errors, 429 and 5xx; never other failures."""
    ex = Exchange(messages=messages)
    retries = max(0, policy.retries)  # a negative count still asks once: never an empty "ok"
    for attempt in range(retries + 1):
        ex.attempts = attempt + 1
        start = time.perf_counter()
        try:
            reply = await asyncio.wait_for(target.ask(messages), policy.timeout_s)
        except asyncio.TimeoutError:
            err: TargetError = TargetError(
                "timeout", f"no reply within {policy.timeout_s:g} s from {target.name}"
            )
        except TargetError as exc:
            err = exc
        except Exception as exc:  # a user's python target may raise anything: classify, go on
            err = TargetError("bad_response", f"{type(exc).__name__}: {exc}")
        else:
            ex.latency_ms = (time.perf_counter() - start) * 1000
            ex.response, ex.model, ex.usage = reply.text, reply.model, reply.usage
            ex.error_type = ex.error = None
            return ex
        ex.latency_ms = (time.perf_counter() - start) * 1000
        ex.error_type, ex.error = err.error_type, str(err)
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
) -> dict[Hashable, Exchange]:
    """Ask every request once, at most `concurrency` at a time; results keyed as given."""
    sem = asyncio.Semaphore(max(1, concurrency))
    results: dict[Hashable, Exchange] = {}

    async def one(key: Hashable, messages: list[Message]) -> None:
        async with sem:
            ex = await ask(target, messages, policy)
        results[key] = ex
        if on_done:
            on_done(key, ex)

    await asyncio.gather(*(one(k, m) for k, m in requests))
    return results

