"""thresholds.yaml is read strictly and judges values the way the seed's table means them."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.errors import ConfigError
from drivers.thresholds import DEFAULT_PATH, Verdict, load_thresholds

SEED_NUMBERS = {
    # key: (target, acceptable) in base units, straight from the seed's tables
    "join_total": (30, 60),
    "join_hardware_profiling": (5, 5),
    "join_network_discovery": (3, 3),
    "join_certificate_exchange": (2, 2),
    "memory_footprint": (50e6, 100e6),
    "agent_cpu": (0.10, 0.10),
    "join_network_traffic": (10e6, 10e6),
    "coordination_latency": (0.010, 0.050),
    "failure_detection": (10, 30),
    "recovery": (30, 60),
    "network_overhead": (0.05, 0.10),
}


def test_every_seed_number_is_in_the_file() -> None:
    """Every number of the seed's Expected Metrics and Performance Targets is here."""
    thresholds = load_thresholds()
    assert set(thresholds) == set(SEED_NUMBERS)
    for key, (target, acceptable) in SEED_NUMBERS.items():
        assert thresholds[key].target == pytest.approx(target), key
        assert thresholds[key].acceptable == pytest.approx(acceptable), key


def test_judge_reads_the_bounds_inclusively() -> None:
    """Exactly at target is met, between is acceptable, beyond acceptable fails."""
    join = load_thresholds()["join_total"]
    assert join.judge(12.0) is Verdict.MET
    assert join.judge(30.0) is Verdict.MET
    assert join.judge(30.1) is Verdict.ACCEPTABLE
    assert join.judge(60.0) is Verdict.ACCEPTABLE
    assert join.judge(60.5) is Verdict.FAILED
    assert max(Verdict.MET, Verdict.FAILED, Verdict.ACCEPTABLE) is Verdict.FAILED


def _write_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_PATH.read_text()
    assert old in text, old
    path = tmp_path / "thresholds.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "    target: 30s\n",
            "    target: 30s\n    targte: 20s\n",
            "thresholds.join_total.targte: unknown key",
        ),
        ("    acceptable: 60s\n", "", "thresholds.join_total.acceptable: missing"),
        (
            "    target: 30s\n",
            "    target: 90s\n",
            "thresholds.join_total.target: target 90s is worse than acceptable 60s",
        ),
        (
            "    target: 30s\n",
            "    target: 30MB\n",
            "thresholds.join_total.target: '30MB': unit 'MB' does not measure seconds",
        ),
        ("    target: 30s\n", "    target: 30\n", "thresholds.join_total.target: 30 has no unit"),
        (
            "    unit: seconds\n",
            "    unit: minutes\n",
            "thresholds.join_total.unit: 'minutes' is not one of",
        ),
        (
            "    scenario: join\n",
            "    scenario: joins\n",
            "thresholds.join_total.scenario: 'joins' is not one of",
        ),
        ("  join_hardware_profiling:\n", "  join_total:\n", "duplicate key 'join_total'"),
    ],
)
def test_mistakes_are_one_line_errors_naming_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    """A typo, a missing field, an inverted bound or a wrong unit names the key at fault."""
    path = _write_variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_thresholds(path)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text
    assert str(path) in text
