"""The Docker Swarm backend: the Docker SDK against the manager and each node's own engine.

Workloads are Swarm services (one per workload, ``replicas`` tasks); a node joins and leaves
through its own engine (the inventory's ``docker_host``: the lab's unix socket, or
``ssh://`` on a Pi). Join phases, defined for Swarm (README, "Benchmarks"):

- hardware_profiling: the node's engine reads its CPUs, memory and generic resources (the
  description it sends the manager) — the ``info`` call on the node's engine;
- network_discovery: the first TCP connection from the node to the manager's port 2377,
  timed on the node (name resolution, ARP, handshake); later handshakes give the RTT;
- certificate_exchange: from ``swarm join`` until the manager's CA has signed the node's
  certificate (the node's ``CreatedAt`` on the manager: TLS pinned by the token's CA hash,
  token check, CSR signed);
- registration: from then until the manager lists the node Ready and the join call returned;
- total: the sum of the four (the controller's own SSH round trips are not part of it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import requests

from drivers.cluster import nodeprobe
from drivers.cluster.base import JoinResult, NodeEvent, NodeState, NodeStatus, Task, WorkloadSpec
from drivers.cluster.swarmspec import (
    NODE_STATES,
    create_arguments,
    node_status,
    parse_timestamp,
    swarm_constraint,
    task_record,
)
from drivers.cluster.workloads import DEFAULT_IMAGE, load_workload_file
from drivers.errors import SwarmscopeError
from drivers.inventory import Inventory, Node
from drivers.remote import SshPool
from drivers.secrets import register_secret, scrub

SWARM_PORT = 2377
# How long `deploy` waits for one workload's tasks to get nodes before creating the next
# (placed in milliseconds; a workload that cannot be placed is the scenario's to report).
DEPLOY_ASSIGN_WAIT = 5.0


class BackendError(SwarmscopeError):
    """The orchestrator refused or failed a request; the message names node and request."""


def _reason(exc: Exception) -> str:
    if isinstance(exc, docker.errors.APIError):
        text = str(exc.explanation or exc)
    else:
        text = str(exc) or type(exc).__name__
    return scrub(text.strip().splitlines()[0] if text.strip() else type(exc).__name__)


class DockerSwarmBackend:
    name = "dockerswarm"
    control_ports = ("tcp/2377", "tcp/7946", "udp/7946")
    agent_processes = ("dockerd", "containerd")

    def __init__(
        self,
        inventory: Inventory,
        ssh: SshPool | None = None,
        poll_interval: float = 0.05,
        ready_timeout: float = 60.0,
    ) -> None:
        self.inventory = inventory
        self.poll_interval = poll_interval
        self.ready_timeout = ready_timeout
        self._ssh = ssh or SshPool()
        self._owns_ssh = ssh is None
        self._engines: dict[str, docker.DockerClient] = {}
        self._lock = threading.Lock()
        self._service_names: dict[str, str] = {}
        self._node_names: dict[str, str] = {}
        # Labels a node had before it left, given back when it joins again.
        self._kept_labels: dict[str, dict[str, str]] = {}

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> DockerSwarmBackend:
        return cls(inventory)

    # -- connections ------------------------------------------------------------------------
    def _engine(self, node: Node) -> docker.DockerClient:
        with self._lock:
            client = self._engines.get(node.name)
            if client is None:
                try:
                    client = docker.DockerClient(base_url=node.engine_url, timeout=60)
                except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
                    raise BackendError(
                        f"node {node.name}: Docker engine at {node.engine_url} does not answer "
                        f"({_reason(exc)})"
                    ) from None
                self._engines[node.name] = client
            return client

    @property
    def _manager(self) -> docker.DockerClient:
        return self._engine(self.inventory.manager)

    @contextlib.contextmanager
    def _request(self, node: Node, what: str) -> Iterator[None]:
        """Turn any SDK failure into one line naming the node and the request."""
        try:
            yield
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise BackendError(f"node {node.name}: {what}: {_reason(exc)}") from None

    # -- cluster ------------------------------------------------------------------------------
    def version(self) -> str:
        manager = self.inventory.manager
        with self._request(manager, "reading the engine version"):
            info = self._manager.version()
        return f"Docker Engine {info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"

    def join_token(self) -> str:
        manager = self.inventory.manager
        with self._request(manager, "reading the worker join token"):
            token = self._manager.api.inspect_swarm()["JoinTokens"]["Worker"]
        register_secret(token)
        return str(token)

    def _raw_nodes(self) -> list[dict[str, Any]]:
        with self._request(self.inventory.manager, "listing nodes"):
            raw: list[dict[str, Any]] = self._manager.api.nodes()
        with self._lock:
            for item in raw:
                self._node_names[item["ID"]] = item.get("Description", {}).get("Hostname", "")
        return raw

    def nodes(self) -> list[NodeStatus]:
        return [node_status(item) for item in self._raw_nodes()]

    # -- join and leave -----------------------------------------------------------------------
    def join(self, node: Node) -> JoinResult:
        if node.is_manager:
            raise BackendError(f"node {node.name} is the manager; only workers join and leave")
        manager = self.inventory.manager
        token = self.join_token()
        engine = self._engine(node)
        started_at = time.time()
        begin = time.perf_counter()
        with self._request(node, "reading the engine's hardware description"):
            info = engine.info()
        profiling = time.perf_counter() - begin
        swarm_state = info.get("Swarm", {}).get("LocalNodeState", "inactive")
        if swarm_state not in ("inactive", ""):
            raise BackendError(
                f"node {node.name} is already in a swarm (state {swarm_state}); leave it first"
            )
        reach = nodeprobe.probe_tcp(self._ssh[node], node, manager.address, SWARM_PORT)
        join_started = time.time()
        begin = time.perf_counter()
        with self._request(node, f"joining the swarm at {manager.address}:{SWARM_PORT}"):
            engine.swarm.join(
                remote_addrs=[f"{manager.address}:{SWARM_PORT}"],
                join_token=token,
                listen_addr=f"0.0.0.0:{SWARM_PORT}",
                advertise_addr=node.address,
            )
        join_call = time.perf_counter() - begin
        with self._request(node, "reading its node id after joining"):
            node_id = engine.info()["Swarm"]["NodeID"]
        raw = self._wait_ready(node, node_id)
        self._label(node, raw)
        created = parse_timestamp(raw.get("CreatedAt")) or join_started
        ready = parse_timestamp(raw.get("UpdatedAt")) or join_started + join_call
        # Manager and controller clocks are one clock in the lab and NTP-close on real
        # hardware; clamping keeps a skewed clock from producing negative phases.
        certificate = min(max(created - join_started, 0.0), join_call)
        registration = max(ready - join_started, join_call) - certificate
        phases = {
            "hardware_profiling": profiling,
            "network_discovery": reach.first_connect_seconds,
            "certificate_exchange": certificate,
            "registration": registration,
        }
        phases["total"] = sum(phases.values())
        details = {
            "node_id": node_id,
            "rtt_seconds": reach.rtt_seconds,
            "join_call_seconds": join_call,
            "wall_seconds": time.time() - started_at,
            "hardware": {
                "cpus": info.get("NCPU"),
                "memory_bytes": info.get("MemTotal"),
                "architecture": info.get("Architecture"),
                "engine_version": info.get("ServerVersion"),
            },
        }
        return JoinResult(node.name, started_at, phases, details=details)

    def _wait_ready(self, node: Node, node_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.ready_timeout
        state = "unknown"
        while True:
            with self._request(self.inventory.manager, f"inspecting node {node.name}"):
                try:
                    raw: dict[str, Any] = self._manager.api.inspect_node(node_id)
                except docker.errors.NotFound:
                    raw = {}
            state = raw.get("Status", {}).get("State", "not registered yet")
            if state == "ready":
                return raw
            if time.monotonic() > deadline:
                raise BackendError(
                    f"node {node.name} joined but the manager did not list it Ready within "
                    f"{self.ready_timeout:g}s (state: {state})"
                )
            time.sleep(self.poll_interval)

    def _label(self, node: Node, raw: dict[str, Any]) -> None:
        """Give a (re)joined node its labels: the ones it had, its type, the inventory's."""
        with self._lock:
            kept = self._kept_labels.pop(node.name, {})
        labels = {**kept, "type": node.type, **node.labels}
        spec = dict(raw.get("Spec", {}))
        spec["Labels"] = labels
        with self._request(self.inventory.manager, f"labelling node {node.name}"):
            self._manager.api.update_node(raw["ID"], raw["Version"]["Index"], spec)

    def leave(self, node: Node) -> None:
        if node.is_manager:
            raise BackendError(f"node {node.name} is the manager; only workers join and leave")
        entries = [n for n in self._raw_nodes() if node_status(n).name == node.name]
        ready = [n for n in entries if node_status(n).state is NodeState.READY]
        for entry in ready or entries:
            with self._lock:
                self._kept_labels[node.name] = dict(entry.get("Spec", {}).get("Labels") or {})
        engine = self._engine(node)
        try:
            engine.swarm.leave(force=True)
        except docker.errors.APIError as exc:
            if "not part of a swarm" not in _reason(exc):
                raise BackendError(f"node {node.name}: leaving the swarm: {_reason(exc)}") from None
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise BackendError(f"node {node.name}: leaving the swarm: {_reason(exc)}") from None
        # The manager would call the node Down only after missed heartbeats (~10 s):
        # forget it right away, so its name is free for the next join.
        for entry in entries:
            with (
                self._request(self.inventory.manager, f"removing node {node.name}"),
                contextlib.suppress(docker.errors.NotFound),
            ):
                self._manager.api.remove_node(entry["ID"], force=True)

    # -- workloads ----------------------------------------------------------------------------
    def run(self, spec: WorkloadSpec) -> str:
        arguments = create_arguments(spec)
        manager = self.inventory.manager
        try:
            created = self._manager.api.create_service(**arguments)
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise BackendError(
                    f"workload {spec.name!r} already exists on the cluster (left over from an "
                    f"interrupted run? `docker service rm {spec.name}` on {manager.name})"
                ) from None
            raise BackendError(
                f"node {manager.name}: creating workload {spec.name!r}: {_reason(exc)}"
            ) from None
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise BackendError(
                f"node {manager.name}: creating workload {spec.name!r}: {_reason(exc)}"
            ) from None
        service_id = str(created["ID"])
        with self._lock:
            self._service_names[service_id] = spec.name
        return service_id

    def deploy(self, path: Path, image: str | None = None) -> list[str]:
        entries = load_workload_file(path, image=image or DEFAULT_IMAGE)
        ids: list[str] = []
        try:
            for entry in entries:
                labels = {**entry.spec.labels, "swarmscope.file": path.name}
                ids.append(self.run(replace(entry.spec, labels=labels)))
                self._wait_assigned(ids[-1], entry.spec.replicas)
        except BaseException:
            # All or nothing: a half-deployed file would outlive the scenario's bookkeeping.
            for workload_id in ids:
                with contextlib.suppress(SwarmscopeError):
                    self.remove(workload_id)
            raise
        return ids

    def _wait_assigned(self, workload_id: str, replicas: int) -> None:
        """Until Swarm has given each of the workload's tasks a node (milliseconds), at most
        DEPLOY_ASSIGN_WAIT seconds. Services created back to back are scheduled in one batch in
        no set order, so a later "any node" workload could take the CPUs an earlier workload's
        replicas were spread over; waiting applies the file in its order, as it reads."""
        deadline = time.monotonic() + DEPLOY_ASSIGN_WAIT
        while time.monotonic() < deadline:
            placed = [t for t in self.tasks(workload_id) if t.node is not None]
            if len(placed) >= replicas:
                return
            time.sleep(0.05)

    def workloads(self, labels: Mapping[str, str] | None = None) -> dict[str, str]:
        wanted = [f"{key}={value}" for key, value in (labels or {}).items()]
        with self._request(self.inventory.manager, "listing workloads"):
            services = self._manager.api.services(filters={"label": wanted} if wanted else None)
        found = {str(s["ID"]): str(s["Spec"]["Name"]) for s in services}
        with self._lock:
            self._service_names.update(found)
        return found

    def tasks(self, workload_id: str | None = None) -> list[Task]:
        filters = {"service": workload_id} if workload_id else None
        with self._request(self.inventory.manager, "listing tasks"):
            raw = self._manager.api.tasks(filters=filters)
        with self._lock:
            missing_service = any(t["ServiceID"] not in self._service_names for t in raw)
            missing_node = any(t.get("NodeID") and t["NodeID"] not in self._node_names for t in raw)
        if missing_service:
            self.workloads()
        if missing_node:
            self._raw_nodes()
        with self._lock:
            services, nodes = dict(self._service_names), dict(self._node_names)
        return [task_record(item, services, nodes) for item in raw]

    def migrate(self, workload_id: str, node_name: str) -> None:
        manager = self.inventory.manager
        target = [n for n in self.nodes() if n.name == node_name]
        if not any(n.state is NodeState.READY for n in target):
            state = target[0].state.value if target else "not in the swarm"
            raise BackendError(f"cannot migrate to node {node_name}: it is {state}")
        with self._request(manager, f"migrating workload {workload_id} to {node_name}"):
            service = self._manager.api.inspect_service(workload_id)
            placement = dict(service["Spec"]["TaskTemplate"].get("Placement") or {})
            kept = [
                c
                for c in placement.get("Constraints") or []
                if not c.replace(" ", "").startswith(("node.hostname", "node.id"))
            ]
            placement["Constraints"] = [*kept, swarm_constraint(f"node.name=={node_name}")]
            self._manager.api.update_service(
                workload_id,
                service["Version"]["Index"],
                task_template={"Placement": placement},
                fetch_current_spec=True,
            )

    def remove(self, workload_id: str) -> None:
        with (
            self._request(self.inventory.manager, f"removing workload {workload_id}"),
            contextlib.suppress(docker.errors.NotFound),
        ):
            self._manager.api.remove_service(workload_id)

    # -- events -------------------------------------------------------------------------------
    def node_events(self, since: float, until: float) -> Iterator[NodeEvent]:
        manager = self.inventory.manager
        with self._request(manager, "reading node events"):
            stream = self._manager.api.events(
                since=_api_time(since),
                until=_api_time(until),
                filters={"type": "node"},
                decode=True,
            )
            for event in stream:
                attributes = event.get("Actor", {}).get("Attributes", {})
                new_state = attributes.get("state.new")
                if event.get("Action") != "update" or not new_state:
                    continue
                with self._lock:
                    name = attributes.get("name") or self._node_names.get(
                        event.get("Actor", {}).get("ID", ""), ""
                    )
                yield NodeEvent(
                    node=name,
                    state=NODE_STATES.get(new_state, NodeState.UNKNOWN),
                    timestamp=int(event["timeNano"]) / 1e9,
                )

    def close(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            with contextlib.suppress(Exception):
                engine.close()
        if self._owns_ssh:
            self._ssh.close()


def _api_time(timestamp: float) -> str:
    """The API reads "seconds.nanoseconds"; str(float) would turn .5 s into 5 ns."""
    whole = int(timestamp)
    nanoseconds = min(round((timestamp - whole) * 1e9), 999_999_999)
    return f"{whole}.{nanoseconds:09d}"
