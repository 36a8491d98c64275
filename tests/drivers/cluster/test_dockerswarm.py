"""The Docker Swarm backend against the real lab: requirements become placements, the
orchestrator's reasons and timestamps come back, nodes leave and rejoin with their labels."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import pytest

from drivers.cluster.base import NodeState, Requirements, Task, TaskState, WorkloadSpec
from drivers.cluster.dockerswarm import BackendError, DockerSwarmBackend
from drivers.cluster.workloads import default_image
from drivers.inventory import Inventory
from drivers.secrets import scrub

pytestmark = [pytest.mark.root, pytest.mark.lab]


@pytest.fixture
def backend(lab_inventory: Inventory) -> Iterator[DockerSwarmBackend]:
    backend = DockerSwarmBackend(lab_inventory)
    created = set(backend.workloads())
    try:
        yield backend
    finally:
        for workload_id in set(backend.workloads()) - created:
            backend.remove(workload_id)
        backend.close()


def _wait(
    backend: DockerSwarmBackend, workload_id: str, done: Callable[[list[Task]], bool]
) -> list[Task]:
    deadline = time.monotonic() + 30
    while True:
        tasks = backend.tasks(workload_id)
        if done(tasks) or time.monotonic() > deadline:
            return tasks
        time.sleep(0.05)


def _running(tasks: list[Task]) -> bool:
    return any(t.state is TaskState.RUNNING for t in tasks)


def _pending_with_reason(tasks: list[Task]) -> bool:
    return any(t.state is TaskState.PENDING and "no suitable node" in t.message for t in tasks)


def test_requirements_and_constraints_place_work(
    backend: DockerSwarmBackend, lab_inventory: Inventory
) -> None:
    """GPU work lands on the GPU node, node.name and node.type constraints are honoured, and
    what cannot be placed stays pending with Swarm's own reason."""
    image = default_image(lab_inventory)
    command = ("sleep", "300")
    gpu = backend.run(
        WorkloadSpec("t-gpu", image, command, Requirements(gpus=1, memory_bytes=64 * 2**20))
    )
    pinned = backend.run(
        WorkloadSpec("t-pinned", image, command, constraints=("node.name==rpi-2",))
    )
    pis = backend.run(
        WorkloadSpec("t-pis", image, command, constraints=("node.type == rpi",), replicas=3)
    )
    huge = backend.run(
        WorkloadSpec("t-huge", image, command, Requirements(memory_bytes=100 * 10**9))
    )
    nowhere = backend.run(
        WorkloadSpec("t-nowhere", image, command, constraints=("node.name==rpi-99",))
    )
    (gpu_task,) = [t for t in _wait(backend, gpu, _running) if t.state is TaskState.RUNNING]
    assert gpu_task.node == "gpu-primary"
    assert gpu_task.updated_at >= gpu_task.created_at
    assert gpu_task.updated_at - gpu_task.created_at < 20
    assert [t.node for t in _wait(backend, pinned, _running)] == ["rpi-2"]
    pi_tasks = _wait(backend, pis, lambda ts: sum(t.state is TaskState.RUNNING for t in ts) == 3)
    assert {t.node for t in pi_tasks} <= {"rpi-1", "rpi-2", "rpi-3"}
    (big,) = _wait(backend, huge, _pending_with_reason)
    assert big.state is TaskState.PENDING
    assert "insufficient resources" in big.message
    (stray,) = _wait(backend, nowhere, _pending_with_reason)
    assert "scheduling constraints not satisfied" in stray.message
    assert {gpu, pinned, pis, huge, nowhere} <= set(
        backend.workloads({"swarmscope.managed": "true"})
    )
    backend.remove(huge)
    backend.remove(huge)  # gone already: not an error
    assert huge not in backend.workloads()


def test_migrate_moves_a_pinned_workload(
    backend: DockerSwarmBackend, lab_inventory: Inventory
) -> None:
    """migrate() re-pins the service; Swarm stops it on rpi-1 and starts it on rpi-3."""
    image = default_image(lab_inventory)
    workload = backend.run(
        WorkloadSpec("t-move", image, ("sleep", "300"), constraints=("node.name==rpi-1",))
    )
    assert [t.node for t in _wait(backend, workload, _running) if t.state is TaskState.RUNNING] == [
        "rpi-1"
    ]
    backend.migrate(workload, "rpi-3")
    tasks = _wait(
        backend,
        workload,
        lambda ts: [t.node for t in ts if t.state is TaskState.RUNNING] == ["rpi-3"],
    )
    assert [t.node for t in tasks if t.state is TaskState.RUNNING] == ["rpi-3"]
    with pytest.raises(BackendError, match="cannot migrate to node rpi-99: it is not in the swarm"):
        backend.migrate(workload, "rpi-99")


def test_leave_and_join_again(backend: DockerSwarmBackend, lab_inventory: Inventory) -> None:
    """A worker leaves (forgotten at once, not after ~10 s of missed heartbeats), joins again
    with its labels back, and the join phases add up to its total; the token never shows."""
    node = lab_inventory.node("rpi-3")
    labels = {n.name: n.labels for n in backend.nodes()}["rpi-3"]
    assert labels["type"] == "rpi"
    backend.leave(node)
    assert "rpi-3" not in {n.name for n in backend.nodes()}
    before = time.time()
    result = backend.join(node)
    phases = result.phases
    assert set(phases) == {
        "hardware_profiling",
        "network_discovery",
        "certificate_exchange",
        "registration",
        "total",
    }
    assert all(value >= 0 for value in phases.values())
    assert phases["total"] == pytest.approx(sum(v for k, v in phases.items() if k != "total"))
    assert 0 < phases["total"] < 10
    assert 0 < result.details["rtt_seconds"] < 0.1
    assert result.details["hardware"]["cpus"] >= 1
    after = {n.name: n for n in backend.nodes()}["rpi-3"]
    assert after.state is NodeState.READY
    assert after.labels == labels
    events = list(backend.node_events(before - 1, time.time() + 0.5))
    assert any(e.node == "rpi-3" and e.state is NodeState.READY for e in events)
    assert all(before - 1 <= e.timestamp <= time.time() for e in events)
    token = backend.join_token()
    assert scrub(token) == "<redacted>"
    with pytest.raises(BackendError, match="node rpi-3 is already in a swarm"):
        backend.join(node)
    with pytest.raises(BackendError, match="node gpu-primary is the manager"):
        backend.leave(lab_inventory.manager)


def test_an_engine_that_does_not_answer_is_named(lab_inventory: Inventory) -> None:
    """A node whose engine is unreachable fails with one line naming node and address."""
    node = dataclasses.replace(
        lab_inventory.node("rpi-1"), docker_host="unix:///nonexistent/docker.sock"
    )
    broken = dataclasses.replace(
        lab_inventory, nodes=tuple(node if n.name == "rpi-1" else n for n in lab_inventory.nodes)
    )
    backend = DockerSwarmBackend(broken)
    try:
        with pytest.raises(
            BackendError,
            match=r"^node rpi-1: Docker engine at unix:///nonexistent/docker.sock does not answer",
        ):
            backend.leave(node)
    finally:
        backend.close()
