"""The PromQL scan finds the series an expression reads, as the generators need them."""

from __future__ import annotations

import pytest

from drivers.render.promql import Matcher, PromQLError, metric_names, outer_grouping, selectors


def test_selectors_of_a_threshold_expression() -> None:
    """Metric, matchers, range and enclosing function; aggregation words are not metrics."""
    expr = (
        "max by (source, destination) (rate(swarmlet_mesh_rtt_seconds_sum[5m]) "
        '/ rate(swarmlet_mesh_rtt_seconds_count{source="rpi-1"}[5m]))'
    )
    found = selectors(expr)
    assert [(s.metric, s.range, s.function) for s in found] == [
        ("swarmlet_mesh_rtt_seconds_sum", "5m", "rate"),
        ("swarmlet_mesh_rtt_seconds_count", "5m", "rate"),
    ]
    assert found[1].matchers == (Matcher("source", "=", "rpi-1"),)
    assert outer_grouping(expr) == ("source", "destination")


def test_metric_names_skip_keywords_labels_and_grafana_variables() -> None:
    """`by (...)`, `ignoring(...)`, label names, offsets, $variables and numbers are no metrics."""
    expr = (
        'count(up{job="swarmlet", node=~"$node"} == 1) / ignoring(x) ALERTS offset 5m '
        "+ sum(rate(a_total[$__rate_interval])) by (le) "
        "+ histogram_quantile(0.9, b_bucket) > 1e3 or vector(0)"
    )
    assert metric_names(expr) == {"up", "ALERTS", "a_total", "b_bucket"}


def test_outer_grouping_only_for_a_leading_aggregation() -> None:
    """Without a leading `AGG by (...)` there is no grouping to read."""
    assert outer_grouping("max by (node) (x)") == ("node",)
    assert outer_grouping("x > 1") is None
    assert outer_grouping("sum(x) by (node)") is None


def test_unreadable_text_is_an_error() -> None:
    """Characters PromQL does not have are reported, not skipped."""
    with pytest.raises(PromQLError):
        selectors("max by (node) (x) ; drop")
