"""`swarmscope run edge` on the real lab: the agent's footprint under memory pressure, CPU
load and a bandwidth cap, read from the node's exporter; every stress is gone afterwards."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from drivers.errors import ConfigError
from drivers.faults.injector import FaultInjector
from drivers.inventory import Inventory, load_inventory
from drivers.remote import SshPool
from drivers.scenarios.edge import SCENARIO, Settings
from tests.drivers.scenarios.context import run_named, scenario_context

EXAMPLE = Path(__file__).parents[3] / "benchmarks" / "configs" / "cluster.example.yaml"


def _settings(*argv: str) -> Settings:
    parser = argparse.ArgumentParser()
    SCENARIO.add_arguments(parser)
    return Settings.read(parser.parse_args(list(argv)), load_inventory(EXAMPLE))


def test_defaults_on_real_pis_are_the_seeds() -> None:
    """Every Pi, 30 s phases, 3G held, 4 workers at 87 % (the seed's --cpus 3.5 of 4),
    a 10mbit cap."""
    settings = _settings()
    assert settings.nodes == ("rpi-1", "rpi-2", "rpi-3", "rpi-4", "rpi-5")
    assert settings.phases == ("memory", "cpu", "bandwidth")
    assert settings.phase_seconds == 30.0
    assert settings.vm_bytes == 3 * 2**30
    assert (settings.cpu_workers, settings.cpu_load) == (4, 87)
    assert settings.rate_bits == 10_000_000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--phases", "memory,heat"], "--phases: heat"),
        (["--nodes", "rpi-9"], "no node named 'rpi-9'"),
        (["--rate", "quick"], "'quick' is not a rate"),
        (["--vm-bytes", "much"], "'much' is not a size"),
    ],
)
def test_bad_options_are_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(*argv)
    assert message in str(caught.value)


@pytest.mark.root
@pytest.mark.lab
def test_agent_under_pressure_on_a_lab_node(lab_inventory: Inventory, tmp_path: Path) -> None:
    """rpi-2's agent (its dockerd) stays up through all three phases; the footprint figure
    is the largest memory sample the exporter gave; the 8mbit cap is what gets out of the
    node; the lab's missing sensors are said, not invented; nothing is left applied."""
    argv = [
        "--nodes", "rpi-2", "--phase-duration", "5s", "--baseline", "2s", "--rate", "8mbit",
        "--cpu-workers", "1", "--cpu-load", "50", "--vm-bytes", "64M",
    ]  # fmt: skip
    context = scenario_context("edge", lab_inventory, tmp_path, argv)
    assert run_named("edge", context) == "ok", context.run.scenarios()["edge"].error
    record = context.run.scenarios()["edge"]
    node = record.figures["edge"]["rpi-2"]
    for phase in ("baseline", "memory", "cpu", "bandwidth"):
        assert node[phase]["stayed_up"], (phase, node[phase])
        assert node[phase]["samples"] >= 2
    assert 2.0 < node["bandwidth"]["measured_mbit"] < 8.8
    assert node["bandwidth"]["mechanism"].startswith("tc htb")
    assert "no thermal sensors" in node["thermal"]["note"]
    assert node["thermal"]["max_temperature_celsius"] is None
    with open(context.run.path / "samples" / "edge-agent.csv") as handle:
        rows = list(csv.DictReader(handle))
    largest = max(float(r["memory_bytes"]) for r in rows if r["memory_bytes"])
    assert record.figures["memory_footprint"] == {"rpi-2": largest}
    assert 0 <= record.figures["agent_cpu"]["rpi-2"] < 1
    windows = json.loads((context.run.path / "faults.json").read_text())["faults"]
    assert sorted(w["kind"] for w in windows) == ["bandwidth", "stress", "stress"]
    assert {w["reverted_by"] for w in windows} == {"timer"}
    with SshPool() as ssh:
        assert FaultInjector(lab_inventory, ssh).active().faults == []
