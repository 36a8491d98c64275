"""Whole-exporter output per fixture scenario, compared byte for byte with golden files.

Regenerate after an intended change with ``UPDATE_GOLDEN=1 pytest tests/exporters`` and
review the diff. Collector durations are the only non-deterministic values an exporter
writes; the scenarios run the registry on a clock that advances a fixed step per reading,
so every duration is exactly that step and the files compare exactly, durations included.
"""

from __future__ import annotations

import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.exporters.recorded import GOLDEN, SCENARIOS, scenario_registry


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_metrics_output_matches_the_golden_file(scenario: str) -> None:
    """Pi 4 (cgroup v1, 0x50005), Pi 5 (cgroup v2, host network, 0x80008, PMIC) and a VM (no
    sensors, a process agent with a log file): any change in names, labels, values or order
    shows up here."""
    registry = scenario_registry(scenario)
    registry.collect()  # the first scrape may log one-time notes; the second is the steady state
    text = registry.render().decode()
    golden = GOLDEN / f"{scenario}.prom"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert golden.exists(), f"{golden} is missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == golden.read_text()
    # And it is valid exposition format for the reference parser.
    assert len(list(text_string_to_metric_families(text))) > 5
