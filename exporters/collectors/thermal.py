"""Temperatures of every thermal zone and the clock of every CPU, from sysfs.

Exposition (a Raspberry Pi 4 at rest)::

    # TYPE swarmlet_node_temperature_celsius gauge
    swarmlet_node_temperature_celsius{sensor="cpu-thermal",zone="0"} 45.277
    # TYPE swarmlet_cpu_frequency_hertz gauge
    swarmlet_cpu_frequency_hertz{cpu="0"} 1500000000.0
    # TYPE swarmlet_cpu_frequency_max_hertz gauge
    swarmlet_cpu_frequency_max_hertz{cpu="0"} 1500000000.0
    # TYPE swarmlet_cpu_frequency_min_hertz gauge
    swarmlet_cpu_frequency_min_hertz{cpu="0"} 600000000.0

Sources: ``/sys/class/thermal/thermal_zone*/temp`` (millidegrees Celsius; the label
``sensor`` is the zone's ``type``, ``zone`` its number, as two zones may share a type) and
``/sys/devices/system/cpu/cpu*/cpufreq/scaling_{cur,max,min}_freq`` (kHz). A zone whose
temperature cannot be read (some drivers answer EIO or ENODATA while idle) is left out.
Machines without sensors or cpufreq -- virtual machines -- export none of these series and
say so once in the log; that is not a failure.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from exporters.exposition import MetricFamily, gauge
from exporters.quietlog import QuietLog

log = logging.getLogger("swarmlet_exporter")

_ZONE = re.compile(r"^thermal_zone(\d+)$")
_CPU = re.compile(r"^cpu(\d+)$")
_FREQUENCY_FILES = (
    ("scaling_cur_freq", "swarmlet_cpu_frequency_hertz", "Current clock of the CPU."),
    ("scaling_max_freq", "swarmlet_cpu_frequency_max_hertz", "Highest clock cpufreq allows."),
    ("scaling_min_freq", "swarmlet_cpu_frequency_min_hertz", "Lowest clock cpufreq allows."),
)


class ThermalCollector:
    name = "thermal"

    def __init__(self, sys_root: Path) -> None:
        self.thermal_dir = sys_root / "class" / "thermal"
        self.cpu_dir = sys_root / "devices" / "system" / "cpu"
        self._quiet = QuietLog(log, "collector thermal")

    def collect(self) -> Iterable[MetricFamily]:
        families: list[MetricFamily] = []
        temperature = self._temperatures()
        if temperature.samples:
            families.append(temperature)
        else:
            self._quiet.note("no-zones", f"no readable thermal zones under {self.thermal_dir}")
        frequencies = self._frequencies()
        if frequencies:
            families += frequencies
        else:
            self._quiet.note("no-cpufreq", f"no cpufreq data under {self.cpu_dir}")
        return families

    def _temperatures(self) -> MetricFamily:
        family = gauge(
            "swarmlet_node_temperature_celsius",
            "Temperature of a thermal zone.",
            ["sensor", "zone"],
        )
        for number, zone in _numbered(self.thermal_dir, _ZONE):
            millidegrees = _read_int(zone / "temp")
            if millidegrees is None:
                continue
            sensor = _read_text(zone / "type") or f"thermal_zone{number}"
            family.add([sensor, str(number)], millidegrees / 1000.0)
        return family

    def _frequencies(self) -> list[MetricFamily]:
        families = {
            filename: gauge(metric, help_text, ["cpu"])
            for filename, metric, help_text in _FREQUENCY_FILES
        }
        for number, cpu in _numbered(self.cpu_dir, _CPU):
            for filename, family in families.items():
                kilohertz = _read_int(cpu / "cpufreq" / filename)
                if kilohertz is not None:
                    family.add([str(number)], kilohertz * 1000.0)
        return [family for family in families.values() if family.samples]


def _numbered(directory: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    """Entries like thermal_zone3 or cpu12, in numeric order."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = [(int(m.group(1)), directory / name) for name in names if (m := pattern.match(name))]
    return sorted(found)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None
