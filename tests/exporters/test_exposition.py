"""The text exposition format, checked against prometheus_client's own parser."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters.exposition import MetricFamily, counter, gauge, render


def parse(text: bytes) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(text.decode())
    }


def test_gauges_counters_and_histograms_parse_with_the_reference_parser() -> None:
    """Every family type the exporter writes is read back unchanged by prometheus_client."""
    temperature = gauge("swarmlet_node_temperature_celsius", "Temperature.", ["sensor", "zone"])
    temperature.add(["cpu-thermal", "0"], 45.277)
    cpu = counter("swarmlet_agent_cpu_seconds_total", "CPU time.")
    cpu.add([], 22.5)
    rtt = MetricFamily("swarmlet_mesh_rtt_seconds", "RTT.", "histogram", ["destination"])
    rtt.add_histogram(["rpi-2"], [(0.0001, 1), (0.001, 5), (math.inf, 6)], 0.0123)

    parsed = parse(render([temperature, cpu, rtt]))

    assert parsed["swarmlet_node_temperature_celsius"] == [
        ("swarmlet_node_temperature_celsius", {"sensor": "cpu-thermal", "zone": "0"}, 45.277)
    ]
    assert parsed["swarmlet_agent_cpu_seconds"] == [("swarmlet_agent_cpu_seconds_total", {}, 22.5)]
    assert parsed["swarmlet_mesh_rtt_seconds"] == [
        ("swarmlet_mesh_rtt_seconds_bucket", {"destination": "rpi-2", "le": "0.0001"}, 1.0),
        ("swarmlet_mesh_rtt_seconds_bucket", {"destination": "rpi-2", "le": "0.001"}, 5.0),
        ("swarmlet_mesh_rtt_seconds_bucket", {"destination": "rpi-2", "le": "+Inf"}, 6.0),
        ("swarmlet_mesh_rtt_seconds_count", {"destination": "rpi-2"}, 6.0),
        ("swarmlet_mesh_rtt_seconds_sum", {"destination": "rpi-2"}, 0.0123),
    ]


def test_label_values_and_help_are_escaped() -> None:
    """Quotes, backslashes and newlines in label values and help cannot break the format."""
    family = gauge("x_info", "Help with a \\ and a\nnewline.", ["path"])
    family.add(['C:\\tmp\\"odd"\nname'], 1)
    text = render([family])
    assert b"# HELP x_info Help with a \\\\ and a\\nnewline.\n" in text
    assert parse(text)["x_info"] == [("x_info", {"path": 'C:\\tmp\\"odd"\nname'}, 1.0)]


def test_special_values_use_go_syntax() -> None:
    """NaN and infinities are written the way Prometheus expects (NaN, +Inf, -Inf)."""
    family = gauge("x_value", "Values.", ["kind"])
    for kind, value in (("nan", math.nan), ("pos", math.inf), ("neg", -math.inf)):
        family.add([kind], value)
    lines = render([family]).decode().splitlines()
    assert lines[2:] == [
        'x_value{kind="nan"} NaN',
        'x_value{kind="pos"} +Inf',
        'x_value{kind="neg"} -Inf',
    ]


@pytest.mark.parametrize(
    ("name", "kind", "labels", "message"),
    [
        ("9starts_with_digit", "gauge", [], "invalid metric name"),
        ("swarmlet_restarts", "counter", [], "must end in _total"),
        ("x", "gauge", ["le"], "invalid label name"),
        ("x", "gauge", ["__reserved"], "invalid label name"),
        ("x", "gauge", ["bad-label"], "invalid label name"),
    ],
)
def test_invalid_names_are_refused_when_the_family_is_made(
    name: str, kind: str, labels: list[str], message: str
) -> None:
    """A misnamed metric is a programming error caught at once, not a broken scrape."""
    with pytest.raises(ValueError, match=message):
        MetricFamily(name, "doc", kind, labels)  # type: ignore[arg-type]


def test_label_count_must_match() -> None:
    """A sample with the wrong number of label values is refused."""
    family = gauge("x", "doc", ["a", "b"])
    with pytest.raises(ValueError, match="expected labels"):
        family.add(["only-one"], 1)


def test_histogram_needs_an_inf_bucket() -> None:
    """Histograms must end with the +Inf bucket, as the format requires."""
    family = MetricFamily("x_seconds", "doc", "histogram")
    with pytest.raises(ValueError, match=r"\+Inf"):
        family.add_histogram([], [(1.0, 3)], 2.0)
