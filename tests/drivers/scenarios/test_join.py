"""`swarmscope run join` on the real lab: every worker leaves and joins (one at a time, then
all at once) with per-phase times, its traffic and agent cost; the control-port share of
each node's traffic is measured; the cluster and the nodes' iptables end as they began."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from drivers.cluster.base import NodeState
from drivers.cluster.dockerswarm import DockerSwarmBackend
from drivers.inventory import Inventory
from drivers.remote import SshPool
from tests.drivers.scenarios.context import run_named, scenario_context

pytestmark = [pytest.mark.root, pytest.mark.lab]


def test_join_measures_every_worker_and_restores_the_cluster(
    lab_inventory: Inventory, tmp_path: Path
) -> None:
    workers = [n.name for n in lab_inventory.workers]
    backend = DockerSwarmBackend(lab_inventory)
    try:
        labels_before = {n.name: n.labels for n in backend.nodes()}
        context = scenario_context(
            "join", lab_inventory, tmp_path / "results", ["--overhead-window", "3s"]
        )
        assert run_named("join", context) == "ok", context.run.scenarios()["join"].error
        nodes_after = {n.name: n for n in backend.nodes()}
        token = backend.join_token()
    finally:
        backend.close()
    record = context.run.scenarios()["join"]
    figures = record.figures
    # The threshold figures, per worker, from the one-at-a-time joins.
    for key in (
        "join_total",
        "join_hardware_profiling",
        "join_network_discovery",
        "join_certificate_exchange",
    ):
        assert sorted(figures[key]) == sorted(workers), key
        assert all(0 <= value < 10 for value in figures[key].values()), key
    for node in workers:
        phases = record.details["joins"]["sequential"][node]["phases"]
        assert phases["total"] == pytest.approx(sum(v for k, v in phases.items() if k != "total"))
    # A Swarm join moves tens of kB (TLS, certificate, the node's first session), never MBs.
    assert all(1_000 < value < 10_000_000 for value in figures["join_network_traffic"].values())
    assert all(value > 10_000_000 for value in figures["join_agent_memory_bytes"].values())
    assert sorted(figures["join_concurrent"]["total"]) == sorted(workers)
    assert figures["join_all_at_once_seconds"] > 0
    # Control traffic: a real share of every node's traffic, counted on every node.
    overhead = figures["network_overhead"]
    assert sorted(overhead) == sorted(n.name for n in lab_inventory.nodes)
    assert all(0 < ratio < 1 for ratio in overhead.values())
    assert record.details["notes"] == []
    # The cluster as it was: every node Ready, with the labels it had.
    assert all(node.state is NodeState.READY for node in nodes_after.values())
    assert {name: node.labels for name, node in nodes_after.items()} == labels_before
    # No accounting rule left on any node.
    with SshPool() as pool:
        for node in lab_inventory.nodes:
            rules = pool[node].run("iptables -S", check=True).stdout
            assert "SWARMSCOPE-ACCT" not in rules, node.name
    # The join token is in no file of the run directory.
    for path in context.run.path.rglob("*"):
        if path.is_file():
            assert token not in path.read_text(errors="replace"), path
    # The figures reached the lab's Pushgateway.
    url = f"{lab_inventory.pushgateway_url}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    assert 'swarmscope_join_phase_seconds{instance="",job="swarmscope",mode="sequential"' in text
    assert "swarmscope_network_overhead_ratio{" in text
    assert "swarmscope_join_network_bytes{" in text
