"""Latency percentiles without numpy: the same figures as numpy.quantile's default method."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmops.quantiles import quantile, quantiles

latencies = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=1, max_size=300,
)


@given(latencies, st.floats(min_value=0, max_value=1))
def test_quantile_is_numpys_default(values: list[float], q: float) -> None:
    assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)), rel=1e-12,
                                                abs=1e-9)


@given(latencies)
def test_the_percentiles_a_run_reports_equal_numpys_to_the_last_bit(values: list[float]) -> None:
    qs = (0.5, 0.95, 0.99)
    assert quantiles(values, qs) == [float(x) for x in np.quantile(values, qs)]


def test_known_values() -> None:
    assert quantile([10.0], 0.95) == 10.0
    assert quantile([1, 2, 3, 4], 0.5) == 2.5
    assert quantiles([3, 1, 2], (0, 1)) == [1.0, 3.0]  # unsorted input
    assert quantile(range(1, 101), 0.95) == pytest.approx(95.05)


def test_no_values_or_a_quantile_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        quantile([], 0.5)
    with pytest.raises(ValueError, match="outside"):
        quantile([1.0], 1.5)
