"""`run scale` fits a line through figures against node count and refuses bad size lists."""

from __future__ import annotations

import pytest

from drivers.errors import SwarmscopeError
from drivers.results import ScenarioRecord
from drivers.scenarios.scale import METRICS, fit_line, parse_sizes


def test_fit_recovers_a_known_line() -> None:
    """Points on y = 0.25 n + 1.5 give exactly that slope and intercept, R² = 1."""
    fit = fit_line([5, 10, 20], [2.75, 4.0, 6.5])
    assert fit.slope == pytest.approx(0.25)
    assert fit.intercept == pytest.approx(1.5)
    assert fit.r2 == pytest.approx(1.0)


def test_fit_r2_drops_for_a_curve() -> None:
    """A quadratic through the same sizes is not called linear."""
    xs = [5.0, 10.0, 15.0, 20.0]
    assert fit_line(xs, [x * x for x in xs]).r2 < 0.97
    with pytest.raises(ValueError, match="two points"):
        fit_line([5.0], [1.0])


@pytest.mark.parametrize("text", ["5", "1,5", "5,x", "7,7"])
def test_bad_size_lists_are_refused(text: str) -> None:
    """Fewer than two distinct sizes of at least 2 nodes, or garbage, is a one-line error."""
    with pytest.raises(SwarmscopeError) as caught:
        parse_sizes(text)
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith("--nodes:")


def test_sizes_are_sorted_and_unique() -> None:
    assert parse_sizes("20, 5,10,5") == [5, 10, 20]


def test_metrics_read_what_the_scenarios_record() -> None:
    """Each scale metric reads the figure the join, scheduling and mesh scenarios write."""
    records = {
        "join": ScenarioRecord(
            "join",
            "ok",
            0,
            1,
            {"join_all_at_once_seconds": 3.5, "join_total": {"rpi-1": 1.0, "rpi-2": 2.5}},
            {},
            None,
        ),
        "scheduling": ScenarioRecord(
            "scheduling",
            "ok",
            0,
            1,
            {"scheduling_latency": {"count": 50, "p50": 0.8, "p95": 1.2, "max": 2.0}},
            {},
            None,
        ),
        "mesh": ScenarioRecord("mesh", "ok", 0, 1, {"discovery_seconds": 1.25}, {}, None),
    }
    values = {metric.key: metric.read(records) for metric in METRICS}
    assert values == {
        "join_all_at_once_seconds": 3.5,
        "join_slowest_node_seconds": 2.5,
        "scheduling_p50_seconds": 0.8,
        "mesh_discovery_seconds": 1.25,
    }
    assert all(metric.read({}) is None for metric in METRICS)
