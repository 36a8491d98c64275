"""Translate between the backend protocol and Docker Swarm's API objects.

Kept apart from the backend so the mapping (constraints, resources, task states, the API's
nanosecond timestamps) can be read and tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docker import types

from drivers.cluster.base import NodeState, NodeStatus, Task, TaskState, WorkloadSpec
from drivers.cluster.constraints import Constraint, parse_constraint
from drivers.cluster.timestamps import parse_rfc3339
from drivers.errors import SwarmscopeError

# Every service swarmscope creates carries this label, so leftovers can always be found.
MANAGED_LABEL = "swarmscope.managed"
# `sleep`/`httpd` as PID 1 ignore SIGTERM: with an init and a 1 s grace period a removal
# takes about a second instead of ten.
STOP_GRACE_NANOSECONDS = 1_000_000_000
# Swarm's default waits 5 s before restarting a task; 1 s still avoids a crash loop.
RESTART_DELAY_NANOSECONDS = 1_000_000_000
GPU_RESOURCE = "gpu"

# The seed's attribute names -> Swarm's. Swarm has no node "name" (it has the hostname)
# and no node "type": the type is a node label (the lab and `join` set type=gpu|rpi).
_ATTRIBUTE_ALIASES = {"node.name": "node.hostname", "node.type": "node.labels.type"}
_SWARM_ATTRIBUTES = (
    "node.id",
    "node.hostname",
    "node.role",
    "node.platform.os",
    "node.platform.arch",
)
_SWARM_PREFIXES = ("node.labels.", "engine.labels.")

TASK_STATES: dict[str, TaskState] = {
    "new": TaskState.PENDING,
    "allocated": TaskState.PENDING,
    "pending": TaskState.PENDING,
    "assigned": TaskState.PENDING,
    "accepted": TaskState.PENDING,
    "preparing": TaskState.PENDING,
    "ready": TaskState.PENDING,
    "starting": TaskState.PENDING,
    "running": TaskState.RUNNING,
    "complete": TaskState.COMPLETE,
    "failed": TaskState.FAILED,
    "rejected": TaskState.FAILED,
    "shutdown": TaskState.SHUTDOWN,
    "remove": TaskState.SHUTDOWN,
    "orphaned": TaskState.SHUTDOWN,
}
NODE_STATES = {
    "ready": NodeState.READY,
    "down": NodeState.DOWN,
    "disconnected": NodeState.DISCONNECTED,
    "unknown": NodeState.UNKNOWN,
}


def swarm_constraint(text: str) -> str:
    """One constraint in the seed's syntax, as Swarm writes it."""
    try:
        parsed = parse_constraint(text)
    except ValueError as exc:
        raise SwarmscopeError(str(exc), exit_code=2) from None
    attribute = _ATTRIBUTE_ALIASES.get(parsed.attribute, parsed.attribute)
    if attribute not in _SWARM_ATTRIBUTES and not attribute.startswith(_SWARM_PREFIXES):
        known = ", ".join(
            ["node.name", "node.type", *_SWARM_ATTRIBUTES, "node.labels.*", "engine.labels.*"]
        )
        raise SwarmscopeError(
            f"constraint {text!r}: Docker Swarm cannot place on {parsed.attribute!r} "
            f"(known: {known})",
            exit_code=2,
        )
    return str(Constraint(attribute, parsed.operator, parsed.value))


def create_arguments(spec: WorkloadSpec) -> dict[str, Any]:
    """Keyword arguments of ``APIClient.create_service`` for one workload."""
    req = spec.requirements
    resources = types.Resources(
        cpu_reservation=round(req.cpus * 1e9) if req.cpus else None,
        mem_reservation=req.memory_bytes or None,
        generic_resources={GPU_RESOURCE: req.gpus} if req.gpus else None,
    )
    container = types.ContainerSpec(
        spec.image,
        command=list(spec.command) or None,
        init=True,
        stop_grace_period=STOP_GRACE_NANOSECONDS,
    )
    template = types.TaskTemplate(
        container,
        resources=resources,
        restart_policy=types.RestartPolicy(condition="none")
        if spec.one_shot
        else types.RestartPolicy(condition="any", delay=RESTART_DELAY_NANOSECONDS),
        placement=types.Placement(constraints=[swarm_constraint(c) for c in spec.constraints]),
    )
    return {
        "task_template": template,
        "name": spec.name,
        "labels": {**spec.labels, MANAGED_LABEL: "true"},
        "mode": types.ServiceMode("replicated", replicas=spec.replicas),
        # The lab's kernel has no IPVS: a virtual IP would not work, DNS round robin does.
        "endpoint_spec": types.EndpointSpec(mode="dnsrr"),
    }


def parse_timestamp(text: str | None) -> float | None:
    """POSIX seconds from the API's RFC 3339 time with nanoseconds; None for the zero time."""
    if not text or text.startswith("0001-01-01"):
        return None
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise SwarmscopeError(f"Docker API returned an unreadable timestamp {text!r}") from None


def node_status(raw: Mapping[str, Any]) -> NodeStatus:
    description = raw.get("Description", {})
    resources = description.get("Resources", {})
    generic: dict[str, int] = {}
    for item in resources.get("GenericResources") or []:
        if "NamedResourceSpec" in item:
            kind = item["NamedResourceSpec"]["Kind"]
            generic[kind] = generic.get(kind, 0) + 1
        elif "DiscreteResourceSpec" in item:
            kind = item["DiscreteResourceSpec"]["Kind"]
            generic[kind] = generic.get(kind, 0) + int(item["DiscreteResourceSpec"]["Value"])
    return NodeStatus(
        name=description.get("Hostname", ""),
        state=NODE_STATES.get(raw.get("Status", {}).get("State", ""), NodeState.UNKNOWN),
        role=raw.get("Spec", {}).get("Role", ""),
        labels=dict(raw.get("Spec", {}).get("Labels") or {}),
        cpus=resources.get("NanoCPUs", 0) / 1e9,
        memory_bytes=int(resources.get("MemoryBytes", 0)),
        generic_resources=generic,
        engine_version=description.get("Engine", {}).get("EngineVersion", ""),
        node_id=raw.get("ID", ""),
    )


def task_record(
    raw: Mapping[str, Any], service_names: Mapping[str, str], node_names: Mapping[str, str]
) -> Task:
    status = raw.get("Status", {})
    swarm_state = status.get("State", "")
    created = parse_timestamp(raw.get("CreatedAt")) or 0.0
    updated = parse_timestamp(status.get("Timestamp")) or created
    node_id = raw.get("NodeID") or ""
    # Err holds the scheduler's reason ("no suitable node (insufficient resources on 6
    # nodes)") or a failure's; Message only describes the state ("scheduler assigned task
    # to node"), which is progress, not a reason.
    message = status.get("Err") or ""
    return Task(
        task_id=raw["ID"],
        workload_id=raw["ServiceID"],
        workload=service_names.get(raw["ServiceID"], raw["ServiceID"]),
        node=node_names.get(node_id, node_id) if node_id else None,
        state=TASK_STATES.get(swarm_state, TaskState.PENDING),
        desired_state=raw.get("DesiredState", ""),
        created_at=created,
        updated_at=updated,
        message=message,
    )
