"""The per-node exporters: swarmlet-exporter and Debian's node_exporter, inside the node.

Both run in the node's network namespace, so /proc/net/dev and the sockets they see are the
node's own, and listen on the node's address like on a Pi.
"""

from __future__ import annotations

import sys
from pathlib import Path

from drivers.inventory import DEFAULT_EXPORTER_PORT, DEFAULT_NODE_EXPORTER_PORT, Inventory
from drivers.lab import cgroups
from drivers.lab.processes import spawn
from drivers.lab.spec import LabSpec, NodeSpec
from drivers.lab.state import LabState
from drivers.lab.system import which
from drivers.monitoring.peers import write_peers_file


def swarmlet_exporter_command() -> str | None:
    """The installed ``swarmlet-exporter`` (beside this interpreter first, then on PATH)."""
    beside = Path(sys.executable).parent / "swarmlet-exporter"
    if beside.exists():
        return str(beside)
    return which("swarmlet-exporter")


def mesh_peers_path(spec: LabSpec) -> Path:
    return spec.state_dir / "mesh-peers.json"


def write_mesh_peers(inventory: Inventory, spec: LabSpec) -> Path:
    """The exporters' peers file (every node probes every other), from the lab's inventory."""
    return write_peers_file(inventory, mesh_peers_path(spec))


def start_swarmlet_exporter(state: LabState, node: NodeSpec) -> bool:
    """Start the exporter; False when it is not installed (its target then shows down)."""
    command = swarmlet_exporter_command()
    if command is None:
        return False
    spec = state.spec
    directory = spec.node_dir(node.name)
    spawn(
        state,
        f"swarmlet-exporter@{node.name}",
        [
            command,
            *("--listen", f"{node.address}:{DEFAULT_EXPORTER_PORT}", "--node", node.name),
            # In the lab the orchestrator's node agent is the node's dockerd.
            *("--agent-pidfile", str(directory / "docker.pid")),
            *("--mesh-peers", str(mesh_peers_path(spec))),
        ],
        log=directory / "swarmlet-exporter.log",
        netns=spec.node_netns(node.name),
        uts=directory / "uts",
        cgroup_procs=cgroups.procs_files(cgroups.daemons_path(spec.cgroup, node.name)),
        node=node.name,
    )
    return True


def start_node_exporter(state: LabState, node: NodeSpec) -> None:
    spec = state.spec
    directory = spec.node_dir(node.name)
    spawn(
        state,
        f"node-exporter@{node.name}",
        [
            which("prometheus-node-exporter") or "prometheus-node-exporter",
            f"--web.listen-address={node.address}:{DEFAULT_NODE_EXPORTER_PORT}",
            # The host's textfile directory belongs to the host's own node_exporter, if any.
            "--no-collector.textfile",
        ],
        log=directory / "node-exporter.log",
        netns=spec.node_netns(node.name),
        uts=directory / "uts",
        cgroup_procs=cgroups.procs_files(cgroups.daemons_path(spec.cgroup, node.name)),
        node=node.name,
    )
