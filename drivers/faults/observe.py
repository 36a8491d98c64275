"""What a fault does to the cluster, seen from outside: node states, mesh links, the agent.

- ``first_node_event``: the orchestrator's own event for a node changing state (its
  timestamp, not the time we noticed), for failure detection and return to Ready;
- ``first_task_elsewhere``: the task that took over a lost node's workload, with the
  orchestrator's running-since time, for recovery;
- ``Snapshot``: node states as the manager sees them plus the exporters' mesh links
  (``swarmlet_mesh_peer_up``), and ``diff`` between two snapshots;
- ``scrape``/``AgentSample``: a node exporter's ``swarmlet_agent_*`` series, read directly
  (Prometheus scrapes every few seconds; a stress phase needs every second).
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import requests
from prometheus_client.parser import text_string_to_metric_families

from drivers.cluster.base import Backend, NodeEvent, NodeState, Task, TaskState
from drivers.errors import SwarmscopeError
from drivers.inventory import Inventory, Node

Series = dict[str, list[tuple[dict[str, str], float]]]
SCRAPE_TIMEOUT = 2.0


def first_node_event(
    backend: Backend,
    node: str,
    states: Iterable[NodeState],
    since: float,
    timeout: float,
) -> NodeEvent | None:
    """The first event (from ``since``) putting ``node`` into one of ``states``; None if
    none came within ``timeout`` seconds (or the event stream broke off)."""
    wanted = set(states)
    try:
        for event in backend.node_events(since, since + timeout):
            if event.node == node and event.state in wanted and event.timestamp >= since:
                return event
    except SwarmscopeError:
        return None
    return None


def first_task_elsewhere(
    backend: Backend,
    workload_id: str,
    lost_node: str,
    since: float,
    timeout: float,
    *,
    poll: float = 0.25,
) -> Task | None:
    """The first task of the workload that runs on another node than ``lost_node``, started
    after ``since``. Swarm emits no task events: tasks are polled, but the time that counts
    is the task's own running-since timestamp."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [
            t
            for t in backend.tasks(workload_id)
            if t.state is TaskState.RUNNING and t.node not in (None, lost_node)
        ]
        fresh = [t for t in running if t.updated_at >= since]
        if fresh:
            return min(fresh, key=lambda t: t.updated_at)
        time.sleep(poll)
    return None


def scrape(node: Node, timeout: float = SCRAPE_TIMEOUT) -> Series:
    """Every sample of the node's swarmlet-exporter, by metric name."""
    url = f"http://{node.address}:{node.exporter_port}/metrics"
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise SwarmscopeError(
            f"node {node.name}: exporter at {url} does not answer ({type(exc).__name__})"
        ) from None
    series: Series = {}
    try:
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                series.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    except ValueError as exc:
        raise SwarmscopeError(
            f"node {node.name}: exporter at {url}: bad exposition: {exc}"
        ) from None
    return series


def _single(series: Series, name: str) -> float | None:
    values = [value for _, value in series.get(name, [])]
    return values[0] if values else None


@dataclass(frozen=True)
class AgentSample:
    at: float
    exporter_up: bool
    agent_up: float | None = None
    memory_bytes: float | None = None
    cpu_seconds: float | None = None
    error: str = ""


def agent_sample(node: Node) -> AgentSample:
    at = time.time()
    try:
        series = scrape(node)
    except SwarmscopeError as exc:
        return AgentSample(at, False, error=str(exc))
    return AgentSample(
        at,
        True,
        _single(series, "swarmlet_agent_up"),
        _single(series, "swarmlet_agent_resident_memory_bytes"),
        _single(series, "swarmlet_agent_cpu_seconds_total"),
    )


@dataclass
class Snapshot:
    """The cluster at one moment: node -> state, "source->destination" -> 1/0 (mesh link
    up), and the exporters that did not answer."""

    at: float
    nodes: dict[str, str] = field(default_factory=dict)
    mesh: dict[str, int] = field(default_factory=dict)
    unreachable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "at": self.at,
            "nodes": dict(sorted(self.nodes.items())),
            "mesh": dict(sorted(self.mesh.items())),
            "exporters_unreachable": sorted(self.unreachable),
        }

    @property
    def mesh_down(self) -> list[str]:
        return sorted(pair for pair, up in self.mesh.items() if not up)


def snapshot(backend: Backend, inventory: Inventory) -> Snapshot:
    shot = Snapshot(time.time())
    shot.nodes = {n.name: n.state.value for n in backend.nodes()}

    def mesh_of(node: Node) -> tuple[str, Series | None]:
        try:
            return node.name, scrape(node)
        except SwarmscopeError:
            return node.name, None

    with concurrent.futures.ThreadPoolExecutor(max(1, min(8, len(inventory.nodes)))) as pool:
        for name, series in pool.map(mesh_of, inventory.nodes):
            if series is None:
                shot.unreachable.append(name)
                continue
            for labels, value in series.get("swarmlet_mesh_peer_up", []):
                source = labels.get("source", name)
                shot.mesh[f"{source}->{labels.get('destination', '?')}"] = int(value >= 1)
    return shot


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed from one snapshot to the other, one line per change."""
    lines = []
    for name in sorted(set(before.nodes) | set(after.nodes)):
        old, new = before.nodes.get(name, "absent"), after.nodes.get(name, "absent")
        if old != new:
            lines.append(f"node {name}: {old} -> {new}")
    for pair in sorted(set(before.mesh) | set(after.mesh)):
        old_up, new_up = before.mesh.get(pair), after.mesh.get(pair)
        if old_up != new_up:
            show = {1: "up", 0: "down", None: "unknown"}
            lines.append(f"mesh {pair}: {show[old_up]} -> {show[new_up]}")
    for name in sorted(set(before.unreachable) ^ set(after.unreachable)):
        was = "unreachable" if name in before.unreachable else "answering"
        now = "unreachable" if name in after.unreachable else "answering"
        lines.append(f"exporter {name}: {was} -> {now}")
    return lines
