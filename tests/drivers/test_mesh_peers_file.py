"""The peers file swarmscope writes from an inventory is exactly what the exporters read."""

from __future__ import annotations

from pathlib import Path

from drivers.inventory import load_inventory
from drivers.monitoring.peers import mesh_of, write_peers_file
from exporters.mesh.peers import Peer, read

INVENTORY = """\
version: 1
cluster: {name: edge-lab, backend: dockerswarm, prometheus_url: "http://10.0.0.1:9090",
          pushgateway_url: "http://10.0.0.1:9091"}
nodes:
  - {name: gpu-primary, address: 10.0.0.10, role: manager, type: gpu}
  - {name: rpi-1, address: 10.0.0.11, role: worker, type: rpi, mesh_port: 9999}
"""


def test_every_node_with_its_mesh_port_and_type(tmp_path: Path) -> None:
    """Names, addresses, mesh ports (default and overridden) and types come from the inventory."""
    inventory_path = tmp_path / "cluster.yaml"
    inventory_path.write_text(INVENTORY)
    inventory = load_inventory(inventory_path)
    path = write_peers_file(inventory, tmp_path / "mesh-peers.json")
    mesh = read(path)
    assert mesh == mesh_of(inventory)
    assert mesh.cluster == "edge-lab"
    assert mesh.nodes == (
        Peer("gpu-primary", "10.0.0.10", 9878, "gpu"),
        Peer("rpi-1", "10.0.0.11", 9999, "rpi"),
    )
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left over
