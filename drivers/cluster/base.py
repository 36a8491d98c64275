"""The backend protocol: what a scenario may ask of any orchestrator (Swarm, StratoSwarm, ...).

Kept small on purpose so a Kubernetes/k3s backend fits later. Every timestamp is a POSIX
time in seconds taken from the orchestrator's own records where it has them (task created /
running, node state changes), not from the controller's polling loop.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from drivers.inventory import Node


class NodeState(enum.StrEnum):
    READY = "ready"
    DOWN = "down"
    UNKNOWN = "unknown"
    DISCONNECTED = "disconnected"


class TaskState(enum.StrEnum):
    """Coarse task states every orchestrator can map onto."""

    PENDING = "pending"  # accepted, not yet placed or not yet started
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"  # the task failed or was rejected
    SHUTDOWN = "shutdown"  # stopped on purpose (removed, migrated away, node lost)


@dataclass(frozen=True)
class NodeStatus:
    name: str
    state: NodeState
    role: str  # manager | worker
    labels: dict[str, str] = field(default_factory=dict)
    cpus: float = 0.0
    memory_bytes: int = 0
    generic_resources: dict[str, int] = field(default_factory=dict)  # e.g. {"gpu": 1}
    engine_version: str = ""
    node_id: str = ""


@dataclass(frozen=True)
class Requirements:
    gpus: int = 0
    cpus: float | None = None
    memory_bytes: int | None = None


@dataclass(frozen=True)
class WorkloadSpec:
    """One workload as the seed describes it: image, command, requirements, placement."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    requirements: Requirements = Requirements()
    # Placement constraints in the seed's syntax: "node.name==rpi-1", "node.labels.type==rpi",
    # "node.type == rpi". Backends translate them into their own.
    constraints: tuple[str, ...] = ()
    replicas: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    # A batch job (the seed's `run ... nvidia-smi`): runs once to completion and is never
    # restarted. Long-running services (the default) are restarted and rescheduled.
    one_shot: bool = False


@dataclass(frozen=True)
class Task:
    task_id: str
    workload_id: str
    workload: str
    node: str | None  # node name, None while unplaced
    state: TaskState
    desired_state: str
    created_at: float
    updated_at: float  # time of the latest state change, from the orchestrator
    message: str = ""  # the orchestrator's reason, e.g. "insufficient resources on 6 nodes"

    @property
    def running_since(self) -> float | None:
        return self.updated_at if self.state is TaskState.RUNNING else None


@dataclass(frozen=True)
class NodeEvent:
    node: str
    state: NodeState
    timestamp: float  # from the orchestrator's event, not from when we read it


@dataclass(frozen=True)
class JoinResult:
    """One node's join, phase by phase, in seconds; ``phases`` always holds 'total'."""

    node: str
    started_at: float
    phases: dict[str, float]
    network_bytes: int | None = None  # traffic of the agent during the join, when measurable
    # What the backend learned on the way (hardware profile, RTT to the manager, ...).
    details: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """An orchestrator as scenarios see it. Implementations raise SwarmscopeError subclasses."""

    name: str
    # Where the orchestrator's own control traffic flows, as "tcp/2377"; empty when unknown.
    control_ports: tuple[str, ...]
    # Process names (as in /proc/PID/comm) of the node agent, to measure what it costs.
    agent_processes: tuple[str, ...]

    def version(self) -> str: ...

    def join_token(self) -> str:
        """A worker join token; implementations register it with drivers.secrets."""
        ...

    def nodes(self) -> list[NodeStatus]: ...

    def join(self, node: Node) -> JoinResult:
        """Make ``node`` join the cluster and return when the manager lists it ready."""
        ...

    def leave(self, node: Node) -> None:
        """Make ``node`` leave and forget it on the manager."""
        ...

    def run(self, spec: WorkloadSpec) -> str:
        """Submit a workload without waiting for it; returns its id."""
        ...

    def deploy(self, path: Path, image: str | None = None) -> list[str]:
        """Deploy a workload file in the seed's format; returns the workload ids.

        ``image`` is used for workloads the file gives no image (the seed's file gives none).
        """
        ...

    def workloads(self, labels: Mapping[str, str] | None = None) -> dict[str, str]:
        """Workloads (id -> name) carrying every label in ``labels``: a sweep for cleanup."""
        ...

    def tasks(self, workload_id: str | None = None) -> list[Task]: ...

    def migrate(self, workload_id: str, node_name: str) -> None:
        """Move a running workload to ``node_name`` (returns once requested)."""
        ...

    def remove(self, workload_id: str) -> None:
        """Remove a workload; removing one that is gone is not an error."""
        ...

    def node_events(self, since: float, until: float) -> Iterator[NodeEvent]:
        """Node state changes between two times, yielded as they happen (blocks until
        ``until`` when it lies in the future)."""
        ...

    def close(self) -> None: ...
