"""The peers file: which nodes form the mesh and where each answers probes.

One JSON file (no YAML parser on a Pi) for the whole cluster, generated from the inventory
by ``drivers.monitoring.peers`` and copied unchanged to every node; each node finds itself by
name and probes the others::

    {"version": 1, "cluster": "edge-lab",
     "nodes": [{"name": "gpu-primary", "address": "192.168.1.100", "port": 9878, "type": "gpu"},
               {"name": "rpi-1", "address": "192.168.1.101", "port": 9878, "type": "rpi"}]}

Reading is strict: an unknown key, a missing field, a duplicate name or a port out of range
is a ``PeersFileError`` naming the file and the field, so a typo shows at start-up.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION = 1
DEFAULT_PORT = 9878
NODE_TYPES = ("gpu", "rpi")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_NODE_KEYS = {"name", "address", "port", "type"}


class PeersFileError(Exception):
    """The peers file is missing or wrong; the message names the file and the field."""


@dataclass(frozen=True)
class Peer:
    name: str
    address: str
    port: int = DEFAULT_PORT
    type: str = "rpi"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "port": self.port, "type": self.type}


@dataclass(frozen=True)
class Mesh:
    """Every node of the mesh, as the peers file lists them."""

    cluster: str
    nodes: tuple[Peer, ...]

    def node(self, name: str) -> Peer | None:
        return next((n for n in self.nodes if n.name == name), None)

    def peers_of(self, name: str) -> tuple[Peer, ...]:
        """Every node but ``name``: what the node called ``name`` probes."""
        return tuple(n for n in self.nodes if n.name != name)


def dumps(mesh: Mesh) -> str:
    document = {
        "version": VERSION,
        "cluster": mesh.cluster,
        "nodes": [node.to_json() for node in mesh.nodes],
    }
    return json.dumps(document, indent=2) + "\n"


def loads(text: str, source: str) -> Mesh:
    """Parse and validate a peers document; ``source`` names it in errors."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PeersFileError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(document, dict):
        raise PeersFileError(f"{source}: expected a JSON object at the top level")
    _check_keys(document, {"version", "nodes"}, {"cluster"}, source, "")
    if document["version"] != VERSION:
        raise PeersFileError(f"{source}: version: only version {VERSION} is understood")
    cluster = document.get("cluster", "")
    if not isinstance(cluster, str):
        raise PeersFileError(f"{source}: cluster: expected a string")
    entries = document["nodes"]
    if not isinstance(entries, list):
        raise PeersFileError(f"{source}: nodes: expected a list")
    nodes = tuple(_read_node(entry, source, f"nodes[{i}]") for i, entry in enumerate(entries))
    _check_unique(nodes, source)
    return Mesh(cluster=cluster, nodes=nodes)


def read(path: Path) -> Mesh:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PeersFileError(f"{path}: peers file not found") from None
    except OSError as exc:
        raise PeersFileError(f"{path}: cannot read the peers file: {exc.strerror}") from None
    return loads(text, str(path))


def write(mesh: Mesh, path: Path) -> None:
    """Write atomically: the exporter re-reads the file when it changes, never half-written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(dumps(mesh), encoding="utf-8")
    tmp.replace(path)


class PeersWatcher:
    """Re-reads the peers file when it changes (size, mtime or inode), keeping the last good one.

    ``poll()`` returns the new mesh after a change, ``None`` when nothing changed; a file that
    became invalid raises ``PeersFileError`` once per change and the caller keeps the old mesh.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature: tuple[int, int, int] | None = None
        self.mesh = read(path)
        self._signature = self._stat()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def poll(self) -> Mesh | None:
        signature = self._stat()
        if signature == self._signature:
            return None
        self._signature = signature
        if signature is None:
            raise PeersFileError(f"{self.path}: peers file disappeared; keeping the last peers")
        mesh = read(self.path)
        if mesh == self.mesh:
            return None
        self.mesh = mesh
        return mesh


def _read_node(entry: Any, source: str, where: str) -> Peer:
    if not isinstance(entry, dict):
        raise PeersFileError(f"{source}: {where}: expected an object")
    _check_keys(entry, {"name", "address"}, _NODE_KEYS - {"name", "address"}, source, where)
    name = entry["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise PeersFileError(
            f"{source}: {where}.name: {name!r} must be lower-case letters, digits and '-'"
        )
    address = _ip_address(entry["address"])
    if address is None:
        raise PeersFileError(
            f"{source}: {where}.address: {entry['address']!r} is not an IP address"
        )
    port = entry.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise PeersFileError(f"{source}: {where}.port: {port!r} is not a UDP/TCP port")
    node_type = entry.get("type", "rpi")
    if node_type not in NODE_TYPES:
        raise PeersFileError(
            f"{source}: {where}.type: {node_type!r} is not one of: {', '.join(NODE_TYPES)}"
        )
    return Peer(name=name, address=address, port=port, type=node_type)


def _ip_address(value: Any) -> str | None:
    """The canonical text of an IPv4/IPv6 address, or None (socket, not ipaddress: lean on a Pi)."""
    if not isinstance(value, str):
        return None
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, value))
        except OSError:
            continue
    return None


def _check_keys(
    entry: dict[str, Any], required: set[str], optional: set[str], source: str, where: str
) -> None:
    prefix = f"{where}." if where else ""
    for key in entry:
        if key not in required | optional:
            expected = ", ".join(sorted(required | optional))
            raise PeersFileError(
                f"{source}: {prefix}{key}: unknown key (expected one of: {expected})"
            )
    for key in sorted(required):
        if key not in entry:
            raise PeersFileError(f"{source}: {prefix}{key}: missing")


def _check_unique(nodes: Sequence[Peer], source: str) -> None:
    names: set[str] = set()
    endpoints: dict[tuple[str, int], str] = {}
    for index, node in enumerate(nodes):
        if node.name in names:
            raise PeersFileError(f"{source}: nodes[{index}].name: duplicate name {node.name!r}")
        names.add(node.name)
        endpoint = (node.address, node.port)
        if endpoint in endpoints:
            raise PeersFileError(
                f"{source}: nodes[{index}].address: {node.address}:{node.port} is already "
                f"node {endpoints[endpoint]!r}"
            )
        endpoints[endpoint] = node.name
