"""The registry's health check: a failing collector costs only its own series, logged once."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters.exposition import MetricFamily, gauge
from exporters.quietlog import QuietLog
from exporters.registry import CollectorError, Registry
from tests.exporters.recorded import StepClock


class Steady:
    name = "steady"

    def collect(self) -> Iterable[MetricFamily]:
        family = gauge("steady_value", "Always 42.")
        family.add([], 42)
        return [family]


class Flaky:
    """Fails while ``failure`` is set, after yielding a family (which must then be dropped)."""

    name = "flaky"

    def __init__(self) -> None:
        self.failure: Exception | None = CollectorError("cannot reach Docker at unix:///x")

    def collect(self) -> Iterable[MetricFamily]:
        partial = gauge("flaky_partial", "Half-read.")
        partial.add([], 1)
        yield partial
        if self.failure is not None:
            raise self.failure


def samples(registry: Registry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(registry.render().decode())
        for s in family.samples
    }


def test_a_failing_collector_reports_success_zero_and_the_rest_is_served() -> None:
    """Docker down (or any error) in one collector: success 0 for it, all others served."""
    registry = Registry([Steady(), Flaky()], clock=StepClock(0.5))
    values = samples(registry)
    assert values[("steady_value", ())] == 42
    assert values[("swarmlet_exporter_collector_success", (("collector", "steady"),))] == 1
    assert values[("swarmlet_exporter_collector_success", (("collector", "flaky"),))] == 0
    assert (
        values[("swarmlet_exporter_collector_duration_seconds", (("collector", "flaky"),))] == 0.5
    )
    assert ("flaky_partial", ()) not in values, "a failed collector's partial output is dropped"


def test_an_unexpected_exception_is_contained_too() -> None:
    """A bug (say a KeyError) in a collector must not end the scrape either."""
    flaky = Flaky()
    flaky.failure = KeyError("State")
    values = samples(Registry([flaky, Steady()]))
    assert values[("swarmlet_exporter_collector_success", (("collector", "flaky"),))] == 0
    assert values[("steady_value", ())] == 42


def test_failures_are_logged_once_not_per_scrape(caplog: pytest.LogCaptureFixture) -> None:
    """Ten failing scrapes log one line (no traceback); recovery is logged once."""
    flaky = Flaky()
    registry = Registry([flaky])
    with caplog.at_level(logging.INFO, logger="swarmlet_exporter"):
        for _ in range(10):
            registry.collect()
        flaky.failure = None
        registry.collect()
        registry.collect()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "collector flaky: cannot reach Docker at unix:///x",
        "collector flaky: recovered after 10 failed scrapes",
    ]
    assert all(r.exc_info is None for r in caplog.records)


def test_build_info_carries_node_and_version() -> None:
    """The node name given with --node is exported for dashboards and the mesh."""
    values = samples(Registry([], info={"node": "rpi-3", "version": "0.1.0"}))
    assert values[("swarmlet_exporter_build_info", (("node", "rpi-3"), ("version", "0.1.0")))] == 1


def test_collector_names_must_be_unique() -> None:
    """Two collectors under one name would produce duplicate health series."""
    with pytest.raises(ValueError, match="unique"):
        Registry([Steady(), Steady()])


def test_quiet_log_repeats_a_persisting_problem_rarely(caplog: pytest.LogCaptureFixture) -> None:
    """The same problem is logged again only after the repeat interval, with a count."""
    now = [0.0]
    quiet = QuietLog(
        logging.getLogger("swarmlet_exporter"),
        "collector x",
        repeat_interval=60,
        clock=lambda: now[0],
    )
    with caplog.at_level(logging.INFO, logger="swarmlet_exporter"):
        for second in range(0, 130, 10):
            now[0] = second
            quiet.problem("disk unreadable")
        quiet.problem("another problem")
        quiet.note("vm", "no sensors")
        quiet.note("vm", "no sensors")
    assert [r.getMessage() for r in caplog.records] == [
        "collector x: disk unreadable",
        "collector x: disk unreadable (repeated 5 times since last logged)",
        "collector x: disk unreadable (repeated 5 times since last logged)",
        "collector x: another problem",
        "collector x: no sensors",
    ]
