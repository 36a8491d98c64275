"""Workloads a scenario creates: submitted, watched until they run, and always removed.

``WorkloadTracker`` labels and records every workload the moment it exists and registers
its removal with the scenario, so Ctrl-C or a failure never leaves one behind.
``wait_until_placed`` follows the orchestrator's own task records (created, running since)
until every workload runs, is found unschedulable, or time runs out.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from drivers.cluster.base import (
    Backend,
    NodeState,
    NodeStatus,
    Requirements,
    Task,
    TaskState,
    WorkloadSpec,
)
from drivers.errors import SwarmscopeError
from drivers.progress import Progress
from drivers.scenarios.base import ScenarioContext

log = logging.getLogger(__name__)
POLL_INTERVAL = 0.05  # Swarm emits no task events: 50 ms polls of the task list
REMOVAL_WAIT = 30.0


@dataclass(frozen=True)
class Submitted:
    workload_id: str
    spec: WorkloadSpec
    submitted_at: float  # controller clock, just before the request


@dataclass
class Placement:
    """What became of one workload."""

    workload_id: str
    spec: WorkloadSpec
    submitted_at: float
    state: str = "waiting"  # running | unschedulable | timeout
    reason: str = ""  # the orchestrator's reason when it is not running
    ran: list[Task] = field(default_factory=list)  # each task as first seen running
    finished_unseen: int = 0  # one-shot tasks that completed between two polls
    waited_for_capacity: bool = False
    resolved_at: float | None = None

    @property
    def nodes(self) -> list[str]:
        return sorted(t.node for t in self.ran if t.node)

    @property
    def latencies(self) -> list[float]:
        """Created -> running of each task, from the orchestrator's timestamps."""
        return [max(0.0, t.updated_at - t.created_at) for t in self.ran]

    @property
    def latency(self) -> float | None:
        """When the workload as a whole ran: its slowest replica."""
        return max(self.latencies) if self.latencies else None


class WorkloadTracker:
    """Creates workloads for one scenario and removes every one of them at its end."""

    def __init__(self, context: ScenarioContext, scenario: str) -> None:
        self.backend = context.backend
        context.run.add_figures(
            scenario,
            details={"backend": self.backend.name, "backend_version": self.backend.version()},
        )
        self.labels = {"swarmscope.run": context.run.run_id, "swarmscope.scenario": scenario}
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()
        context.on_cleanup(f"remove the {scenario} workloads", self.remove_all)

    @property
    def ids(self) -> dict[str, str]:
        with self._lock:
            return dict(self._ids)

    def labelled(self, spec: WorkloadSpec) -> WorkloadSpec:
        return WorkloadSpec(
            name=spec.name,
            image=spec.image,
            command=spec.command,
            requirements=spec.requirements,
            constraints=spec.constraints,
            replicas=spec.replicas,
            labels={**spec.labels, **self.labels},
            one_shot=spec.one_shot,
        )

    def submit(self, spec: WorkloadSpec) -> Submitted:
        submitted_at = time.time()
        workload_id = self.backend.run(self.labelled(spec))
        with self._lock:
            self._ids[workload_id] = spec.name
        return Submitted(workload_id, spec, submitted_at)

    def submit_many(
        self,
        specs: list[WorkloadSpec],
        concurrency: int,
        on_submitted: Callable[[Submitted], None] | None = None,
    ) -> list[Submitted]:
        """Submit concurrently; on the first failure (or Ctrl-C) stop queued submissions,
        let the ones in flight finish (they are recorded for removal) and re-raise."""
        done: list[Submitted] = []
        pool = concurrent.futures.ThreadPoolExecutor(max(1, concurrency), "submit")
        try:
            futures = [pool.submit(self.submit, spec) for spec in specs]
            for future in concurrent.futures.as_completed(futures):
                submitted = future.result()
                done.append(submitted)
                if on_submitted:
                    on_submitted(submitted)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return sorted(done, key=lambda s: s.spec.name)

    def deploy(self, path: Path, image: str | None) -> list[str]:
        ids = self.backend.deploy(path, image=image)
        with self._lock:
            for workload_id in ids:
                self._ids[workload_id] = workload_id
        return ids

    def remove(self, workload_id: str) -> None:
        self.backend.remove(workload_id)
        with self._lock:
            self._ids.pop(workload_id, None)

    def remove_all(self) -> None:
        """Remove every recorded workload and anything else carrying this scenario's labels,
        then wait (bounded) until none of their tasks runs any more."""
        ids = set(self.ids)
        with contextlib.suppress(SwarmscopeError):
            ids |= set(self.backend.workloads(self.labels))
        failures = []
        for workload_id in sorted(ids):
            try:
                self.backend.remove(workload_id)
            except SwarmscopeError as exc:
                failures.append(str(exc))
        with self._lock:
            self._ids.clear()
        deadline = time.monotonic() + REMOVAL_WAIT
        while ids and time.monotonic() < deadline:
            running = [
                t
                for t in self.backend.tasks()
                if t.workload_id in ids and t.state is TaskState.RUNNING
            ]
            if not running:
                break
            time.sleep(0.2)
        else:
            if ids:
                log.warning("some removed workloads were still running after %ss", REMOVAL_WAIT)
        if failures:
            raise SwarmscopeError("; ".join(failures))


def fits_somewhere(requirements: Requirements, nodes: Iterable[NodeStatus]) -> bool:
    """Could any ready node hold this workload if it were empty? Nodes that report no
    capacity at all count as able (we cannot tell)."""
    for node in nodes:
        if node.state is not NodeState.READY:
            continue
        if node.cpus == 0 and node.memory_bytes == 0:
            return True
        if requirements.cpus and requirements.cpus > node.cpus:
            continue
        if requirements.memory_bytes and requirements.memory_bytes > node.memory_bytes:
            continue
        if requirements.gpus > node.generic_resources.get("gpu", 0):
            continue
        return True
    return False


def _describe_requirements(requirements: Requirements) -> str:
    parts = []
    if requirements.gpus:
        parts.append(f"{requirements.gpus} GPU")
    if requirements.cpus:
        parts.append(f"{requirements.cpus:g} CPU")
    if requirements.memory_bytes:
        parts.append(f"{requirements.memory_bytes / 1e9:.3g} GB memory")
    return ", ".join(parts) or "nothing"


class _Watch:
    """The state of one ``wait_until_placed`` call, one poll at a time."""

    def __init__(
        self,
        submitted: list[Submitted],
        capacity: list[NodeStatus],
        unschedulable_after: float,
        progress: Progress | None,
        on_resolved: Callable[[Placement], None] | None,
    ) -> None:
        self.placements = {
            s.workload_id: Placement(s.workload_id, s.spec, s.submitted_at) for s in submitted
        }
        self.open_ids = set(self.placements)
        self.capacity = capacity
        self.unschedulable_after = unschedulable_after
        self.progress = progress
        self.on_resolved = on_resolved
        self.first_running: set[str] = set()
        self.counted_unseen: set[str] = set()

    def resolve(self, placement: Placement, state: str, reason: str = "") -> None:
        placement.state, placement.reason = state, reason
        placement.resolved_at = time.time()
        self.open_ids.discard(placement.workload_id)
        if self.progress is not None:
            self.progress.advance(detail=f"{placement.spec.name} {state}")
        if self.on_resolved is not None:
            self.on_resolved(placement)

    def observe(self, placement: Placement, tasks: list[Task]) -> None:
        """Record tasks seen running (their running-since time is the orchestrator's)."""
        for task in tasks:
            if task.state is TaskState.RUNNING and task.task_id not in self.first_running:
                self.first_running.add(task.task_id)
                placement.ran.append(task)
            elif (
                task.state is TaskState.COMPLETE
                and task.task_id not in self.first_running
                and task.task_id not in self.counted_unseen
            ):
                self.counted_unseen.add(task.task_id)
                placement.finished_unseen += 1

    def judge(self, placement: Placement, tasks: list[Task], now: float) -> None:
        if len(placement.ran) + placement.finished_unseen >= placement.spec.replicas:
            self.resolve(placement, "running")
            return
        # Only a task the scheduler could not place has a reason worth judging; one that is
        # assigned to a node and starting is on its way.
        pending = [
            t for t in tasks if t.state is TaskState.PENDING and t.node is None and t.message
        ]
        reason = pending[-1].message if pending else ""
        if "resource" in reason.lower():
            placement.waited_for_capacity = True
            placement.reason = reason
        if not reason or now - placement.submitted_at < self.unschedulable_after:
            return
        requirements = placement.spec.requirements
        if not fits_somewhere(requirements, self.capacity):
            self.resolve(
                placement,
                "unschedulable",
                f"no node can ever hold {_describe_requirements(requirements)}; "
                f"the orchestrator says: {reason}",
            )
        elif "resource" not in reason.lower():
            self.resolve(placement, "unschedulable", f"the orchestrator says: {reason}")

    def time_out(self, timeout: float) -> None:
        for workload_id in sorted(self.open_ids):
            placement = self.placements[workload_id]
            why = placement.reason or "no task ran"
            self.resolve(placement, "timeout", f"not running after {timeout:g}s: {why}")


def wait_until_placed(
    backend: Backend,
    submitted: list[Submitted],
    *,
    timeout: float,
    unschedulable_after: float,
    progress: Progress | None = None,
    on_resolved: Callable[[Placement], None] | None = None,
    poll_interval: float = POLL_INTERVAL,
) -> dict[str, Placement]:
    """Follow the tasks of ``submitted`` until each workload has ``replicas`` tasks that ran.

    A workload still pending after ``unschedulable_after`` seconds is unschedulable when no
    ready node could ever hold it, or when the orchestrator's reason is not a lack of free
    resources (a constraint no node meets). Waiting for resources other workloads hold is not
    unschedulable: it keeps waiting, and is flagged, until ``timeout``.
    """
    watch = _Watch(submitted, backend.nodes(), unschedulable_after, progress, on_resolved)
    deadline = time.monotonic() + timeout
    while watch.open_ids:
        by_workload: dict[str, list[Task]] = {}
        for task in backend.tasks():
            if task.workload_id in watch.open_ids:
                by_workload.setdefault(task.workload_id, []).append(task)
        now = time.time()
        for workload_id in sorted(watch.open_ids):
            tasks = by_workload.get(workload_id, [])
            watch.observe(watch.placements[workload_id], tasks)
            watch.judge(watch.placements[workload_id], tasks, now)
        if watch.open_ids and time.monotonic() > deadline:
            watch.time_out(timeout)
        if watch.open_ids:
            time.sleep(poll_interval)
    return watch.placements
