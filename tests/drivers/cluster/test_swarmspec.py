"""The seed's workload vocabulary maps onto Docker Swarm's API as documented, and Swarm's
records map back without losing the orchestrator's timestamps or reasons."""

from __future__ import annotations

import pytest

from drivers.cluster.base import NodeState, Requirements, TaskState, WorkloadSpec
from drivers.cluster.constraints import parse_constraint, pinned_node
from drivers.cluster.dockerswarm import _api_time
from drivers.cluster.swarmspec import (
    MANAGED_LABEL,
    create_arguments,
    node_status,
    parse_timestamp,
    swarm_constraint,
    task_record,
)
from drivers.errors import SwarmscopeError


@pytest.mark.parametrize(
    ("seed", "swarm"),
    [
        ("node.name==rpi-1", "node.hostname==rpi-1"),
        ("node.type == rpi", "node.labels.type==rpi"),
        ("node.labels.zone != shelf-2", "node.labels.zone!=shelf-2"),
        ("node.role==manager", "node.role==manager"),
        ("engine.labels.type==gpu", "engine.labels.type==gpu"),
    ],
)
def test_constraints_translate_to_swarm(seed: str, swarm: str) -> None:
    """Swarm has no node name or type: the hostname and the `type` label stand for them."""
    assert swarm_constraint(seed) == swarm


def test_unknown_constraint_attribute_is_refused() -> None:
    """A constraint Swarm cannot express is an error naming it, not a silently ignored rule."""
    with pytest.raises(SwarmscopeError, match=r"constraint 'node.colour==red': Docker Swarm"):
        swarm_constraint("node.colour==red")
    with pytest.raises(SwarmscopeError, match="is not a placement constraint"):
        swarm_constraint("node.name=rpi-1")


def test_pinned_node() -> None:
    assert pinned_node(("node.type==rpi", "node.name == rpi-3")) == "rpi-3"
    assert pinned_node(("node.name!=rpi-3",)) is None
    assert parse_constraint(" node.type==rpi ").attribute == "node.type"


def test_service_arguments_carry_requirements() -> None:
    """GPU -> generic resource, cpu/memory -> reservations, init + 1 s grace, DNS round robin,
    one-shot jobs never restarted."""
    spec = WorkloadSpec(
        "infer",
        "img:1",
        ("sleep", "2"),
        Requirements(gpus=1, cpus=0.5, memory_bytes=128 * 2**20),
        constraints=("node.type==gpu",),
        replicas=2,
        labels={"swarmscope.run": "r1"},
        one_shot=True,
    )
    arguments = create_arguments(spec)
    template = arguments["task_template"]
    reservations = template["Resources"]["Reservations"]
    assert reservations["NanoCPUs"] == 500_000_000
    assert reservations["MemoryBytes"] == 128 * 2**20
    assert reservations["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "gpu", "Value": 1}}
    ]
    assert template["Placement"]["Constraints"] == ["node.labels.type==gpu"]
    assert template["RestartPolicy"]["Condition"] == "none"
    container = template["ContainerSpec"]
    assert (container["Image"], container["Command"], container["Init"]) == (
        "img:1",
        ["sleep", "2"],
        True,
    )
    assert container["StopGracePeriod"] == 1_000_000_000
    assert arguments["mode"]["replicated"]["Replicas"] == 2
    assert arguments["endpoint_spec"]["Mode"] == "dnsrr"
    assert arguments["labels"] == {"swarmscope.run": "r1", MANAGED_LABEL: "true"}
    services = create_arguments(WorkloadSpec("svc", "img", ()))["task_template"]
    assert services["RestartPolicy"]["Condition"] == "any"
    assert "Resources" not in services  # no requirement, no reservation


def test_timestamps_keep_nanoseconds() -> None:
    """The API's RFC 3339 times keep their nanoseconds; the zero time means unset."""
    stamp = parse_timestamp("2026-11-29T03:01:42.875063068Z")
    assert stamp is not None
    assert stamp % 1 == pytest.approx(0.875063068, abs=1e-6)
    assert parse_timestamp("2026-11-29T03:01:42Z") == pytest.approx(stamp - 0.875063068, abs=1e-6)
    assert parse_timestamp("2026-11-29T04:01:42.5+01:00") == pytest.approx(stamp - 0.375063068)
    assert parse_timestamp("0001-01-01T00:00:00Z") is None
    with pytest.raises(SwarmscopeError, match="unreadable timestamp 'yesterday'"):
        parse_timestamp("yesterday")


def test_event_times_are_seconds_dot_nanoseconds() -> None:
    """Docker reads since/until as seconds.nanoseconds: 0.5 s must not become 5 ns."""
    assert _api_time(1795921279.5) == "1795921279.500000000"
    assert _api_time(10.9999999999) == "10.999999999"


def test_tasks_map_states_times_and_reasons() -> None:
    """A pending task keeps the scheduler's reason (Err); running ones their start time."""
    pending = task_record(
        {
            "ID": "t1",
            "ServiceID": "s1",
            "CreatedAt": "2026-11-29T03:01:42.875063068Z",
            "DesiredState": "running",
            "Status": {
                "Timestamp": "2026-11-29T03:01:42.927174389Z",
                "State": "pending",
                "Message": "pending task scheduling",
                "Err": "no suitable node (insufficient resources on 6 nodes)",
            },
        },
        {"s1": "big"},
        {},
    )
    assert (pending.state, pending.node, pending.workload) == (TaskState.PENDING, None, "big")
    assert pending.message == "no suitable node (insufficient resources on 6 nodes)"
    running = task_record(
        {
            "ID": "t2",
            "ServiceID": "s1",
            "NodeID": "n1",
            "CreatedAt": "2026-11-29T03:01:42.0Z",
            "Status": {"Timestamp": "2026-11-29T03:01:43.25Z", "State": "running"},
        },
        {"s1": "big"},
        {"n1": "rpi-1"},
    )
    assert (running.state, running.node) == (TaskState.RUNNING, "rpi-1")
    assert running.running_since is not None
    assert running.running_since - running.created_at == pytest.approx(1.25)
    assigned = task_record(
        {
            "ID": "t3",
            "ServiceID": "s1",
            "NodeID": "n1",
            "Status": {"State": "assigned", "Message": "scheduler assigned task to node"},
        },
        {},
        {"n1": "rpi-1"},
    )
    # A state's description is progress, not a reason: only Err is a reason.
    assert (assigned.state, assigned.node, assigned.message) == (TaskState.PENDING, "rpi-1", "")
    for swarm_state, state in (
        ("rejected", TaskState.FAILED),
        ("complete", TaskState.COMPLETE),
        ("orphaned", TaskState.SHUTDOWN),
        ("starting", TaskState.PENDING),
    ):
        raw = {"ID": "t", "ServiceID": "s", "Status": {"State": swarm_state}}
        assert task_record(raw, {}, {}).state is state


def test_nodes_count_generic_resources() -> None:
    """Named GPUs (gpu=GPU-0, gpu=GPU-1) count one each; discrete ones by value."""
    status = node_status(
        {
            "ID": "n1",
            "Spec": {"Role": "manager", "Labels": {"type": "gpu"}},
            "Description": {
                "Hostname": "gpu-primary",
                "Resources": {
                    "NanoCPUs": 2_000_000_000,
                    "MemoryBytes": 1024,
                    "GenericResources": [
                        {"NamedResourceSpec": {"Kind": "gpu", "Value": "GPU-0"}},
                        {"NamedResourceSpec": {"Kind": "gpu", "Value": "GPU-1"}},
                        {"DiscreteResourceSpec": {"Kind": "fpga", "Value": 3}},
                    ],
                },
                "Engine": {"EngineVersion": "20.10.24"},
            },
            "Status": {"State": "ready"},
        }
    )
    assert status.generic_resources == {"gpu": 2, "fpga": 3}
    assert (status.name, status.state, status.role, status.cpus) == (
        "gpu-primary",
        NodeState.READY,
        "manager",
        2.0,
    )
    assert status.labels == {"type": "gpu"}
