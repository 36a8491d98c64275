"""`swarmscope run failure` on the real lab: detection and recovery come from Swarm's own
timestamps and follow its dispatcher heartbeat; a partition is seen and healed; a cascade
of failed Pis keeps the service running; every fault and setting is put back."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from drivers.cluster.dockerswarm import DockerSwarmBackend
from drivers.errors import ConfigError
from drivers.faults import heartbeat
from drivers.faults.injector import FaultInjector
from drivers.inventory import Inventory, load_inventory
from drivers.remote import SshPool
from drivers.scenarios.failure import SCENARIO, Settings
from tests.drivers.scenarios.context import run_named, scenario_context

EXAMPLE = Path(__file__).parents[3] / "benchmarks" / "configs" / "cluster.example.yaml"


def _settings(*argv: str) -> Settings:
    parser = argparse.ArgumentParser()
    SCENARIO.add_arguments(parser)
    return Settings.read(parser.parse_args(list(argv)), load_inventory(EXAMPLE))


def test_defaults_follow_the_seed() -> None:
    """rpi-3 lost, rpi-1 and rpi-2 cut from the manager for 30 s, 3 replicas, 2 Pis failed
    by stopping their engine, 10 s apart; the cluster's own heartbeat."""
    settings = _settings()
    assert settings.node == "rpi-3"
    assert settings.partition_nodes == ("rpi-1", "rpi-2")
    assert settings.partition_from == ("gpu-primary",)
    assert settings.partition_hold == 30.0
    assert (settings.cascade_replicas, settings.cascade_steps) == (3, 2)
    assert (settings.cascade_settle, settings.cascade_fault) == (10.0, "engine-stop")
    assert settings.heartbeat is None
    assert _settings("--heartbeat", "1s").heartbeat == 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parts", "single,meltdown"], "--parts: meltdown"),
        (["--node", "gpu-primary"], "the manager cannot be the failed node"),
        (["--node", "rpi-9"], "no node named 'rpi-9'"),
        (["--partition", "rpi-1", "--partition-from", "rpi-1"], "share nodes"),
        (["--cascade-steps", "6"], "only 5 Pi node(s) to fail"),
        (["--heartbeat", "soon"], "--heartbeat: "),
    ],
)
def test_bad_options_are_one_line(argv: list[str], message: str) -> None:
    """Mistakes are found before any fault is applied, naming the option."""
    with pytest.raises(ConfigError) as caught:
        _settings(*argv)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def _figures(context_run: object) -> tuple[dict[str, object], dict[str, object]]:
    record = context_run.scenarios()["failure"]  # type: ignore[attr-defined]
    return record.figures, record.details


def _check_everything_restored(inventory: Inventory, run_path: Path) -> None:
    """Every node Ready, no fault left on any node, every window in faults.json closed,
    no workload of the scenario left, the heartbeat back at Swarm's default."""
    backend = DockerSwarmBackend(inventory)
    try:
        assert {n.name: n.state.value for n in backend.nodes()} == {
            n.name: "ready" for n in inventory.nodes
        }
        assert backend.workloads({"swarmscope.scenario": "failure"}) == {}
    finally:
        backend.close()
    with SshPool() as ssh:
        listing = FaultInjector(inventory, ssh).active()
    assert (listing.faults, listing.problems) == ([], [])
    windows = json.loads((run_path / "faults.json").read_text())["faults"]
    assert windows
    assert all(w["reverted_at"] is not None for w in windows), windows
    assert heartbeat.heartbeat_period(inventory) == 5.0


@pytest.mark.root
@pytest.mark.lab
def test_detection_follows_a_one_second_heartbeat(lab_inventory: Inventory, tmp_path: Path) -> None:
    """With --heartbeat 1s, rpi-3's loss is detected in about three periods (swarmkit:
    period x 3 +/- 0.5 s) and its pinned workload runs on another Pi soon after; rpi-3
    comes back Ready once powered on."""
    argv = ["--parts", "single", "--heartbeat", "1s", "--timeout", "40s"]
    context = scenario_context("failure", lab_inventory, tmp_path, argv)
    assert run_named("failure", context) == "ok", context.run.scenarios()["failure"].error
    figures, details = _figures(context.run)
    detection = figures["failure_detection"]["rpi-3"]  # type: ignore[index]
    recovery = figures["recovery"]["rpi-3"]  # type: ignore[index]
    assert 0.5 < detection < 5.0
    assert detection <= recovery < 30.0
    single = details["single"]
    assert single["rescheduled_to"] in ("rpi-1", "rpi-2")  # type: ignore[index]
    assert single["back_ready_seconds"] is not None  # type: ignore[index]
    assert details["heartbeat_period_seconds"] == 1.0
    _check_everything_restored(lab_inventory, context.run.path)


@pytest.mark.root
@pytest.mark.lab
def test_default_heartbeat_detects_in_about_fifteen_seconds(
    lab_inventory: Inventory, tmp_path: Path
) -> None:
    """Swarm's default 5 s heartbeat: the manager marks the node down three periods after
    the last heartbeat, which came 0-5 s before the loss: 10-15 s (9-20 s allowed here),
    what a user of the default cluster gets."""
    argv = ["--parts", "single", "--timeout", "45s"]
    context = scenario_context("failure", lab_inventory, tmp_path, argv)
    assert run_named("failure", context) == "ok", context.run.scenarios()["failure"].error
    figures, details = _figures(context.run)
    assert details["heartbeat_period_seconds"] == 5.0
    assert 9.0 < figures["failure_detection"]["rpi-3"] < 20.0  # type: ignore[index]
    _check_everything_restored(lab_inventory, context.run.path)


@pytest.mark.root
@pytest.mark.lab
def test_partition_heals_and_a_cascade_keeps_the_service(
    lab_inventory: Inventory, tmp_path: Path
) -> None:
    """rpi-1 and rpi-2 cut from the manager go down and come back after healing (the diff
    of the two states says so); stopping the engines of two Pis one by one leaves the 3
    replicas running on what is left, and the service never had zero replicas."""
    argv = [
        "--parts",
        "partition,cascade",
        "--heartbeat",
        "1s",
        "--partition-hold",
        "6s",
        "--cascade-settle",
        "6s",
        "--timeout",
        "40s",
    ]
    context = scenario_context("failure", lab_inventory, tmp_path, argv)
    assert run_named("failure", context) == "ok", context.run.scenarios()["failure"].error
    figures, details = _figures(context.run)
    partition = figures["partition"]
    assert partition["nodes_down_during"] == ["rpi-1", "rpi-2"]  # type: ignore[index]
    assert all(0 < d < 6 for d in partition["detection_seconds"].values())  # type: ignore[index]
    assert 0 < partition["recovery_seconds"] < 30  # type: ignore[index]
    diff = partition["diff_during_to_after"]  # type: ignore[index]
    assert "node rpi-1: down -> ready" in diff
    assert "node rpi-2: down -> ready" in diff
    if partition["mesh_metrics"]:  # type: ignore[index]
        assert "rpi-1->gpu-primary" in partition["mesh_links_down_during"]  # type: ignore[index]
        assert "mesh rpi-1->gpu-primary: down -> up" in diff
    states = details["partition_states"]
    assert states["during"]["nodes"]["rpi-1"] == "down"  # type: ignore[index]
    assert states["after"]["nodes"]["rpi-1"] == "ready"  # type: ignore[index]
    cascade = figures["cascade"]
    steps = cascade["steps"]  # type: ignore[index]
    assert [s["running_replicas"] for s in steps] == [3, 3]
    assert len({s["node"] for s in steps}) == 2
    for step in steps:
        assert step["node"] not in step["running_on"]
        assert 0 < step["detected_seconds"] < 6
    assert cascade["available_throughout"] is True  # type: ignore[index]
    assert cascade["min_running_replicas"] >= 1  # type: ignore[index]
    _check_everything_restored(lab_inventory, context.run.path)
