"""`swarmscope run mesh` on the real lab: every pair measured, bandwidth and stress from Locust's
distributed mode over SSH, figures pushed, and no Locust process or log left behind."""

from __future__ import annotations

import glob
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from drivers.inventory import Inventory
from drivers.lab import LabState, set_node_delay
from drivers.monitoring.mesh_survey import (
    SurveySettings,
    discovery,
    overall,
    pair_stats,
    percentile,
    run_surveys,
)
from drivers.monitoring.peers import mesh_of
from drivers.remote import SshPool
from exporters.mesh.peers import Mesh
from tests.drivers.scenarios.context import run_named, scenario_context
from tests.support.mesh import locust_processes


@pytest.mark.root
@pytest.mark.lab
def test_run_mesh_measures_the_whole_mesh(lab_inventory: Inventory, tmp_path: Path) -> None:
    """All n(n-1) pairs answer with sub-10 ms RTTs, GPU->Pi bandwidth and the broadcast stress
    are measured, the figures reach the Pushgateway, and every Locust process is gone."""
    before = locust_processes()
    logs_before = set(glob.glob("/tmp/swarmscope-locust-*"))
    argv = ["--probes", "50", "--probe-interval", "0.01", "--bandwidth-seconds", "1"]
    argv += ["--stress-messages", "2000"]
    context = scenario_context("mesh", lab_inventory, tmp_path / "results", argv)
    run_dir = context.run.path
    status = run_named("mesh", context)
    record = context.run.scenarios()["mesh"]
    assert status == "ok", record.error
    names = [n.name for n in lab_inventory.nodes]
    pairs = {f"{a}->{b}" for a in names for b in names if a != b}
    latency = record.figures["coordination_latency"]
    assert set(latency) == pairs
    assert all(0 < value < 0.01 for value in latency.values())
    matrix = record.details["latency_matrix"]
    assert all(m["replies"] == 50 and m["lost"] == 0 for m in matrix.values())
    assert all(m["p50"] <= m["p99"] <= m["max"] for m in matrix.values())
    assert 0 < record.figures["discovery_seconds"] < 5
    pis = [n.name for n in lab_inventory.nodes if n.type == "rpi"]
    bandwidth = record.figures["bandwidth_bytes_per_second"]
    assert set(bandwidth) == {f"gpu-primary->{pi}" for pi in pis}
    # The lab's gigabit profile: tbf at 1 Gbit/s on each Pi, so 60-130 MB/s is "the link".
    assert all(60e6 < rate < 130e6 for rate in bandwidth.values()), bandwidth
    stress = record.figures["stress"]
    assert stress["messages"] == 2000 // len(names) * len(names)
    assert set(stress["per_node_bytes_per_second"]) == set(names)
    rows = (run_dir / "samples" / "mesh-rtt.csv").read_text().splitlines()
    assert len(rows) == 1 + 50 * len(pairs)
    with urllib.request.urlopen(f"{lab_inventory.pushgateway_url}/metrics", timeout=5) as page:
        pushed = page.read().decode()
    assert 'swarmscope_mesh_rtt_seconds{destination="rpi-1"' in pushed
    assert "swarmscope_mesh_bandwidth_bytes_per_second{" in pushed
    assert "swarmscope_mesh_discovery_seconds{" in pushed
    assert locust_processes() <= before
    assert set(glob.glob("/tmp/swarmscope-locust-*")) <= logs_before
    assert (run_dir / "samples" / "locust-stress" / "locust-worker-rpi-1.log").exists()


@pytest.mark.root
@pytest.mark.lab
def test_delay_on_a_nodes_link_shows_in_both_directions(
    lab_inventory: Inventory, lab_state: LabState
) -> None:
    """The lab delays packets entering rpi-1 (after the kernel's receive stamp): probes from
    and to rpi-1 both see it, because RTTs end when the reply reaches the prober."""
    two = [lab_inventory.node("gpu-primary"), lab_inventory.node("rpi-1")]
    everyone = mesh_of(lab_inventory)
    mesh = Mesh(
        everyone.cluster, tuple(p for p in everyone.nodes if p.name in ("gpu-primary", "rpi-1"))
    )
    set_node_delay(lab_state, "rpi-1", 20.0)
    try:
        with SshPool() as ssh:
            results = run_surveys(two, ssh, sys.executable, mesh, SurveySettings(20, 0.05, 2.0))
    finally:
        set_node_delay(lab_state, "rpi-1", 0.0)
    medians = {p.pair: p.summary()["p50"] for p in pair_stats(results)}
    assert set(medians) == {"gpu-primary->rpi-1", "rpi-1->gpu-primary"}
    assert all(0.019 < value < 0.03 for value in medians.values()), medians


def _result(started: int, peers: dict[str, Any]) -> dict[str, Any]:
    return {"started_at_ns": started, "peers": peers}


def test_discovery_is_each_nodes_wait_for_its_last_peer() -> None:
    """A node's discovery ends with its slowest first answer; one silent pair leaves the mesh
    undiscovered and is named."""
    ok = {
        "a": _result(1_000, {"b": {"first_reply_ns": 3_000_001_000}}),
        "b": _result(5_000, {"a": {"first_reply_ns": 500_005_000}}),
    }
    found = discovery(ok)
    assert found.per_node == {"a": 3.0, "b": 0.5}
    assert found.seconds == 3.0
    silent = {**ok, "c": _result(0, {"a": {"first_reply_ns": None}})}
    assert discovery(silent).seconds is None
    assert discovery(silent).missing == ("c->a",)


def test_pair_statistics_use_measured_values() -> None:
    """Per pair mean/p50/p99/max; percentiles are nearest-rank, so each is a real sample."""
    results = {
        "a": {
            "started_at_ns": 0,
            "peers": {
                "b": {"sent": 101, "lost": 1, "rtt_seconds": [i / 1000 for i in range(100, 0, -1)]}
            },
        }
    }
    (stats,) = pair_stats(results)
    summary = stats.summary()
    assert (summary["sent"], summary["lost"], summary["replies"]) == (101, 1, 100)
    assert summary["p50"] == 0.050
    assert summary["p99"] == 0.099
    assert summary["max"] == 0.100
    assert summary["mean"] == pytest.approx(0.0505)
    assert overall([stats])["p99"] == 0.099
    assert percentile([0.2], 0.99) == 0.2
