"""The session lab is a real cluster: Ready swarm, scraped exporters, SSH, labels, shaped links."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import docker
import docker.types
import paramiko
import pytest
import requests

from drivers.inventory import Inventory, Node
from drivers.lab import LAB_IMAGE, LabState, set_link, set_node_delay, status
from drivers.lab.links import MECHANISM_NFQUEUE, netem_available
from drivers.lab.measure import ping, ping_between, tcp_mbit
from drivers.lab.system import in_netns

pytestmark = [pytest.mark.root, pytest.mark.lab]
REPO = Path(__file__).resolve().parents[3]


def _ssh(node: Node, known_hosts: Path) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        node.address,
        port=node.ssh.port,
        username=node.ssh.user,
        key_filename=str(node.ssh.key_file),
        timeout=10,
        allow_agent=False,
        look_for_keys=False,
    )
    return client


def _run(client: paramiko.SSHClient, command: str) -> str:
    _stdin, stdout, _stderr = client.exec_command(command, timeout=10)
    return stdout.read().decode().strip()


def test_every_node_is_ready_and_every_target_up(lab_inventory: Inventory) -> None:
    """`lab status`: all nodes Ready in the swarm, all their daemons running, all targets up."""
    lab = status(lab_inventory.name)
    for _attempt in range(10):  # a loaded host can fail one scrape: allow a few seconds
        if lab.targets and not lab.targets_down:
            break
        time.sleep(2)
        lab = status(lab_inventory.name)
    assert lab.phase == "ready"
    assert [n.name for n in lab.nodes] == [n.name for n in lab_inventory.nodes]
    assert all(n.swarm == "ready" for n in lab.nodes), [(n.name, n.swarm) for n in lab.nodes]
    for node in lab.nodes:
        assert node.daemons, node.name
        assert all(node.daemons.values()), (node.name, node.daemons)
        assert {"dockerd", "sshd", "node-exporter", "swarmlet-exporter"} <= set(node.daemons)
    jobs = {t["job"] for t in lab.targets}
    assert {"swarmlet", "node", "pushgateway", "prometheus"} <= jobs
    assert lab.targets_down == []
    per_job = {job: sum(t["job"] == job for t in lab.targets) for job in ("swarmlet", "node")}
    assert per_job == {"swarmlet": len(lab.nodes), "node": len(lab.nodes)}


def test_inventory_reaches_every_engine_and_the_monitoring_stack(
    lab_inventory: Inventory,
) -> None:
    """The inventory lab up writes is enough to reach each node's own engine and the stack."""
    assert lab_inventory.backend == "dockerswarm"
    assert lab_inventory.manager.name == "gpu-primary"
    assert lab_inventory.manager.gpus == 1
    assert lab_inventory.is_lab
    for node in lab_inventory.nodes:
        engine = docker.DockerClient(base_url=node.engine_url, timeout=10)
        try:
            info = engine.info()
            # Each engine runs in the node's own UTS namespace: its name is the node's.
            assert info["Name"] == node.name
            assert info["Swarm"]["NodeAddr"] == node.address
            assert engine.images.get(LAB_IMAGE).attrs["Config"]["Env"] == ["PATH=/bin"]
        finally:
            engine.close()
    for url in (
        lab_inventory.prometheus_url,
        lab_inventory.pushgateway_url,
        lab_inventory.alertmanager_url,
    ):
        assert requests.get(f"{url}/-/ready", timeout=5).status_code == 200


def test_prometheus_runs_the_repository_config_and_rules(lab_inventory: Inventory) -> None:
    """The lab's Prometheus reads the repository's prometheus.yml and every rules file in
    prometheus/rules, and sends alerts to the lab's Alertmanager."""
    url = lab_inventory.prometheus_url
    groups = requests.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    loaded = {Path(g["file"]).name for g in groups}
    assert loaded == {p.name for p in (REPO / "prometheus" / "rules").glob("*.yml")}
    managers = requests.get(f"{url}/api/v1/alertmanagers", timeout=5).json()["data"]
    assert [m["url"] for m in managers["activeAlertmanagers"]] == [
        f"{lab_inventory.alertmanager_url}/api/v2/alerts"
    ]
    config = requests.get(f"{url}/api/v1/status/config", timeout=5).json()["data"]["yaml"]
    assert "job_name: swarmlet" in config


def test_swarm_labels_and_gpu_generic_resource(lab_inventory: Inventory) -> None:
    """Nodes carry type/hardware labels; only gpu-primary offers the generic gpu resource,
    so a task asking for a GPU lands there."""
    engine = docker.DockerClient(base_url=lab_inventory.manager.engine_url, timeout=30)
    try:
        swarm_nodes = {n["Description"]["Hostname"]: n for n in engine.api.nodes()}
        for node in lab_inventory.nodes:
            labels = swarm_nodes[node.name]["Spec"]["Labels"]
            assert labels == {"type": node.type, "hardware": node.hardware}
            resources = swarm_nodes[node.name]["Description"]["Resources"]
            generic = resources.get("GenericResources") or []
            gpus = [g["NamedResourceSpec"]["Value"] for g in generic if "NamedResourceSpec" in g]
            assert gpus == (["GPU-0"] if node.type == "gpu" else [])
        service = engine.services.create(
            LAB_IMAGE,
            ["sleep", "300"],
            name="lab-test-gpu",
            init=True,
            endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
            resources=docker.types.Resources(generic_resources={"gpu": 1}),
        )
        try:
            deadline = time.monotonic() + 60
            running: list[dict[str, object]] = []
            while not running and time.monotonic() < deadline:
                running = [t for t in service.tasks() if t["Status"]["State"] == "running"]
                time.sleep(0.2)
            assert running, service.tasks()
            hostnames = {n["ID"]: n["Description"]["Hostname"] for n in engine.api.nodes()}
            assert hostnames[str(running[0]["NodeID"])] == "gpu-primary"
        finally:
            service.remove()
    finally:
        engine.close()


def test_ssh_verifies_host_keys_and_runs_on_the_node(lab_inventory: Inventory) -> None:
    """paramiko with RejectPolicy and the lab's known_hosts reaches every node; a command
    runs in that node (its hostname, its address)."""
    for node in lab_inventory.nodes:
        assert node.ssh.known_hosts is not None
        client = _ssh(node, node.ssh.known_hosts)
        try:
            assert _run(client, "hostname") == node.name
            assert f"inet {node.address}/" in _run(client, "ip -o -4 addr show dev eth0")
        finally:
            client.close()


def test_ssh_refuses_a_wrong_or_unknown_host_key(lab_inventory: Inventory, tmp_path: Path) -> None:
    """A host key that differs from the recorded one, or none recorded, is a refusal."""
    first, second = lab_inventory.nodes[0], lab_inventory.nodes[1]
    assert first.ssh.known_hosts is not None
    lines = first.ssh.known_hosts.read_text().splitlines()
    key_of = {line.split()[0].split(",")[1]: line.split(None, 1)[1] for line in lines}
    wrong = tmp_path / "known_hosts_wrong"
    wrong.write_text(f"{second.address} {key_of[first.name]}\n")
    with pytest.raises(paramiko.BadHostKeyException):
        _ssh(second, wrong)
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        _ssh(second, empty)


def _download_mbit(state: LabState, node: str, seconds: float = 2.0) -> float:
    return tcp_mbit(state, state.spec.node(node), seconds)


def _delay_rules(state: LabState) -> str:
    argv = in_netns(state.spec.control_netns, ["iptables", "-w", "5", "-t", "mangle", "-S"])
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def test_link_profile_changes_a_running_lab(lab_state: LabState) -> None:
    """`lab link wifi` delays and rate-limits a Pi live; gigabit puts it back. Where the
    kernel lacks netem the NFQUEUE delayer does the delay and status says so."""
    node = lab_state.spec.node("rpi-1")
    try:
        set_link(lab_state, "wifi", ["rpi-1"])
        average, _mdev, _loss = ping(lab_state, node, count=30, interval=0.05)
        assert 3.0 <= average <= 8.0  # 4 ms ± 2 ms jitter, released in order
        assert 60 <= _download_mbit(lab_state, "rpi-1") <= 105  # 100 Mbit/s tbf
        if not netem_available(lab_state.spec.control_netns):
            assert lab_state.link["mechanism"] == MECHANISM_NFQUEUE
            assert lab_state.processes["delayer"].is_same_process()
            rules = _delay_rules(lab_state)
            assert re.search(r"--physdev-out p1 .*NFQUEUE --queue-num 1 --queue-bypass", rules)
            assert "no netem" in status(lab_state.spec.name).link["description"]
    finally:
        set_link(lab_state, "gigabit", ["rpi-1"])
    average, _mdev, _loss = ping(lab_state, node, count=10, interval=0.05)
    assert average < 1.0
    assert "delayer" not in lab_state.processes  # no node is delayed any more
    assert "NFQUEUE" not in _delay_rules(lab_state)


def test_node_delays_add_up_between_nodes_even_for_kernel_timestamps(
    lab_state: LabState,
) -> None:
    """set_node_delay(state, node, ms) adds that much to the node's round trip, for every
    path: from the wired side, and node to node (both delays add up), as measured by ping
    with its kernel receive timestamps (like the mesh prober); rates stay as they were."""
    first, second = lab_state.spec.node("rpi-1"), lab_state.spec.node("rpi-2")
    try:
        settings = set_node_delay(lab_state, "rpi-1", 10.0)
        assert settings.download_mbit == 1000  # the gigabit rate stays
        set_node_delay(lab_state, "rpi-2", 20.0)
        to_first, _mdev, _loss = ping(lab_state, first, count=20, interval=0.05)
        assert 9.8 <= to_first <= 12.0
        to_second, _mdev, _loss = ping(lab_state, second, count=20, interval=0.05)
        assert 19.8 <= to_second <= 22.0
        between = ping_between(lab_state, first, second, count=20)
        assert 29.8 <= between <= 33.0
    finally:
        set_link(lab_state, "gigabit", ["rpi-1", "rpi-2"])
    assert ping_between(lab_state, first, second, count=10) < 1.0
