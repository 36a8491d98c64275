"""The cluster inventory: the one file that says which nodes exist and how to reach them.

A user writes it by hand for real Pis; ``swarmscope lab up`` writes the same format for the
lab, so every later command (run, fault, report, ansible) takes the same code path.
``docs``-style reference: README.md, "The inventory file".
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from drivers.config import Section, load_yaml
from drivers.errors import ConfigError

BACKENDS = ("dockerswarm", "stratoswarm")
ROLES = ("manager", "worker")
NODE_TYPES = ("gpu", "rpi")
DEFAULT_EXPORTER_PORT = 9877
DEFAULT_NODE_EXPORTER_PORT = 9100
DEFAULT_MESH_PORT = 9878
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class SshSettings:
    user: str = "pi"
    port: int = 22
    key_file: Path | None = None
    known_hosts: Path | None = None


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    role: str
    type: str
    hardware: str = ""
    gpus: int = 0
    docker_host: str | None = None
    exporter_port: int = DEFAULT_EXPORTER_PORT
    node_exporter_port: int = DEFAULT_NODE_EXPORTER_PORT
    mesh_port: int = DEFAULT_MESH_PORT
    labels: dict[str, str] = field(default_factory=dict)
    ssh: SshSettings = SshSettings()

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    @property
    def engine_url(self) -> str:
        """How the Docker SDK reaches this node's engine: explicit, or over SSH."""
        if self.docker_host:
            return self.docker_host
        return f"ssh://{self.ssh.user}@{self.address}:{self.ssh.port}"


@dataclass(frozen=True)
class Inventory:
    path: Path
    name: str
    backend: str
    manager_name: str
    prometheus_url: str
    pushgateway_url: str
    alertmanager_url: str | None
    nodes: tuple[Node, ...]
    lab_state_dir: Path | None = None
    digest: str = ""

    @property
    def manager(self) -> Node:
        return self.node(self.manager_name)

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.name != self.manager_name)

    def node(self, name: str) -> Node:
        for candidate in self.nodes:
            if candidate.name == name:
                return candidate
        known = ", ".join(n.name for n in self.nodes)
        raise ConfigError(f"{self.path}: no node named {name!r} (nodes: {known})")

    @property
    def is_lab(self) -> bool:
        return self.lab_state_dir is not None


def load_inventory(path: Path) -> Inventory:
    """Read and validate an inventory; every mistake is one ConfigError naming file and field."""
    raw = load_yaml(path)
    source = str(path)
    top = Section.of(raw, "", source)
    top.check_keys({"version", "cluster", "nodes"}, {"ssh", "lab"})
    if top.get("version", int) != 1:
        raise top.error("version", "only version 1 is understood")
    cluster = top.section("cluster")
    cluster.check_keys(
        {"name", "backend", "prometheus_url", "pushgateway_url"}, {"manager", "alertmanager_url"}
    )
    ssh_defaults = (
        _read_ssh(top.section("ssh"), SshSettings(), path) if top.has("ssh") else SshSettings()
    )
    nodes = tuple(_read_node(s, ssh_defaults, path) for s in top.sections("nodes"))
    if not nodes:
        raise top.error("nodes", "at least one node is needed")
    _check_unique(top, nodes)
    managers = [n.name for n in nodes if n.is_manager]
    if not managers:
        raise top.error("nodes", "no node has role: manager")
    manager_name = cluster.get("manager", str, managers[0])
    if manager_name not in managers:
        raise cluster.error("manager", f"{manager_name!r} is not a node with role: manager")
    lab_state_dir = None
    if top.has("lab"):
        lab = top.section("lab")
        lab.check_keys({"state_dir"})
        lab_state_dir = Path(lab.get("state_dir", str))
    return Inventory(
        path=path,
        name=_checked_name(cluster, "name"),
        backend=cluster.choice("backend", BACKENDS),
        manager_name=manager_name,
        prometheus_url=_url(cluster, "prometheus_url"),
        pushgateway_url=_url(cluster, "pushgateway_url"),
        alertmanager_url=_url(cluster, "alertmanager_url")
        if cluster.has("alertmanager_url")
        else None,
        nodes=nodes,
        lab_state_dir=lab_state_dir,
        digest=hashlib.sha256(path.read_bytes()).hexdigest()[:16],
    )


def _read_node(entry: Section, ssh_defaults: SshSettings, path: Path) -> Node:
    entry.check_keys(
        {"name", "address", "role", "type"},
        {
            "hardware",
            "gpus",
            "docker_host",
            "exporter_port",
            "node_exporter_port",
            "mesh_port",
            "labels",
            "ssh",
        },
    )
    labels_section = entry.section("labels") if entry.has("labels") else None
    labels: dict[str, str] = {}
    if labels_section is not None:
        for key, value in labels_section.data.items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise labels_section.error(key, "label values must be strings")
            labels[key] = str(value)
    gpus = entry.get("gpus", int, 0)
    if gpus < 0:
        raise entry.error("gpus", "must be 0 or more")
    return Node(
        name=_checked_name(entry, "name"),
        address=entry.converted("address", _ip_address),
        role=entry.choice("role", ROLES),
        type=entry.choice("type", NODE_TYPES),
        hardware=entry.get("hardware", str, ""),
        gpus=gpus,
        docker_host=entry.get("docker_host", str) if entry.has("docker_host") else None,
        exporter_port=_port(entry, "exporter_port", DEFAULT_EXPORTER_PORT),
        node_exporter_port=_port(entry, "node_exporter_port", DEFAULT_NODE_EXPORTER_PORT),
        mesh_port=_port(entry, "mesh_port", DEFAULT_MESH_PORT),
        labels=labels,
        ssh=_read_ssh(entry.section("ssh"), ssh_defaults, path)
        if entry.has("ssh")
        else ssh_defaults,
    )


def _read_ssh(entry: Section, defaults: SshSettings, path: Path) -> SshSettings:
    entry.check_keys(set(), {"user", "port", "key_file", "known_hosts"})
    base = path.parent

    def relative(key: str, default: Path | None) -> Path | None:
        if not entry.has(key):
            return default
        return (base / Path(entry.get(key, str)).expanduser()).resolve()

    return SshSettings(
        user=entry.get("user", str, defaults.user),
        port=_port(entry, "port", defaults.port),
        key_file=relative("key_file", defaults.key_file),
        known_hosts=relative("known_hosts", defaults.known_hosts),
    )


def _check_unique(top: Section, nodes: tuple[Node, ...]) -> None:
    seen_names: set[str] = set()
    seen_addresses: dict[tuple[str, int], str] = {}
    for index, node in enumerate(nodes):
        if node.name in seen_names:
            raise top.error(f"nodes[{index}].name", f"duplicate node name {node.name!r}")
        seen_names.add(node.name)
        # Lab nodes share nothing, real nodes share nothing; two entries on one address:port
        # would make Prometheus scrape one exporter twice under two names.
        key = (node.address, node.exporter_port)
        if key in seen_addresses:
            raise top.error(
                f"nodes[{index}].address",
                f"{node.address} is already used by node {seen_addresses[key]!r}",
            )
        seen_addresses[key] = node.name


def _checked_name(entry: Section, key: str) -> str:
    name = entry.get(key, str)
    if not _NAME.match(name):
        raise entry.error(key, f"{name!r} must be lower-case letters, digits and '-' (a hostname)")
    return name


def _ip_address(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an IP address, got {value!r}")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


def _port(entry: Section, key: str, default: int) -> int:
    port = entry.get(key, int, default)
    if not 1 <= port <= 65535:
        raise entry.error(key, f"{port} is not a TCP/UDP port")
    return port


def _url(entry: Section, key: str) -> str:
    url = entry.get(key, str)
    if not re.match(r"^https?://[^/\s]+", url):
        raise entry.error(key, f"{url!r} is not an http(s) URL")
    return url.rstrip("/")


def inventory_document(
    *,
    name: str,
    backend: str,
    prometheus_url: str,
    pushgateway_url: str,
    alertmanager_url: str | None,
    nodes: list[dict[str, Any]],
    ssh: dict[str, Any] | None = None,
    lab_state_dir: Path | None = None,
) -> dict[str, Any]:
    """The mapping ``write_inventory`` saves; the lab builds one of these."""
    cluster: dict[str, Any] = {
        "name": name,
        "backend": backend,
        "prometheus_url": prometheus_url,
        "pushgateway_url": pushgateway_url,
    }
    if alertmanager_url:
        cluster["alertmanager_url"] = alertmanager_url
    document: dict[str, Any] = {"version": 1, "cluster": cluster}
    if ssh:
        document["ssh"] = ssh
    document["nodes"] = nodes
    if lab_state_dir is not None:
        document["lab"] = {"state_dir": str(lab_state_dir)}
    return document


def write_inventory(document: dict[str, Any], path: Path, header: str) -> None:
    """Write atomically, then re-read it, so a file we write is always one we accept."""
    text = "".join(f"# {line}\n" for line in header.splitlines())
    text += yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    load_inventory(path)


INVENTORY_ENV = "SWARMSCOPE_INVENTORY"
# Where `swarmscope lab up` (default lab name) writes its inventory.
DEFAULT_LAB_INVENTORY = Path("/var/lib/swarmscope/labs/lab/inventory.yaml")


def resolve_inventory_path(
    given: Path | None, default_lab_inventory: Path = DEFAULT_LAB_INVENTORY
) -> Path:
    """``--inventory`` if given, else ``$SWARMSCOPE_INVENTORY``, else the default lab's file."""
    import os  # noqa: PLC0415 - only the CLI path needs the environment

    if given is not None:
        return given
    from_env = os.environ.get(INVENTORY_ENV)
    if from_env:
        return Path(from_env)
    if default_lab_inventory.exists():
        return default_lab_inventory
    raise ConfigError(
        "no inventory: pass --inventory FILE (see benchmarks/configs/cluster.example.yaml), "
        f"set {INVENTORY_ENV}, or build the lab with `swarmscope lab up`"
    )
