"""`swarmscope run placement|scheduling|migration` on the real lab: work lands where the
seed's file says, latencies come from Swarm's own timestamps, GPU jobs queue on the one
GPU, a never-fitting workload is reported with Swarm's reason, and nothing is left over."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from drivers.cluster.dockerswarm import DockerSwarmBackend
from drivers.inventory import Inventory
from tests.drivers.scenarios.context import run_named, scenario_context

pytestmark = [pytest.mark.root, pytest.mark.lab]
SEED_FILE = Path(__file__).parents[3] / "benchmarks" / "configs" / "heterogeneous_workload.yaml"


def _leftovers(inventory: Inventory) -> dict[str, str]:
    backend = DockerSwarmBackend(inventory)
    try:
        return backend.workloads({"swarmscope.managed": "true"})
    finally:
        backend.close()


def _lab_sized_seed_file(inventory: Inventory, tmp_path: Path) -> Path:
    """The seed's file with its Pi list cut to the test lab's Pis (its format untouched)."""
    pis = [n.name for n in inventory.workers]
    text = SEED_FILE.read_text()
    text = text.replace("replicas: 5", f"replicas: {len(pis)}")
    text = text.replace(
        '["rpi-1", "rpi-2", "rpi-3", "rpi-4", "rpi-5"]',
        "[" + ", ".join(f'"{p}"' for p in pis) + "]",
    )
    path = tmp_path / "heterogeneous_workload.yaml"
    path.write_text(text)
    return path


def test_placement_of_the_seeds_workloads(lab_inventory: Inventory, tmp_path: Path) -> None:
    """GPU inference on gpu-primary, one sensor replica per Pi, aggregation on any capable
    node; the 100 GB workload unschedulable with Swarm's "insufficient resources"."""
    path = _lab_sized_seed_file(lab_inventory, tmp_path)
    argv = ["--file", str(path), "--unschedulable-after", "3s"]
    context = scenario_context("placement", lab_inventory, tmp_path / "results", argv)
    assert run_named("placement", context) == "ok", context.run.scenarios()["placement"].error
    record = context.run.scenarios()["placement"]
    workloads = record.details["workloads"]
    assert workloads["gpu-inference"]["nodes"] == ["gpu-primary"]
    assert workloads["edge-sensor-processing"]["nodes"] == sorted(
        n.name for n in lab_inventory.workers
    )
    assert workloads["data-aggregation"]["where_expected"] is True
    assert record.figures["placement_where_expected"] == 3
    reason = record.details["unschedulable"]["placement-never-fits"]
    assert reason.startswith("no node can ever hold 100 GB memory; the orchestrator says: ")
    assert "insufficient resources" in reason
    assert all(0 < s < 60 for s in record.figures["placement_scheduling_seconds"].values())
    assert _leftovers(lab_inventory) == {}
    # What the scheduling dashboard queries, on the lab's Pushgateway.
    with urllib.request.urlopen(f"{lab_inventory.pushgateway_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert (
        'swarmscope_placement_workloads{expected="true",instance="",job="swarmscope",'
        'node="gpu-primary",scenario="placement",type="gpu",workload="gpu-inference"} 1'
    ) in text
    assert (
        'swarmscope_placement_unexpected_workloads{instance="",job="swarmscope",'
        'scenario="placement"} 0' in text
    )


def test_scheduling_latency_and_the_gpu_queue(lab_inventory: Inventory, tmp_path: Path) -> None:
    """Six workloads at once, two needing the single GPU: the second GPU job waits for the
    first (2 s) to finish, so its latency is over 2 s; every latency is Swarm's own
    created -> running time; all of it reaches the Pushgateway."""
    argv = ["--count", "6", "--gpu-every", "3", "--cpu", "0.1", "--timeout", "60s"]
    context = scenario_context("scheduling", lab_inventory, tmp_path / "results", argv)
    assert run_named("scheduling", context) == "ok"
    figures = context.run.scenarios()["scheduling"].figures
    assert figures["scheduling_running"] == 6
    gpu = figures["scheduling_latency_by_type"]["gpu"]
    assert gpu["count"] == 2
    assert gpu["max"] > 2.0  # queued behind the first GPU job
    assert figures["scheduling_waited_for_capacity"] >= 1
    assert 0 < figures["scheduling_latency_by_type"]["cpu"]["p50"] < 30
    rows = (context.run.path / "samples" / "scheduling.csv").read_text().splitlines()[1:]
    assert len(rows) == 6
    assert {row.split(",")[2] for row in rows if ",gpu," in row} == {"gpu-primary"}
    with urllib.request.urlopen(f"{lab_inventory.pushgateway_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert (
        'swarmscope_scheduling_latency_seconds_count{instance="",job="swarmscope",'
        'node="gpu-primary",scenario="scheduling",type="gpu",workload_type="gpu"}'
    ) in text
    assert 'type="rpi",workload_type="cpu"}' in text
    assert _leftovers(lab_inventory) == {}


def test_migration_between_pis(lab_inventory: Inventory, tmp_path: Path) -> None:
    """rpi-1 -> rpi-2: done when it runs on rpi-2 and no longer on rpi-1, by Swarm's times."""
    argv = ["--from", "rpi-1", "--to", "rpi-2"]
    context = scenario_context("migration", lab_inventory, tmp_path / "results", argv)
    assert run_named("migration", context) == "ok", context.run.scenarios()["migration"].error
    record = context.run.scenarios()["migration"]
    (move,) = record.details["moves"]
    assert (move["source"], move["destination"]) == ("rpi-1", "rpi-2")
    assert 0 < move["seconds"] < 30
    assert move["seconds"] == pytest.approx(
        max(move["new_running_after"], move["old_stopped_after"])
    )
    assert record.figures["migration_seconds"] == {"rpi-1->rpi-2": move["seconds"]}
    assert _leftovers(lab_inventory) == {}
