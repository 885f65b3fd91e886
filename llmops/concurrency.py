"""How many requests an eval run has in flight: an AIMD limit (additive increase, multiplicative
decrease), as TCP's congestion control and Netflix's concurrency-limits do it.

A one-slot model server (llama.cpp's) answers one request at a time and queues the rest; eight
sent at once wait behind each other, and the wait counts against each request's timeout. So the
limit starts at one request and grows by one with every answer until the target first shows
strain (slow start), then by one per limit's worth of answers. It halves when the target answers
429 (rate limited) or 503 (unavailable), when a request times out while others were in flight,
when answers' latency climbs well above the run's baseline while others were in flight (more
than `LATENCY_FACTOR` times it, and at least `MIN_RISE_MS` more, `SLOW_IN_A_ROW` answers in a
row: one long answer of a model is its length, not a queue), and when the server cuts a
streamed answer short to start another (llama.cpp's server does, by default): then what was
still in flight is the server's capacity, the limit's top for the rest of the run. It never goes
above the configured concurrency (its ceiling) or below one.

The latency compared is the time to the first token of a streamed answer (queueing in the
server shows there, whatever the answer's length), else the whole call. The baseline is the
median of answers that had no other request of the run beside them (the first one always
does: the limit starts at one). One halving per round trip: a request that started before the
last halving reflects the old limit, so its signal is counted but does not halve again.

The time a request waits here for a slot is the suite's queueing, never the bot's latency: the
runner measures latency around the target call alone.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: An answer this many times slower than the baseline, while others were in flight, is strain.
LATENCY_FACTOR = 2.0
#: ... and at least this many milliseconds slower (scheduling noise of fast in-process bots).
MIN_RISE_MS = 50.0
#: ... for this many contended answers in a row (a queue slows every answer behind it).
SLOW_IN_A_ROW = 2
#: The multiplicative decrease.
BACKOFF = 0.5
#: Signals that halve the limit (the keys of `backoffs` in results.json).
SIGNALS = ("rate_limited", "unavailable", "interrupted", "timeout", "latency")
#: Outcomes of a request, as the runner reports them: "ok", a signal, or "error" / "cancelled"
#: (neither strain nor success: the limit stays as it is).
_BASELINE_SAMPLES = 64
_HISTORY = 1000


@dataclass(frozen=True)
class Permit:
    """One request's slot: the limit's round (halvings so far) and whether other requests of
    the run were in flight when it started."""

    epoch: int
    contended: bool


class AdaptiveLimit:
    """The requests in flight, bounded by an adaptive limit (or, not adaptive, by `ceiling`).
    Slots are handed out first come, first served."""

    def __init__(self, ceiling: int, *, adaptive: bool = True) -> None:
        self.ceiling = max(1, int(ceiling))
        self.adaptive = adaptive
        self.limit = 1.0 if adaptive else float(self.ceiling)
        self.initial = int(self.limit)
        self.in_flight = 0
        self.highest = int(self.limit)
        #: The lowest the limit was cut to (the start, before any halving).
        self.lowest = int(self.limit)
        self._cut = False
        #: Halvings, by signal.
        self.backoffs: dict[str, int] = dict.fromkeys(SIGNALS, 0)
        #: Signals seen, halving or not (a fixed limit counts them too).
        self.signals: dict[str, int] = dict.fromkeys(SIGNALS, 0)
        #: Times the limit grew by a whole request after the first halving.
        self.recoveries = 0
        #: Every change of the whole limit, in order: (slots, why).
        self.history: list[tuple[int, str]] = [(int(self.limit), "start")]
        self.queued_ms: list[float] = []
        #: What the server showed it serves at once (an answer cut short to start another):
        #: the limit stays at or below it (None: nothing shown).
        self.capacity: int | None = None
        self._slow_start = adaptive
        self._epoch = 0
        self._baselines: dict[str, deque[float]] = {}
        self._seen_min: dict[str, float] = {}
        self._slow_run = 0  # contended answers in a row slower than the baseline allows
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def slots(self) -> int:
        return max(1, min(self.capacity or self.ceiling, int(self.limit)))

    async def acquire(self) -> Permit:
        """Wait for a slot; how long it waited is kept (the suite's queueing)."""
        start = time.perf_counter()
        if self.in_flight < self.slots and not self._waiters:
            self.in_flight += 1
        else:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            except asyncio.CancelledError:
                if future.done() and not future.cancelled():  # granted as it was cancelled
                    self.in_flight -= 1
                    self._wake()
                else:
                    self._waiters.remove(future)
                raise
        self.queued_ms.append((time.perf_counter() - start) * 1000)
        return Permit(self._epoch, self.in_flight > 1)

    def release(self, permit: Permit, outcome: str, latency_ms: float | None = None,
                signal: str = "latency") -> None:
        """Give the slot back with how the request went: "ok" (with its latency, and `signal`
        naming what the latency is: "first_token" or "latency"), one of `SIGNALS`, "error" or
        "cancelled"."""
        self.in_flight -= 1
        if outcome == "ok" and latency_ms is not None:
            self._answered(permit, latency_ms, signal)
        elif outcome in ("rate_limited", "unavailable") or (
                outcome == "timeout" and permit.contended):
            self._strain(permit, outcome)
        elif outcome == "interrupted":
            # The server cut this answer short to serve another: it serves no more at once
            # than the others still in flight. That is its capacity, for the rest of the run.
            self.capacity = max(1, min(self.capacity or self.ceiling, self.in_flight))
            self._strain(permit, outcome, force=True)
        self._wake()

    def _answered(self, permit: Permit, ms: float, kind: str) -> None:
        samples = self._baselines.setdefault(kind, deque(maxlen=_BASELINE_SAMPLES))
        if not permit.contended:
            samples.append(ms)
        self._seen_min[kind] = min(ms, self._seen_min.get(kind, ms))
        base = statistics.median(samples) if samples else self._seen_min[kind]
        if permit.contended:
            slow = ms > LATENCY_FACTOR * base and ms - base >= MIN_RISE_MS
            self._slow_run = self._slow_run + 1 if slow else 0
            if slow:
                self.signals["latency"] += 1
                if self._slow_run >= SLOW_IN_A_ROW:
                    self._strain(permit, "latency", counted=True)
                return
        top = self.capacity or self.ceiling
        if not self.adaptive or self.limit >= top:
            return
        before = self.slots
        self.limit = min(float(top),
                         self.limit + (1.0 if self._slow_start else 1.0 / self.limit))
        if self.slots > before:
            self.highest = max(self.highest, self.slots)
            if any(self.backoffs.values()):
                self.recoveries += 1
            self._note("grow")

    def _strain(self, permit: Permit, why: str, *, force: bool = False,
                counted: bool = False) -> None:
        if not counted:
            self.signals[why] += 1
        if not self.adaptive or (permit.epoch < self._epoch and not force):
            return  # a fixed limit; or this request's round was already halved
        self._epoch += 1
        self._slow_start = False
        self.backoffs[why] += 1
        self.limit = max(1.0, min(self.limit * BACKOFF, float(self.capacity or self.ceiling)))
        self.lowest = min(self.lowest, self.slots) if self._cut else self.slots
        self._cut = True
        self._note(why)

    def _note(self, why: str) -> None:
        if len(self.history) < _HISTORY:
            self.history.append((self.slots, why))

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.slots:
            future = self._waiters.popleft()
            if future.done():  # its task was cancelled while waiting
                continue
            self.in_flight += 1
            future.set_result(None)

    @property
    def bottleneck(self) -> str:
        """"target" when the target showed strain (429, 503, timeouts or latency under load),
        else "suite": the limit, not the target, set the pace."""
        seen = self.backoffs if self.adaptive else self.signals
        return "target" if any(seen.values()) else "suite"

    def report(self) -> dict[str, Any]:
        """What results.json keeps (`run.concurrency_control`)."""
        waits = sorted(self.queued_ms)
        return {
            "mode": "adaptive" if self.adaptive else "fixed",
            "ceiling": self.ceiling,
            "initial": self.initial,
            "lowest": self.lowest,
            "highest": self.highest,
            "final": self.slots,
            "backoffs": {k: v for k, v in self.backoffs.items() if v},
            "signals": {k: v for k, v in self.signals.items() if v},
            "recoveries": self.recoveries,
            **({"capacity": self.capacity} if self.capacity else {}),
            "queued_ms": {
                "total": round(sum(waits), 3),
                "max": round(waits[-1], 3) if waits else 0.0,
                "waited": sum(1 for w in waits if w >= 1.0),
                "acquired": len(waits),
            },
            "bottleneck": self.bottleneck,
        }


def merge_reports(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Several runs' `report()`s (the shards of one run) as one (`run.concurrency_control`): the
    widest range any went over, the backoffs, signals and queueing of all, and the target as
    the bottleneck if it was on any of them."""
    if not parts:
        return None
    first = parts[0]
    out: dict[str, Any] = {
        "mode": "adaptive" if any(p.get("mode") == "adaptive" for p in parts) else first["mode"]}
    for field, pick in (("ceiling", max), ("initial", max), ("lowest", min), ("highest", max),
                        ("final", min), ("capacity", min)):
        values = [p[field] for p in parts if isinstance(p.get(field), int)]
        if values:
            out[field] = pick(values)
    for field in ("backoffs", "signals"):
        if any(field in p for p in parts):
            total: dict[str, int] = {}
            for p in parts:
                for k, v in (p.get(field) or {}).items():
                    total[k] = total.get(k, 0) + int(v)
            out[field] = total
    if any("recoveries" in p for p in parts):
        out["recoveries"] = sum(int(p.get("recoveries") or 0) for p in parts)
    queued = [p["queued_ms"] for p in parts if isinstance(p.get("queued_ms"), Mapping)]
    if queued:
        out["queued_ms"] = {
            "total": round(sum(float(q.get("total") or 0) for q in queued), 3),
            "max": max(float(q.get("max") or 0) for q in queued),
            "waited": sum(int(q.get("waited") or 0) for q in queued),
            "acquired": sum(int(q.get("acquired") or 0) for q in queued),
        }
    out["bottleneck"] = ("target" if any(p.get("bottleneck") == "target" for p in parts)
                         else first.get("bottleneck", "suite"))
    return out


def describe(report: dict[str, Any]) -> str:
    """One line of what the limit did, for the terminal and the HTML report."""
    q = report.get("queued_ms") or {}
    waited = (f"; {q.get('waited', 0)} of {q.get('acquired', 0)} request(s) waited for a slot, "
              f"{q.get('total', 0) / 1000:.1f} s in all (max {q.get('max', 0) / 1000:.1f} s), "
              "never counted as latency")
    ceiling = report.get("ceiling")
    if report.get("mode") == "fixed":
        signals = ", ".join(f"{n} x {k}" for k, n in (report.get("signals") or {}).items())
        head = f"fixed at {ceiling}" + (
            f": the target was the bottleneck ({signals}; adaptive_concurrency would back off)"
            if signals else ": the target kept up")
        return head + waited
    if report.get("bottleneck") == "target":
        why = ", ".join(f"{n} x {k}" for k, n in (report.get("backoffs") or {}).items())
        return (f"the target was the bottleneck: backed off {why}; limit {report.get('initial')}"
                f" to {report.get('highest')} of {ceiling}, lowest {report.get('lowest')}, "
                f"final {report.get('final')}, grew back {report.get('recoveries', 0)} time(s)"
                + (f"; the server serves {report['capacity']} at once (it cut an answer short "
                   "to start another)" if report.get("capacity") else "")
                + waited)
    return (f"the target kept up (no backoff): limit grew from {report.get('initial')} to "
            f"{report.get('highest')} of {ceiling}" + waited)
