"""vcgencmd: the get_throttled decoder against the official table, and the Pi 4/Pi 5 outputs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from exporters.collectors.vcgencmd import (
    VcgencmdCollector,
    decode_throttled,
    parse_clock,
    parse_pmic,
    parse_throttled,
    parse_volts,
)
from exporters.commands import SubprocessRunner
from exporters.exposition import MetricFamily
from exporters.registry import CollectorError
from tests.exporters.recorded import FIXTURES, RecordedRunner

# The official table (Raspberry Pi documentation, "get_throttled"), written out bit by bit.
OFFICIAL_NOW = {
    0: "under_voltage",
    1: "arm_frequency_capped",
    2: "throttled",
    3: "soft_temp_limit",
}
OFFICIAL_SINCE_BOOT = {
    16: "under_voltage",
    17: "arm_frequency_capped",
    18: "throttled",
    19: "soft_temp_limit",
}
STAND_IN = FIXTURES / "bin" / "vcgencmd"


@pytest.mark.parametrize("bit", range(32))
def test_each_bit_alone_sets_exactly_its_official_condition(bit: int) -> None:
    """Bits 0-3 are the conditions now, 16-19 the same since boot; every other bit means
    nothing. A decoder with swapped bits (as some web copies have) fails here."""
    now, since_boot = decode_throttled(1 << bit)
    assert {c for c, on in now.items() if on} == (
        {OFFICIAL_NOW[bit]} if bit in OFFICIAL_NOW else set()
    )
    expected_boot = {OFFICIAL_SINCE_BOOT[bit]} if bit in OFFICIAL_SINCE_BOOT else set()
    assert {c for c, on in since_boot.items() if on} == expected_boot


def test_documented_examples() -> None:
    """0x50005: under-voltage and throttled, now and since boot. 0x80008: soft temperature
    limit now and since boot. 0x0: nothing."""
    assert decode_throttled(parse_throttled("throttled=0x50005\n")) == (
        {
            "under_voltage": True,
            "arm_frequency_capped": False,
            "throttled": True,
            "soft_temp_limit": False,
        },
        {
            "under_voltage": True,
            "arm_frequency_capped": False,
            "throttled": True,
            "soft_temp_limit": False,
        },
    )
    assert decode_throttled(parse_throttled("throttled=0x80008")) == (
        {
            "under_voltage": False,
            "arm_frequency_capped": False,
            "throttled": False,
            "soft_temp_limit": True,
        },
        {
            "under_voltage": False,
            "arm_frequency_capped": False,
            "throttled": False,
            "soft_temp_limit": True,
        },
    )
    now, since_boot = decode_throttled(parse_throttled("throttled=0x0"))
    assert not any(now.values())
    assert not any(since_boot.values())


def test_parsers_read_the_firmware_formats() -> None:
    """Exact outputs of vcgencmd on a Pi 4; garbage is a ValueError naming the output."""
    assert parse_clock("frequency(48)=1500398464\n") == 1500398464.0
    assert parse_volts("volt=0.8500V\n") == 0.85
    for parser, junk in (
        (parse_throttled, "throttled="),
        (parse_clock, "frequency(48)="),
        (parse_volts, "volt=V"),
    ):
        with pytest.raises(ValueError, match="unexpected"):
            parser(junk)


def test_pmic_power_is_the_sum_of_current_times_voltage_over_the_rails() -> None:
    """Pi 5 pmic_read_adc: 12 rails with a current and a voltage; EXT5V and BATT have only a
    voltage and are not rails; EXT5V_V is the input voltage."""
    text = (FIXTURES / "pi5" / "vcgencmd" / "pmic_read_adc.stdout").read_text()
    rails = {
        "3V7_WL_SW": (0.05855580, 3.61069200),
        "3V3_SYS": (0.06148359, 3.29982600),
        "1V8_SYS": (0.13272650, 1.81684800),
        "DDR_VDD2": (0.13955800, 1.10109800),
        "DDR_VDDQ": (0.00980400, 0.60366240),
        "1V1_SYS": (0.19811380, 1.10292900),
        "0V8_SW": (0.34157550, 0.80292960),
        "VDD_CORE": (5.03652000, 0.89369880),
        "3V3_DAC": (0.00006105, 3.29944700),
        "3V3_ADC": (0.00054945, 3.30402600),
        "0V8_AON": (0.00531135, 0.79618980),
        "HDMI": (0.02161170, 4.92450000),
    }
    power, input_volts = parse_pmic(text) or (0.0, None)
    assert power == pytest.approx(sum(a * v for a, v in rails.values()), rel=1e-12)
    assert input_volts == 4.9245
    assert parse_pmic('error=1 error_msg="Command not registered"') is None
    assert parse_pmic("  BATT_V volt(25)=nanV\n  BATT_A current(9)=0.1A\n") is None


def by_name(families: list[MetricFamily]) -> dict[str, dict[tuple[str, ...], float]]:
    return {f.name: {tuple(v for _, v in s.labels): s.value for s in f.samples} for f in families}


def test_pi4_exports_throttling_clock_and_voltage_and_stops_asking_for_the_pmic(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Pi 4 has no pmic_read_adc: the first scrape learns it (logged once), later scrapes
    run only the three commands that exist."""
    runner = RecordedRunner(FIXTURES / "pi4" / "vcgencmd")
    collector = VcgencmdCollector(Path("/usr/bin/vcgencmd"), runner)
    with caplog.at_level(logging.INFO, logger="swarmlet_exporter"):
        first = by_name(list(collector.collect()))
        second = by_name(list(collector.collect()))
    assert first == second
    assert first["swarmlet_rpi_throttled"][("under_voltage",)] == 1
    assert first["swarmlet_rpi_throttled_since_boot"][("throttled",)] == 1
    assert first["swarmlet_rpi_arm_frequency_hertz"] == {(): 1500398464.0}
    assert first["swarmlet_rpi_core_voltage_volts"] == {(): 0.85}
    assert "swarmlet_rpi_pmic_power_watts" not in first
    assert runner.calls[3] == ["pmic_read_adc"]
    assert ["pmic_read_adc"] not in runner.calls[4:]
    assert [r.getMessage() for r in caplog.records] == [
        "collector vcgencmd: no pmic_read_adc on this board (only a Pi 5 has it)"
    ]


def test_without_vcgencmd_nothing_is_exported_and_it_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not a Pi: no series, no failure, one log line."""
    collector = VcgencmdCollector(None, RecordedRunner(FIXTURES / "pi4" / "vcgencmd"))
    with caplog.at_level(logging.INFO, logger="swarmlet_exporter"):
        assert list(collector.collect()) == []
        assert list(collector.collect()) == []
    assert len(caplog.records) == 1


def test_a_stand_in_vcgencmd_runs_through_the_real_subprocess_runner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real runner starts the four commands at once and reads their output, exit codes
    and stderr (the Pi 5 recording: power present; the Pi 4 recording: exit 254)."""
    monkeypatch.setenv("SWX_VCGENCMD_FIXTURES", str(FIXTURES / "pi5" / "vcgencmd"))
    got = by_name(list(VcgencmdCollector(STAND_IN, SubprocessRunner()).collect()))
    assert got["swarmlet_rpi_throttled"][("soft_temp_limit",)] == 1
    assert got["swarmlet_rpi_pmic_power_watts"][()] == pytest.approx(5.9216, abs=1e-4)
    monkeypatch.setenv("SWX_VCGENCMD_FIXTURES", str(FIXTURES / "pi4" / "vcgencmd"))
    results = SubprocessRunner().run_all([[str(STAND_IN), "pmic_read_adc"]])
    assert results[0].returncode == 254
    assert results[0].stderr.startswith('error=1 error_msg="Command not registered"')


def test_a_hanging_command_is_killed_at_the_timeout(tmp_path: Path) -> None:
    """A wedged firmware call cannot hang the scrape: it is killed and reported."""
    script = tmp_path / "vcgencmd"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    collector = VcgencmdCollector(script, SubprocessRunner(timeout=0.3))
    with pytest.raises(CollectorError, match=r"get_throttled failed: timed out after 0\.3s"):
        list(collector.collect())


def test_vchi_failure_names_the_fix(tmp_path: Path) -> None:
    """Without access to /dev/vcio vcgencmd fails with VCHI errors: the message says what to do."""
    script = tmp_path / "vcgencmd"
    script.write_text("#!/bin/sh\necho 'VCHI initialization failed' >&2\nexit 1\n")
    script.chmod(0o755)
    with pytest.raises(CollectorError, match="group video"):
        list(VcgencmdCollector(script, SubprocessRunner()).collect())
