"""The mesh peers file Ansible writes on each node is the one swarmscope derives itself."""

from __future__ import annotations

from pathlib import Path

from drivers.inventory import load_inventory
from drivers.monitoring.peers import mesh_of
from drivers.provision.ansible_inventory import render
from drivers.thresholds import REPO_ROOT
from exporters.mesh.peers import read
from tests.ansible.runner import run_playbook

EXAMPLE = REPO_ROOT / "benchmarks" / "configs" / "cluster.example.yaml"


def test_template_gives_the_drivers_mesh_and_the_exporter_accepts_it(tmp_path: Path) -> None:
    """Rendered from the generated inventory, the file reads back (with the exporter's strict
    reader) as exactly the mesh drivers.monitoring.peers derives from the same inventory."""
    source = tmp_path / "cluster.yaml"
    source.write_text(
        EXAMPLE.read_text().replace(
            "{name: rpi-3, address: 192.168.1.103,",
            "{name: rpi-3, address: 192.168.1.103, mesh_port: 19878,",
        )
    )
    inventory = load_inventory(source)
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(render(inventory))
    peers = tmp_path / "mesh-peers.json"
    run = run_playbook(
        Path(__file__).parent / "playbooks" / "mesh_peers.yml",
        hosts,
        tmp_path / "ansible",
        extra_vars={"peers_path": str(peers)},
    )
    assert run.returncode == 0, run.tail()
    mesh = read(peers)
    assert mesh == mesh_of(inventory)
    assert [peer.port for peer in mesh.nodes if peer.name == "rpi-3"] == [19878]
