"""Temperature, CPU clock and throttling of a node, sampled on the node during a stress.

One bounded loop runs on the node (it ends by itself after ``count`` samples, so a lost
controller leaves nothing behind) and prints a line per reading::

    tick 1714564800.123
    temp 1714564800.123 thermal_zone0 cpu-thermal 61300
    freq 1714564800.123 cpu0 1500000
    throttled 1714564800.123 throttled=0x50005

Sources are the seed's: ``/sys/class/thermal/thermal_zone*/temp`` (millidegrees Celsius),
``scaling_cur_freq`` (kHz) and ``vcgencmd get_throttled`` (bits per the official table, as
the exporter decodes them). A machine without sensors (a VM, the lab) gives timestamps
only; the capture then says so instead of inventing a temperature.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from drivers.faults import shell
from drivers.remote import CommandResult
from exporters.collectors.vcgencmd import THROTTLED_CONDITIONS, decode_throttled

CSV_HEADER = ("timestamp", "reading", "source", "value")


def sampling_script(count: int, interval: float, root: str = "") -> str:
    """The on-node loop: ``count`` samples ``interval`` seconds apart (``root`` prefixes the
    sysfs paths, for a fixture tree in tests)."""
    root = shell.q(root) if root else ""
    return shell.lines(
        f"i=0; while [ $i -lt {count} ]; do",
        '  TS=$(date +%s.%N); echo "tick $TS"',
        f"  for Z in {root}/sys/class/thermal/thermal_zone*; do",
        '    [ -r "$Z/temp" ] || continue',
        '    V=$(cat "$Z/temp" 2>/dev/null) || continue',
        '    echo "temp $TS ${Z##*/} $(cat "$Z/type" 2>/dev/null || echo unknown) $V"',
        "  done",
        f"  for F in {root}/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq; do",
        '    [ -r "$F" ] || continue',
        '    C=${F%/cpufreq/*}; echo "freq $TS ${C##*/} $(cat "$F" 2>/dev/null)"',
        "  done",
        "  if command -v vcgencmd >/dev/null 2>&1; then",
        '    echo "throttled $TS $(vcgencmd get_throttled 2>/dev/null)"',
        "  fi",
        f"  i=$((i+1)); [ $i -lt {count} ] && sleep {interval:g}",
        "done",
        "exit 0",
    )


@dataclass
class ThermalCapture:
    node: str
    temperatures: list[tuple[float, str, float]] = field(default_factory=list)  # ts, sensor, °C
    frequencies: list[tuple[float, str, float]] = field(default_factory=list)  # ts, cpu, Hz
    throttled: list[tuple[float, int]] = field(default_factory=list)  # ts, get_throttled value
    samples: int = 0

    def extend(self, other: ThermalCapture) -> None:
        """Add a later capture of the same node (one per phase)."""
        self.temperatures += other.temperatures
        self.frequencies += other.frequencies
        self.throttled += other.throttled
        self.samples += other.samples

    @property
    def sensors(self) -> list[str]:
        return sorted({sensor for _, sensor, _ in self.temperatures})

    @property
    def max_temperature_celsius(self) -> float | None:
        return max((c for _, _, c in self.temperatures), default=None)

    @property
    def min_frequency_hertz(self) -> float | None:
        return min((f for _, _, f in self.frequencies), default=None)

    @property
    def throttling_seen(self) -> dict[str, bool] | None:
        """Each condition, True if its "now" bit was set in any sample, or its "since boot"
        bit got set during the capture; None without vcgencmd (not a Pi)."""
        if not self.throttled:
            return None
        seen = {name: False for name in THROTTLED_CONDITIONS.values()}
        first_since_boot = decode_throttled(self.throttled[0][1])[1]
        for _, value in self.throttled:
            now, since_boot = decode_throttled(value)
            for name in seen:
                if now[name] or (since_boot[name] and not first_since_boot[name]):
                    seen[name] = True
        return seen

    @property
    def note(self) -> str:
        missing = []
        if not self.temperatures:
            missing.append("no thermal sensors (/sys/class/thermal has no readable zone)")
        if not self.throttled:
            missing.append("no vcgencmd (not a Raspberry Pi): throttling unknown")
        if not self.frequencies:
            missing.append("no cpufreq")
        return "; ".join(missing)

    def rows(self) -> Iterable[tuple[float, str, str, float]]:
        for ts, sensor, celsius in self.temperatures:
            yield (ts, "temperature_celsius", sensor, celsius)
        for ts, cpu, hertz in self.frequencies:
            yield (ts, "cpu_frequency_hertz", cpu, hertz)
        for ts, value in self.throttled:
            yield (ts, "throttled", "get_throttled", float(value))

    def summary(self) -> dict[str, object]:
        return {
            "samples": self.samples,
            "sensors": self.sensors,
            "max_temperature_celsius": self.max_temperature_celsius,
            "min_cpu_frequency_hertz": self.min_frequency_hertz,
            "throttling_seen": self.throttling_seen,
            "note": self.note,
        }


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_samples(node: str, text: str) -> ThermalCapture:
    """Lines of the sampling loop; anything garbled is skipped, never guessed."""
    capture = ThermalCapture(node)
    stamps: set[float] = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        ts = _number(fields[1])
        if ts is None:
            continue
        stamps.add(ts)
        if len(fields) < 3:
            continue
        if fields[0] == "temp" and len(fields) == 5:
            millidegrees = _number(fields[4])
            if millidegrees is not None:
                capture.temperatures.append((ts, fields[3], millidegrees / 1000.0))
        elif fields[0] == "freq" and len(fields) == 4:
            khz = _number(fields[3])
            if khz is not None:
                capture.frequencies.append((ts, fields[2], khz * 1000.0))
        elif fields[0] == "throttled" and fields[2].startswith("throttled="):
            raw = fields[2].split("=", 1)[1]
            try:
                capture.throttled.append((ts, int(raw, 0)))
            except ValueError:
                continue
    capture.samples = len(stamps)
    return capture


class _Runs(Protocol):
    def run(self, script: str, timeout: float) -> CommandResult: ...


def capture(node: str, runner: _Runs, seconds: float, interval: float = 1.0) -> ThermalCapture:
    """Sample for ``seconds`` (blocking: run it in a thread beside the stress)."""
    count = max(1, int(seconds / interval) + 1)
    result = runner.run(sampling_script(count, interval), timeout=seconds + 60.0)
    return parse_samples(node, result.stdout)
