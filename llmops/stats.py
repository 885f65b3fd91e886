"""Statistics of repeated samples: what a nondeterministic chatbot's verdicts are worth.

Each (case, check) asked N times is a pass count out of N. From it: the pass rate with its 95%
Wilson interval, whether it is flaky, pass^k (tau-bench's chance that k independent tries all
pass), and a verdict against the case's `min_pass_rate`. Between two runs: a one-sided Fisher
exact test per check, Tarone's correction over the checks that can reach significance, Newcombe's
interval for a difference of rates, and a bootstrap over cases for the overall pass rate and the
p95 latency.

The statistics come from scipy (the `stats` extra, ~100 MB and ~1 s to import): it is imported on
first use only, so a run of single samples never loads it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llmops.errors import InputError

#: Level of every interval here (two-sided).
CONFIDENCE = 0.95
VERDICTS = ("passed", "failed", "uncertain", "error")
#: Worst first: a case's verdict is the worst of its checks'.
_WORST = {"error": 0, "failed": 1, "uncertain": 2, "passed": 3}
EXTRA_HINT = "install the stats extra: pip install 'llmops[stats]' (scipy)"
#: Resamples of the bootstrap over cases; seeded, so a gate decides the same way twice.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20240521


class StatsUnavailable(InputError):
    """scipy (the stats extra) is not installed."""


def require() -> None:
    """Raise `StatsUnavailable` (exit 2, one line naming the extra) when scipy is missing."""
    try:
        import scipy.stats  # noqa: F401
    except ImportError as exc:
        raise StatsUnavailable(f"statistics over repeated samples need scipy: {EXTRA_HINT}"
                               ) from exc


# --------------------------------------------------------------------------- one rate


@lru_cache(maxsize=65536)
def wilson(passed: int, samples: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of `passed` out of `samples` (no samples: [0, 1])."""
    if samples <= 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    ci = binomtest(passed, samples).proportion_ci(confidence_level=confidence, method="wilson")
    return (max(0.0, float(ci.low)), min(1.0, float(ci.high)))


def side(passed: int, samples: int, threshold: float) -> str:
    """Where a pass count stands against a threshold: `passed`, `failed` or `straddles`.

    At 1.0 the samples alone decide (one failure fails, none passes) and at 0 everything
    passes; strictly between, the Wilson interval must clear the threshold on one side.
    """
    if threshold >= 1.0:
        return "passed" if samples and passed == samples else "failed"
    if threshold <= 0.0:
        return "passed"
    if samples <= 0:
        return "straddles"
    low, high = wilson(passed, samples)
    if low >= threshold:
        return "passed"
    if high < threshold:
        return "failed"
    return "straddles"


def needs_more(passed: int, samples: int, threshold: float) -> bool:
    """Would another sample be worth asking for? Only while the interval straddles a
    threshold strictly between 0 and 1 (at 1.0 and 0 the samples already decided)."""
    return 0.0 < threshold < 1.0 and side(passed, samples, threshold) == "straddles"


def verdict(passed: int, failed: int, errors: int, threshold: float) -> str:
    """`passed`, `failed`, `uncertain` (the interval still straddles the threshold and no more
    samples will come) or `error` (the target failed to answer and the samples it did answer do
    not fail the check on their own). An error counts as a sample that did not pass."""
    samples = passed + failed + errors
    if samples == 0:
        return "error"
    where = side(passed, samples, threshold)
    if where == "passed":
        return "passed"
    if errors and (passed + failed == 0 or side(passed, passed + failed, threshold) != "failed"):
        return "error"
    return "failed" if where == "failed" else "uncertain"


def pass_hat_k(passed: int, samples: int, k: int) -> float | None:
    """tau-bench's pass^k: the chance that k tries drawn without replacement from these samples
    all pass, C(passed, k) / C(samples, k) (an unbiased estimate of p^k). None when k > samples."""
    if k < 1 or k > samples:
        return None
    from scipy.special import comb

    return float(comb(passed, k, exact=True) / comb(samples, k, exact=True))


def diff_interval(
    base_passed: int, base_samples: int, new_passed: int, new_samples: int
) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) for new rate minus base rate, built from
    the two Wilson intervals; (-1, 1) when a side has no samples."""
    if base_samples <= 0 or new_samples <= 0:
        return (-1.0, 1.0)
    p1, p2 = base_passed / base_samples, new_passed / new_samples
    l1, u1 = wilson(base_passed, base_samples)
    l2, u2 = wilson(new_passed, new_samples)
    d = p2 - p1
    return (
        max(-1.0, d - math.hypot(p2 - l2, u1 - p1)),
        min(1.0, d + math.hypot(u2 - p2, p1 - l1)),
    )


# --------------------------------------------------------------------------- per run


@dataclass
class Tally:
    """Outcomes of one (case, check) over its samples; skipped samples are not samples."""

    passed: int = 0
    failed: int = 0
    errors: int = 0

    @property
    def samples(self) -> int:
        return self.passed + self.failed + self.errors

    def add(self, outcome: str) -> None:
        if outcome == "passed":
            self.passed += 1
        elif outcome == "failed":
            self.failed += 1
        elif outcome == "error":
            self.errors += 1


def tallies(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Tally]:
    """(case_id, check) -> Tally over the per-sample records (case-file records are no samples)."""
    out: dict[tuple[str, str], Tally] = {}
    for rec in records:
        if rec["check"] == "case_file" or rec["outcome"] == "skipped":
            continue
        out.setdefault((rec["case_id"], rec["check"]), Tally()).add(rec["outcome"])
    return out


def rate_fields(passed: int, samples: int) -> dict[str, Any]:
    low, high = wilson(passed, samples)
    return {
        "samples": samples,
        "passed": passed,
        "pass_rate": round(passed / samples, 6) if samples else 0.0,
        "ci_low": round(low, 6),
        "ci_high": round(high, 6),
        "flaky": 0 < passed < samples,
    }


def check_stats(
    records: Sequence[Mapping[str, Any]],
    thresholds: Mapping[str, float],
    default_threshold: float = 1.0,
) -> list[dict[str, Any]]:
    """The `stats` list of results.json: one object per (case, check), in record order."""
    meta: dict[str, Mapping[str, Any]] = {}
    for rec in records:
        meta.setdefault(rec["case_id"], rec)
    out = []
    for (case_id, check), t in tallies(records).items():
        threshold = float(thresholds.get(case_id, default_threshold))
        out.append({
            "case_id": case_id,
            "check": check,
            "suite": meta[case_id]["suite"],
            "severity": meta[case_id]["severity"],
            **rate_fields(t.passed, t.samples),
            "failed": t.failed,
            "errors": t.errors,
            "min_pass_rate": threshold,
            "verdict": verdict(t.passed, t.failed, t.errors, threshold),
        })
    return out


def case_stats(
    records: Sequence[Mapping[str, Any]], checks: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One object per case: a sample of the case passes when every check of it passed; pass^k
    for k = 1 .. samples; the verdict is the worst of its checks' verdicts."""
    by_sample: dict[str, dict[int, bool]] = {}
    for rec in records:
        if rec["check"] == "case_file" or rec["outcome"] == "skipped":
            continue
        samples = by_sample.setdefault(rec["case_id"], {})
        repeat = int(rec.get("repeat") or 1)
        samples[repeat] = samples.get(repeat, True) and rec["outcome"] == "passed"
    worst: dict[str, str] = {}
    for s in checks:
        v = worst.get(s["case_id"])
        if v is None or _WORST[s["verdict"]] < _WORST[v]:
            worst[s["case_id"]] = s["verdict"]
    out = []
    for case_id, samples in by_sample.items():
        n, passed = len(samples), sum(samples.values())
        out.append({
            "case_id": case_id,
            **rate_fields(passed, n),
            "verdict": worst.get(case_id, "error"),
            "pass_hat_k": {str(k): round(pass_hat_k(passed, n, k) or 0.0, 6)
                           for k in range(1, n + 1)},
        })
    return out


def summary_fields(checks: Sequence[Mapping[str, Any]], cases: Sequence[Mapping[str, Any]]
                   ) -> dict[str, Any]:
    """What the summary says of the statistics: verdict counts, flaky checks, mean pass^k over
    cases for every k that all of them reached."""
    verdicts = {v: 0 for v in VERDICTS}
    for s in checks:
        verdicts[s["verdict"]] += 1
    kmax = min((c["samples"] for c in cases), default=0)
    mean_k = {
        str(k): round(sum(c["pass_hat_k"][str(k)] for c in cases) / len(cases), 6)
        for k in range(1, kmax + 1)
    }
    return {
        "verdicts": verdicts,
        "flaky": sum(bool(s["flaky"]) for s in checks),
        "pass_hat_k": mean_k,
    }


# --------------------------------------------------------------------------- two runs


@lru_cache(maxsize=65536)
def drop_p_value(base_passed: int, base_samples: int, new_passed: int, new_samples: int) -> float:
    """One-sided Fisher exact test that the new pass rate is below the base one."""
    from scipy.stats import fisher_exact

    table = [[new_passed, new_samples - new_passed], [base_passed, base_samples - base_passed]]
    return float(fisher_exact(table, alternative="less").pvalue)


def min_attainable_p(
    base_passed: int, base_samples: int, new_passed: int, new_samples: int
) -> float:
    """The smallest p-value the drop test could give with these margins (Fisher's test is
    conditional on them): every failure in the new run. Tarone's correction needs it."""
    fails = (base_samples - base_passed) + (new_samples - new_passed)
    new_fails = min(fails, new_samples)
    base_fails = fails - new_fails
    if base_fails > base_samples:  # cannot happen with consistent counts; be safe
        return 1.0
    return drop_p_value(base_samples - base_fails, base_samples, new_samples - new_fails,
                        new_samples)


def tarone_k(min_ps: Sequence[float], alpha: float) -> int:
    """Tarone's K: the smallest k with at most k tests able to reach alpha / k. Tests that cannot
    reach significance at all (a check that always passed on both runs) cost no power."""
    ordered = sorted(min_ps)
    for k in range(1, len(ordered) + 1):
        if bisect.bisect_right(ordered, alpha / k) <= k:
            return k
    return 1


@dataclass(frozen=True)
class Drop:
    """One check compared between two runs."""

    case_id: str
    check: str
    base_passed: int
    base_samples: int
    new_passed: int
    new_samples: int
    p_value: float
    min_p: float

    @property
    def base_rate(self) -> float:
        return self.base_passed / self.base_samples

    @property
    def new_rate(self) -> float:
        return self.new_passed / self.new_samples


def significant_drops(
    base: Mapping[tuple[str, str], Tally],
    new: Mapping[tuple[str, str], Tally],
    alpha: float,
) -> tuple[list[Drop], list[Drop], int]:
    """Test every check present in both runs for a drop in its pass rate.

    Returns (all compared checks, the significant drops, Tarone's K): a drop is significant when
    its p-value is at most alpha / K, which holds the chance of calling noise a regression
    anywhere in the run at alpha or below.
    """
    compared = []
    for key, b in base.items():
        n = new.get(key)
        if n is None or not b.samples or not n.samples:
            continue
        args = (b.passed, b.samples, n.passed, n.samples)
        p = drop_p_value(*args) if n.passed / n.samples < b.passed / b.samples else 1.0
        compared.append(Drop(key[0], key[1], *args, p_value=p, min_p=min_attainable_p(*args)))
    k = tarone_k([d.min_p for d in compared], alpha)
    cut = alpha / k
    drops = [d for d in compared if d.min_p <= cut and d.p_value <= cut]
    drops.sort(key=lambda d: d.p_value)
    return compared, drops, k


def rate_diff_interval(
    base: Sequence[tuple[int, int]], new: Sequence[tuple[int, int]]
) -> tuple[float | None, float | None]:
    """Bootstrap interval over cases of the overall pass rate's change (new - base), each case
    given as (passed, samples): a case's samples move together, as they are not independent."""
    import numpy as np

    bp, bn = np.array(base, dtype=float).reshape(-1, 2).T
    np_, nn = np.array(new, dtype=float).reshape(-1, 2).T

    def stat(bi: Any, ni: Any, axis: int = -1) -> Any:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np_[ni].sum(axis) / nn[ni].sum(axis) - bp[bi].sum(axis) / bn[bi].sum(axis)

    return _bootstrap(len(base), len(new), stat, size=max(len(base), len(new)))


def quantile_diff_interval(
    base: Mapping[str, Sequence[float]], new: Mapping[str, Sequence[float]], q: float = 0.95
) -> tuple[float | None, float | None]:
    """Bootstrap interval over cases of the change in a latency quantile (new - base): cases are
    resampled, the quantile is taken over all samples of the cases drawn (inverted CDF)."""
    b, n = _Pooled(base, q), _Pooled(new, q)
    return _bootstrap(b.cases, n.cases, lambda bi, ni, axis=-1: n.at(ni) - b.at(bi),
                      size=max(len(b.values), len(n.values), b.cases, n.cases))


class _Pooled:
    """The samples of every case, sorted once; `at(idx)` is the quantile of the pool made of the
    cases drawn, vectorized over a batch of draws (weights count how often each case is drawn)."""

    def __init__(self, groups: Mapping[str, Sequence[float]], q: float) -> None:
        import numpy as np

        self.np, self.q = np, q
        values = [(float(v), c) for c, (_, vs) in enumerate(groups.items()) for v in vs]
        values.sort()
        self.cases = len(groups)
        self.values = np.array([v for v, _ in values])
        self.labels = np.array([c for _, c in values], dtype=np.intp)

    def at(self, idx: Any) -> Any:
        np = self.np
        draws = np.atleast_2d(idx)
        weights = np.zeros((draws.shape[0], self.cases))
        np.add.at(weights, (np.arange(draws.shape[0])[:, None], draws), 1.0)
        cum = np.cumsum(weights[:, self.labels], axis=1)
        pos = (cum < self.q * cum[:, -1:]).sum(axis=1)
        out = self.values[np.minimum(pos, len(self.values) - 1)]
        return out if np.ndim(idx) > 1 else out[0]


def _bootstrap(
    n_base: int, n_new: int, statistic: Callable[..., Any], size: int
) -> tuple[float | None, float | None]:
    """scipy's percentile bootstrap of a two-sample statistic of case indices; seeded. (None,
    None) when either run has fewer than two cases or the interval is undefined. `size` (the
    widest array a draw makes) bounds the batch, so memory stays near 16 MB per batch."""
    if n_base < 2 or n_new < 2:
        return (None, None)
    import numpy as np
    from scipy.stats import bootstrap

    res = bootstrap(
        (np.arange(n_base), np.arange(n_new)),
        statistic,
        paired=False,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        batch=max(1, 2_000_000 // max(size, 1)),
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return (None, None)
    return (low, high)


def worst_verdict(verdicts: Iterable[str]) -> str | None:
    out = None
    for v in verdicts:
        if out is None or _WORST[v] < _WORST[out]:
            out = v
    return out


# --------------------------------------------------------------------------- presentation


def notable(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The (case, check) stats worth a reader's eye: every one not passed, then the flaky ones
    that passed; worst verdict first, lowest rate first."""
    picked = [r for r in rows if r["verdict"] != "passed" or r["flaky"]]
    return sorted(picked, key=lambda r: (_WORST[r["verdict"]], r["pass_rate"], r["case_id"]))


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def rate_text(row: Mapping[str, Any]) -> str:
    """`85% [64%, 95%] 17/20`: the rate, its 95% interval and the counts."""
    return (f"{pct(row['pass_rate'])} [{pct(row['ci_low'])}, {pct(row['ci_high'])}] "
            f"{row['passed']}/{row['samples']}")


def summary_text(summary: Mapping[str, Any]) -> str:
    """One line of a statistical run's summary: verdicts, flaky checks, pass^k."""
    v = summary.get("verdicts") or {}
    parts = [f"{v.get(k, 0)} {k}" for k in VERDICTS]
    line = f"verdicts: {', '.join(parts)} | flaky checks: {summary.get('flaky', 0)}"
    ks = summary.get("pass_hat_k") or {}
    if ks:
        shown = [k for k in ks if k in {"1", "2", "3", "5", "10"}] or [min(ks, key=int)]
        if max(ks, key=int) not in shown:
            shown.append(max(ks, key=int))
        line += " | pass^k " + " ".join(f"k={k} {pct(ks[k])}" for k in shown)
    return line
