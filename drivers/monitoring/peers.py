"""The mesh peers file, generated from the inventory: every node, where its exporter answers.

The exporters read it (``swarmlet-exporter --mesh-peers FILE``) and so do `swarmscope run
mesh` and the Locust message load; its format is ``exporters.mesh.peers`` (JSON, since a Pi
running only the exporter has no YAML parser).
"""

from __future__ import annotations

from pathlib import Path

from drivers.inventory import Inventory
from exporters.mesh.peers import Mesh, Peer, read, write


def mesh_of(inventory: Inventory) -> Mesh:
    return Mesh(
        cluster=inventory.name,
        nodes=tuple(
            Peer(name=n.name, address=n.address, port=n.mesh_port, type=n.type)
            for n in inventory.nodes
        ),
    )


def write_peers_file(inventory: Inventory, path: Path) -> Path:
    """Write atomically and read back: a file swarmscope writes is one the exporter accepts."""
    mesh = mesh_of(inventory)
    write(mesh, path)
    if read(path) != mesh:
        raise RuntimeError(f"{path}: the peers file did not read back as written")
    return path
