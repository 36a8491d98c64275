"""Raspberry Pi firmware readings through ``vcgencmd``: throttling, ARM clock, core voltage,
and on a Pi 5 the power drawn through the PMIC.

Exposition (a Pi 5 that hit its soft temperature limit, ``throttled=0x80008``)::

    # TYPE swarmlet_rpi_throttled gauge
    swarmlet_rpi_throttled{condition="under_voltage"} 0.0
    swarmlet_rpi_throttled{condition="arm_frequency_capped"} 0.0
    swarmlet_rpi_throttled{condition="throttled"} 0.0
    swarmlet_rpi_throttled{condition="soft_temp_limit"} 1.0
    # TYPE swarmlet_rpi_throttled_since_boot gauge
    swarmlet_rpi_throttled_since_boot{condition="under_voltage"} 0.0
    ... (the same four conditions)
    # TYPE swarmlet_rpi_arm_frequency_hertz gauge
    swarmlet_rpi_arm_frequency_hertz 2400000000.0
    # TYPE swarmlet_rpi_core_voltage_volts gauge
    swarmlet_rpi_core_voltage_volts 0.72
    # TYPE swarmlet_rpi_pmic_power_watts gauge
    swarmlet_rpi_pmic_power_watts 3.62
    # TYPE swarmlet_rpi_pmic_input_voltage_volts gauge
    swarmlet_rpi_pmic_input_voltage_volts 5.1

``get_throttled`` bits, per the official table in the Raspberry Pi documentation (copies on
the web that swap bits are wrong):

    bit 0  under-voltage detected         bit 16  under-voltage has occurred
    bit 1  ARM frequency capped           bit 17  ARM frequency capping has occurred
    bit 2  currently throttled            bit 18  throttling has occurred
    bit 3  soft temperature limit active  bit 19  soft temperature limit has occurred

``pmic_read_adc`` (Pi 5 only) prints one line per ADC channel, a current for each rail
(``VDD_CORE_A current(7)=0.75012000A``) and its voltage (``VDD_CORE_V volt(15)=0.88V``).
The power is the sum of current x voltage over every rail that has both: the power the PMIC
delivers to the board's rails, not the draw at the wall (conversion losses and USB devices
powered straight from 5 V are not in it). ``EXT5V_V`` is the supply's input voltage.

No vcgencmd (not a Pi): nothing is exported and the log says so once. A Pi 4, whose
firmware has no ``pmic_read_adc``, exports everything but the two PMIC series.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from pathlib import Path

from exporters.commands import CommandResult, CommandRunner
from exporters.exposition import MetricFamily, gauge
from exporters.quietlog import QuietLog
from exporters.registry import CollectorError

log = logging.getLogger("swarmlet_exporter")

# The official get_throttled table: bit -> condition; bit + 16 is the same since boot.
THROTTLED_CONDITIONS: dict[int, str] = {
    0: "under_voltage",
    1: "arm_frequency_capped",
    2: "throttled",
    3: "soft_temp_limit",
}
SINCE_BOOT_SHIFT = 16
# Where Raspberry Pi OS and older Raspbian install it, in case PATH lacks them.
VCGENCMD_DIRS = ("/usr/bin", "/opt/vc/bin")

_THROTTLED = re.compile(r"^throttled=(0x[0-9a-fA-F]+|\d+)$")
_CLOCK = re.compile(r"^frequency\(\d+\)=(\d+)$")
_VOLTS = re.compile(r"^volt=([0-9.]+)V$")
_ADC = re.compile(
    r"^\s*(?P<rail>\S+)_(?P<kind>[AV])\s+(?:current|volt)\(\d+\)=(?P<value>[-+0-9.eE]+|nan)[AV]\s*$"
)


def decode_throttled(value: int) -> tuple[dict[str, bool], dict[str, bool]]:
    """``(now, since_boot)``: each condition of the official table and whether its bit is set."""
    now = {name: bool(value >> bit & 1) for bit, name in THROTTLED_CONDITIONS.items()}
    since_boot = {
        name: bool(value >> (bit + SINCE_BOOT_SHIFT) & 1)
        for bit, name in THROTTLED_CONDITIONS.items()
    }
    return now, since_boot


def parse_throttled(text: str) -> int:
    """``throttled=0x50005`` -> 0x50005."""
    match = _THROTTLED.match(text.strip())
    if not match:
        raise ValueError(f"unexpected get_throttled output {text.strip()[:60]!r}")
    return int(match.group(1), 0)


def parse_clock(text: str) -> float:
    """``frequency(48)=1500398464`` -> 1500398464.0 (Hz)."""
    match = _CLOCK.match(text.strip())
    if not match:
        raise ValueError(f"unexpected measure_clock output {text.strip()[:60]!r}")
    return float(match.group(1))


def parse_volts(text: str) -> float:
    """``volt=0.8500V`` -> 0.85."""
    match = _VOLTS.match(text.strip())
    if not match:
        raise ValueError(f"unexpected measure_volts output {text.strip()[:60]!r}")
    return float(match.group(1))


def parse_pmic(text: str) -> tuple[float, float | None] | None:
    """``(rail power in W, input voltage EXT5V_V or None)``; None when no rail had both a
    current and a voltage (a Pi 4 answers ``error=2 error_msg="Command not registered"``)."""
    currents: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        match = _ADC.match(line)
        if not match:
            continue
        value = float(match.group("value"))
        if not math.isfinite(value):
            continue
        (currents if match.group("kind") == "A" else volts)[match.group("rail")] = value
    rails = sorted(currents.keys() & volts.keys())  # a fixed order: the same sum every time
    if not rails:
        return None
    return sum(currents[r] * volts[r] for r in rails), volts.get("EXT5V")


class VcgencmdCollector:
    name = "vcgencmd"

    def __init__(self, vcgencmd: Path | None, runner: CommandRunner) -> None:
        self.vcgencmd = vcgencmd
        self.runner = runner
        self._quiet = QuietLog(log, "collector vcgencmd")
        self._pmic_supported = True

    def collect(self) -> Iterable[MetricFamily]:
        if self.vcgencmd is None:
            self._quiet.note("missing", "vcgencmd not found: not a Raspberry Pi, nothing exported")
            return []
        commands = [
            ["get_throttled"],
            ["measure_clock", "arm"],
            ["measure_volts", "core"],
        ]
        if self._pmic_supported:
            commands.append(["pmic_read_adc"])
        try:
            results = self.runner.run_all([[str(self.vcgencmd), *c] for c in commands])
        except OSError as exc:
            raise CollectorError(f"cannot run {self.vcgencmd}: {exc.strerror or exc}") from None
        throttled, clock, volts = (self._output(r) for r in results[:3])
        try:
            families = self._throttled(parse_throttled(throttled))
            families.append(
                _single(
                    "swarmlet_rpi_arm_frequency_hertz",
                    "ARM clock measured by the firmware.",
                    parse_clock(clock),
                )
            )
            families.append(
                _single(
                    "swarmlet_rpi_core_voltage_volts",
                    "Core voltage reported by the firmware.",
                    parse_volts(volts),
                )
            )
        except ValueError as exc:
            raise CollectorError(str(exc)) from None
        if len(results) > 3:
            families += self._pmic(results[3])
        return families

    def _output(self, result: CommandResult) -> str:
        if not result.ok or result.stdout.startswith("error="):
            detail = (result.stderr or result.stdout).strip().splitlines()
            reason = detail[0] if detail else f"exit code {result.returncode}"
            hint = (
                " (the exporter's user needs /dev/vcio: add it to group video)"
                if ("VCHI" in reason or "permission" in reason.lower())
                else ""
            )
            raise CollectorError(f"{' '.join(result.argv)} failed: {reason}{hint}")
        return result.stdout

    def _throttled(self, value: int) -> list[MetricFamily]:
        now, since_boot = decode_throttled(value)
        current = gauge(
            "swarmlet_rpi_throttled",
            "1 while the condition holds now (vcgencmd get_throttled bits 0-3).",
            ["condition"],
        )
        sticky = gauge(
            "swarmlet_rpi_throttled_since_boot",
            "1 if the condition happened since boot (vcgencmd get_throttled bits 16-19).",
            ["condition"],
        )
        for condition in THROTTLED_CONDITIONS.values():
            current.add([condition], float(now[condition]))
            sticky.add([condition], float(since_boot[condition]))
        return [current, sticky]

    def _pmic(self, result: CommandResult) -> list[MetricFamily]:
        if result.returncode is None:
            raise CollectorError(f"{' '.join(result.argv)} failed: {result.stderr}")
        parsed = parse_pmic(result.stdout) if result.ok else None
        if parsed is None:
            self._pmic_supported = False
            self._quiet.note("no-pmic", "no pmic_read_adc on this board (only a Pi 5 has it)")
            return []
        power, input_volts = parsed
        families = [
            _single(
                "swarmlet_rpi_pmic_power_watts",
                "Sum of current x voltage over the PMIC's rails.",
                power,
            )
        ]
        if input_volts is not None:
            families.append(
                _single(
                    "swarmlet_rpi_pmic_input_voltage_volts",
                    "Supply voltage at the board's input (EXT5V_V).",
                    input_volts,
                )
            )
        return families


def _single(name: str, documentation: str, value: float) -> MetricFamily:
    family = gauge(name, documentation)
    family.add([], value)
    return family
