"""Latency percentiles without numpy: importing numpy (and starting its BLAS threads) cost an
eval run more than a third of a second of start-up and exit, for three numbers.

`quantile` gives what `numpy.quantile(values, q)` gives with its default method ("linear",
Hyndman and Fan's type 7: interpolation between the two nearest ranks), computed the way numpy
computes it, so figures match the ones earlier results.json files hold (tests compare the two).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def quantile(values: Iterable[float], q: float) -> float:
    """The `q` quantile (0 <= q <= 1) of `values` (at least one)."""
    return quantiles(values, (q,))[0]


def quantiles(values: Iterable[float], qs: Sequence[float]) -> list[float]:
    """Several quantiles of the same values, sorted once."""
    ordered = sorted(float(v) for v in values)
    if not ordered:
        raise ValueError("quantiles of no values")
    return [_at(ordered, q) for q in qs]


def _at(ordered: list[float], q: float) -> float:
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q!r} outside [0, 1]")
    index = (len(ordered) - 1) * q
    below = math.floor(index)
    above = min(below + 1, len(ordered) - 1)
    a, b = ordered[below], ordered[above]
    t = index - below
    # numpy's _lerp: from the nearer end, so that the result is monotonic in q and exact at ends
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t
