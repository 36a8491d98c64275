"""Thermal zones and cpufreq, read from sysfs trees in the formats a Pi 4 and a Pi 5 write."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from exporters.collectors.thermal import ThermalCollector
from exporters.exposition import MetricFamily
from tests.exporters.recorded import FIXTURES


def values(families: list[MetricFamily]) -> dict[str, dict[tuple[str, ...], float]]:
    return {f.name: {tuple(v for _, v in s.labels): s.value for s in f.samples} for f in families}


def test_pi4_millidegrees_become_celsius_and_khz_become_hertz() -> None:
    """thermal_zone0 'cpu-thermal' 45277 -> 45.277 C; scaling_cur_freq 1500000 kHz -> 1.5 GHz."""
    got = values(list(ThermalCollector(FIXTURES / "pi4" / "sys").collect()))
    assert got["swarmlet_node_temperature_celsius"] == {("cpu-thermal", "0"): 45.277}
    assert got["swarmlet_cpu_frequency_hertz"] == {(str(c),): 1.5e9 for c in range(4)}
    assert got["swarmlet_cpu_frequency_max_hertz"] == {(str(c),): 1.5e9 for c in range(4)}
    assert got["swarmlet_cpu_frequency_min_hertz"] == {(str(c),): 6e8 for c in range(4)}


def test_pi5_values() -> None:
    """A Pi 5 at 52.7 C running at 2.4 GHz with a 1.5 GHz floor."""
    got = values(list(ThermalCollector(FIXTURES / "pi5" / "sys").collect()))
    assert got["swarmlet_node_temperature_celsius"] == {("cpu-thermal", "0"): 52.7}
    assert got["swarmlet_cpu_frequency_hertz"][("3",)] == 2.4e9
    assert got["swarmlet_cpu_frequency_min_hertz"][("0",)] == 1.5e9


def test_a_vm_without_sensors_exports_nothing_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No thermal zones and no cpufreq is normal on a VM: no series, one log line each, no error."""
    collector = ThermalCollector(FIXTURES / "vm" / "sys")
    with caplog.at_level(logging.INFO, logger="swarmlet_exporter"):
        assert list(collector.collect()) == []
        assert list(collector.collect()) == []
    assert [r.getMessage().split(":")[1].strip() for r in caplog.records] == [
        "no readable thermal zones under " + str(FIXTURES / "vm/sys/class/thermal"),
        "no cpufreq data under " + str(FIXTURES / "vm/sys/devices/system/cpu"),
    ]


def test_unreadable_or_odd_zones_are_skipped_not_fatal(tmp_path: Path) -> None:
    """A zone whose temp cannot be read (EIO on some drivers) or is not a number is left out;
    zones sharing a type stay apart through their zone number; numeric order, not string."""
    zones = tmp_path / "class" / "thermal"
    for number, kind, temp in (
        (0, "acpitz", "27800"),
        (10, "acpitz", "31000"),
        (2, "x86_pkg_temp", None),
        (3, "iwlwifi_1", "not-a-number"),
    ):
        zone = zones / f"thermal_zone{number}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(kind + "\n")
        if temp is None:
            (zone / "temp").mkdir()  # reading it fails with an OSError, like EIO would
        else:
            (zone / "temp").write_text(temp + "\n")
    (zones / "cooling_device0").mkdir()
    family = next(iter(ThermalCollector(tmp_path).collect()))
    assert [(s.labels, s.value) for s in family.samples] == [
        ((("sensor", "acpitz"), ("zone", "0")), 27.8),
        ((("sensor", "acpitz"), ("zone", "10")), 31.0),
    ]
