"""What a lab is made of: its name, subnet, nodes and per-node limits, and the names it uses.

Every machine-global name the lab creates (network namespaces, the host-side veth, cgroups,
the state directory) is derived here from the lab's name, so `lab down` can find all of them
again even when the state file of a half-finished `lab up` is missing or stale.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from drivers.errors import ConfigError

DEFAULT_NAME = "lab"
DEFAULT_NODES = 6  # gpu-primary + rpi-1..rpi-5, the plan's cluster
MAX_NODES = 100
STATE_ROOT_ENV = "SWARMSCOPE_LAB_ROOT"
DEFAULT_STATE_ROOT = Path("/var/lib/swarmscope/labs")
# Labs take /24s from this range; 10.213.x.0 is rarely used by VPNs, clouds or Docker.
SUBNET_POOL = ipaddress.IPv4Network("10.213.0.0/16")

HOST_OFFSET = 1  # the host's end of the lab link
MONITOR_OFFSET = 2  # the control namespace: bridge, Prometheus, Alertmanager, Pushgateway
FIRST_NODE_OFFSET = 10  # gpu-primary .10, rpi-1 .11, ...

PRIMARY_NAME = "gpu-primary"
PRIMARY_HARDWARE = "x86_64-gpu"
# Hardware classes cycle over the Pis so placement by hardware label has something to choose.
PI_HARDWARE = ("rpi4-4gb", "rpi5-8gb")

# The tiny image imported into every engine (no registry is reachable from a lab node).
LAB_IMAGE = "swarmscope/busybox:lab"

_LAB_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    address: str
    role: str  # manager | worker
    type: str  # gpu | rpi
    hardware: str
    index: int  # 0 for gpu-primary, N for rpi-N
    gpus: int = 0
    cpus: float | None = None  # CPU quota for the node's containers
    memory_bytes: int | None = None  # memory limit for the node's containers

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


@dataclass(frozen=True)
class LabSpec:
    name: str
    subnet: str
    nodes: tuple[NodeSpec, ...]
    link: str
    state_dir: Path

    # ---- addresses -------------------------------------------------------------------
    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    def _address(self, offset: int) -> str:
        return str(self.network.network_address + offset)

    @property
    def host_address(self) -> str:
        return self._address(HOST_OFFSET)

    @property
    def monitor_address(self) -> str:
        return self._address(MONITOR_OFFSET)

    @property
    def prefix_length(self) -> int:
        return self.network.prefixlen

    # ---- machine-global names ------------------------------------------------------
    @property
    def control_netns(self) -> str:
        return control_netns(self.name)

    def node_netns(self, node: str) -> str:
        return f"{control_netns(self.name)}.{node}"

    @property
    def host_link(self) -> str:
        return host_link_name(self.name)

    @property
    def cgroup(self) -> str:
        return cgroup_root(self.name)

    # ---- files ---------------------------------------------------------------------
    def node_dir(self, node: str) -> Path:
        return self.state_dir / "nodes" / node

    @property
    def inventory_path(self) -> Path:
        return self.state_dir / "inventory.yaml"

    @property
    def manager(self) -> NodeSpec:
        return next(n for n in self.nodes if n.is_manager)

    def node(self, name: str) -> NodeSpec:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise ConfigError(f"lab {self.name}: no node named {name!r} (nodes: {known})")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        data["nodes"] = [asdict(n) for n in self.nodes]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabSpec:
        return cls(
            name=data["name"],
            subnet=data["subnet"],
            nodes=tuple(NodeSpec(**n) for n in data["nodes"]),
            link=data["link"],
            state_dir=Path(data["state_dir"]),
        )


def control_netns(lab: str) -> str:
    """``swarmscope.LAB``; nodes are ``swarmscope.LAB.NODE`` (a dot never occurs in a name)."""
    return f"swarmscope.{lab}"


def host_link_name(lab: str) -> str:
    """The lab's only interface in the host's namespace (15 characters at most)."""
    return "sscope" + hashlib.sha256(lab.encode()).hexdigest()[:8]


def cgroup_root(lab: str) -> str:
    return f"/swarmscope-{lab}"


def state_root() -> Path:
    """Where labs keep their state: ``$SWARMSCOPE_LAB_ROOT`` or /var/lib/swarmscope/labs."""
    return Path(os.environ.get(STATE_ROOT_ENV) or DEFAULT_STATE_ROOT)


def state_dir_for(name: str, root: Path | None = None) -> Path:
    return (root or state_root()) / name


def inventory_path_for(name: str = DEFAULT_NAME, root: Path | None = None) -> Path:
    """The inventory `lab up --name NAME` writes; the default lab's is what commands use
    when neither --inventory nor $SWARMSCOPE_INVENTORY is given."""
    return state_dir_for(name, root) / "inventory.yaml"


def check_lab_name(name: str) -> str:
    if not _LAB_NAME.match(name):
        raise ConfigError(
            f"lab name {name!r}: use 1-24 lower-case letters, digits and '-' "
            "(it becomes part of namespace and cgroup names)"
        )
    return name


def parse_memory(text: str) -> int:
    """``512M``, ``1G``, ``256m``, ``1.5g``, or bytes; binary units as docker and cgroups use."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgG]?)[iI]?[bB]?\s*", text)
    if not match:
        raise ConfigError(f"--memory {text!r}: write it like 512M or 1G")
    factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[match.group(2).lower()]
    value = int(float(match.group(1)) * factor)
    if value < 16 * 2**20:
        raise ConfigError(f"--memory {text!r}: at least 16M is needed to start a container")
    return value


def plan_nodes(
    network: ipaddress.IPv4Network,
    count: int,
    cpus: float | None = None,
    memory_bytes: int | None = None,
) -> tuple[NodeSpec, ...]:
    """gpu-primary (manager, one GPU) then rpi-1..rpi-(count-1) (workers, optionally limited)."""
    if not 1 <= count <= MAX_NODES:
        raise ConfigError(f"--nodes {count}: a lab has 1 to {MAX_NODES} nodes")
    if FIRST_NODE_OFFSET + count >= network.num_addresses - 1:
        raise ConfigError(f"--nodes {count}: subnet {network} is too small for {count} nodes")
    if cpus is not None and not 0.01 <= cpus <= 1024:
        raise ConfigError(f"--cpus {cpus}: give a CPU quota such as 0.5 or 2")
    base = network.network_address + FIRST_NODE_OFFSET
    nodes = [
        NodeSpec(
            name=PRIMARY_NAME,
            address=str(base),
            role="manager",
            type="gpu",
            hardware=PRIMARY_HARDWARE,
            index=0,
            gpus=1,
        )
    ]
    for index in range(1, count):
        nodes.append(
            NodeSpec(
                name=f"rpi-{index}",
                address=str(base + index),
                role="worker",
                type="rpi",
                hardware=PI_HARDWARE[(index - 1) % len(PI_HARDWARE)],
                index=index,
                cpus=cpus,
                memory_bytes=memory_bytes,
            )
        )
    return tuple(nodes)


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise ConfigError(f"--subnet {text!r}: {exc}") from None
    if not network.is_private:
        raise ConfigError(f"--subnet {text}: use a private range (10/8, 172.16/12, 192.168/16)")
    if network.prefixlen > 26:
        raise ConfigError(f"--subnet {text}: too small; a /24 is the usual choice")
    return network
