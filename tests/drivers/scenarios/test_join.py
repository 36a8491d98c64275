"""`swarmscope run join` on the real lab: every worker leaves and joins (one at a time, then
all at once) with per-phase times, its traffic and agent cost; the control-port share of
each node's traffic is measured; the cluster and the nodes' iptables end as they began."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
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


def test_ctrl_c_in_the_middle_of_joins_leaves_the_cluster_whole(
    lab_inventory: Inventory, tmp_path: Path
) -> None:
    """SIGINT right after a worker left: the run says interrupted, and every worker is a
    Ready member again with its labels, with no accounting rule left on any node."""
    backend = DockerSwarmBackend(lab_inventory)
    try:
        labels_before = {n.name: n.labels for n in backend.nodes()}
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "drivers",
                "run",
                "join",
                "--inventory",
                str(lab_inventory.path),
                "--results",
                str(tmp_path),
                "--run-id",
                "interrupted",
                "--overhead-window",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if len(backend.nodes()) < len(lab_inventory.nodes):
                break  # a worker has left
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 130, output
        nodes_after = {n.name: n for n in backend.nodes()}
    finally:
        backend.close()
    document = json.loads((tmp_path / "interrupted" / "results.json").read_text())
    assert document["scenarios"]["join"]["status"] == "interrupted"
    assert document["scenarios"]["join"]["error"] == "interrupted by the user"
    # Stopped part-way: not every worker had joined again when the signal came.
    joined = document["scenarios"]["join"]["figures"].get("join_total", {})
    assert len(joined) < len(lab_inventory.workers)
    assert all(node.state is NodeState.READY for node in nodes_after.values())
    assert {name: node.labels for name, node in nodes_after.items()} == labels_before
    with SshPool() as pool:
        for node in lab_inventory.nodes:
            assert "SWARMSCOPE-ACCT" not in pool[node].run("iptables -S", check=True).stdout
