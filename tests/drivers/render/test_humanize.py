"""Prometheus' template functions ported to Python format as Prometheus 2.x does.

The generated promtool tests compare these against Prometheus itself for every alert; the
cases here pin the edges those tests do not reach.
"""

from __future__ import annotations

import pytest

from drivers.render.humanize import (
    humanize,
    humanize_duration,
    humanize_percentage,
    prometheus_duration,
)
from drivers.render.template import render


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (1.5, "1.5s"),
        (90, "1m 30s"),
        (3600, "1h 0m 0s"),
        (90061, "1d 1h 1m 1s"),
        (0.015, "15ms"),
        (0.000250, "250us"),
        (-90, "-1m 30s"),
    ],
)
def test_humanize_duration(seconds: float, text: str) -> None:
    """Days, hours, minutes with whole seconds; below a second, SI-prefixed seconds."""
    assert humanize_duration(seconds) == text


def test_humanize_and_percentage() -> None:
    """SI prefixes up and down; ratios as percent with four significant digits."""
    assert humanize(75e6) == "75M"
    assert humanize(1234567) == "1.235M"
    assert humanize(0.005) == "5m"
    assert humanize(0) == "0"
    assert humanize_percentage(0.15) == "15%"
    assert humanize_percentage(0.123456) == "12.35%"


@pytest.mark.parametrize(
    ("seconds", "text"), [(300, "5m"), (90, "90s"), (3600, "1h"), (0.25, "250ms"), (0, "0s")]
)
def test_prometheus_duration(seconds: float, text: str) -> None:
    """The largest whole unit Prometheus accepts."""
    assert prometheus_duration(seconds) == text


def test_template_renders_labels_and_values_and_refuses_the_rest() -> None:
    """Only the template actions the generated rules use; anything else is an error."""
    text = "{{ $labels.node }}: {{ $value | humanizeDuration }} ({{ $value }})"
    assert render(text, {"node": "rpi-1"}, 45.0) == "rpi-1: 45s (45)"
    with pytest.raises(ValueError, match="unsupported"):
        render("{{ $value | printf }}", {}, 1.0)
