"""Thermal capture: the on-node loop against a Raspberry Pi's sysfs and vcgencmd formats."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from drivers.faults.thermal import parse_samples, sampling_script


def pi_tree(root: Path, millidegrees: list[int], throttled: list[str]) -> Path:
    """A Pi 4's sysfs (one cpu-thermal zone, cpufreq in kHz) and a vcgencmd that answers
    ``throttled=0x...`` from a list, one value per call."""
    zone = root / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text(f"{millidegrees[0]}\n")
    cpufreq = root / "sys/devices/system/cpu/cpu0/cpufreq"
    cpufreq.mkdir(parents=True)
    (cpufreq / "scaling_cur_freq").write_text("1500000\n")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    values = root / "throttled.txt"
    values.write_text("\n".join(throttled) + "\n")
    temps = root / "temps.txt"
    temps.write_text("\n".join(str(t) for t in millidegrees) + "\n")
    # Each call reports the next value and moves the zone's temperature on, like a warming Pi.
    script = bin_dir / "vcgencmd"
    script.write_text(
        "#!/bin/sh\n"
        f'V=$(head -n1 {values}); sed -i 1d {values}; echo "throttled=$V"\n'
        f"T=$(head -n1 {temps}); sed -i 1d {temps}; "
        f'[ -n "$T" ] && echo "$T" > {zone}/temp\n'
    )
    script.chmod(0o755)
    return bin_dir


def test_samples_from_a_warming_pi_give_max_temperature_and_throttling(tmp_path: Path) -> None:
    """Max temperature in °C from millidegrees, the CPU clock in Hz, and throttling that
    started during the capture (now-bit, or a since-boot bit newly set) is reported; a
    since-boot bit already set at the start is not blamed on this stress."""
    bin_dir = pi_tree(
        tmp_path,
        millidegrees=[61300, 72450, 81100],
        throttled=["0x10000", "0x10000", "0x80008"],  # old under-voltage; soft limit now
    )
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = subprocess.run(
        ["sh", "-c", sampling_script(3, 0.05, root=str(tmp_path))],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    ).stdout
    capture = parse_samples("rpi-1", out)
    assert capture.samples == 3
    assert capture.sensors == ["cpu-thermal"]
    assert capture.max_temperature_celsius == 72.45
    assert capture.min_frequency_hertz == 1.5e9
    assert capture.throttling_seen == {
        "under_voltage": False,
        "arm_frequency_capped": False,
        "throttled": False,
        "soft_temp_limit": True,
    }
    assert capture.note == ""
    rows = list(capture.rows())
    assert ("temperature_celsius", "cpu-thermal", 72.45) in [r[1:] for r in rows]


def test_a_machine_without_sensors_says_so(tmp_path: Path) -> None:
    """No zones, no cpufreq, no vcgencmd (a VM, the lab): timestamps only, and a note
    instead of an invented temperature."""
    out = subprocess.run(
        ["sh", "-c", sampling_script(2, 0.01, root=str(tmp_path))],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=30,
        check=True,
    ).stdout
    capture = parse_samples("rpi-1", out)
    assert capture.samples == 2
    assert capture.max_temperature_celsius is None
    assert capture.throttling_seen is None
    assert "no thermal sensors" in capture.note
    assert "not a Raspberry Pi" in capture.note


def test_garbled_lines_are_skipped_not_guessed() -> None:
    """Truncated or non-numeric readings are dropped; good ones around them are kept."""
    capture = parse_samples(
        "rpi-1",
        "tick 10.0\ntemp 10.0 thermal_zone0 cpu-thermal 50000\n"
        "temp 11.0 thermal_zone0 cpu-thermal\ntemp x thermal_zone0 cpu-thermal 1\n"
        "throttled 11.0 throttled=zz\nthrottled 11.0 error\nfreq 11.0 cpu0 nan\n"
        "tick 12.0\ntemp 12.0 thermal_zone0 cpu-thermal 52500\n",
    )
    assert capture.samples == 3
    assert capture.temperatures == [(10.0, "cpu-thermal", 50.0), (12.0, "cpu-thermal", 52.5)]
    assert capture.throttled == []
    assert capture.frequencies == []
