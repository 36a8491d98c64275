"""Percentiles follow numpy's default definition, so p50/p95 match what analysts compute."""

from __future__ import annotations

import pytest

from drivers.scenarios.summary import percentile, summarize


def test_percentiles_interpolate_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(list(map(float, range(1, 21))), 95) == pytest.approx(19.05)


def test_summary_of_nothing_is_empty() -> None:
    """No samples means no figure, never a zero that looks like a measurement."""
    assert summarize([]) == {}
    assert summarize([2.0]) == {"count": 1, "mean": 2.0, "p50": 2.0, "p95": 2.0, "max": 2.0}
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
