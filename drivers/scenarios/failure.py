"""`swarmscope run failure`: the seed's failure recovery tests, timed by the orchestrator.

1. Single node failure: a workload pinned to rpi-3 (then allowed anywhere of the same type,
   which does not restart it), rpi-3 powered off (in the lab: link cut, then engine and
   exporters killed). Failure detection = the manager's node-down event time - the fault
   time; recovery = the replacement task's running-since time - the fault time. Both come
   from the orchestrator's own timestamps, not from a 0.5 s `node ls` poll; rpi-3 is powered
   on again and its return to Ready timed too.
2. Partition of rpi-1 and rpi-2 from the control node (iptables on rpi-1 and rpi-2 only):
   node states and the exporters' mesh links before, during and after healing, the time to
   full recovery after healing, and the difference between the "during" and "after" states.
3. Cascading failure: 3 replicas on the Pis, Pis failed one by one (the seed's `systemctl
   stop docker`, or a poweroff); after the manager marks each one down and ``--cascade-
   settle`` more seconds, the replicas running on Ready nodes; and whether the service had
   at least one replica throughout (the manager's view, sampled every 0.25 s).

``--heartbeat 1s`` sets Swarm's dispatcher heartbeat for the run (restored afterwards):
failure detection follows it (about 3 periods). Every fault is one of drivers.faults, so
it undoes itself on the node if this run dies; the scenario also reverts what it applied.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from drivers.cluster.base import Backend, NodeState, TaskState, WorkloadSpec
from drivers.cluster.workloads import default_image
from drivers.errors import ConfigError, SwarmscopeError
from drivers.faults import heartbeat, observe
from drivers.faults.injector import FaultInjector
from drivers.faults.kinds import EngineStop, FaultRequest, Partition, PowerOff
from drivers.faults.model import FaultRecord
from drivers.faults.recorder import FaultRecorder
from drivers.inventory import Inventory
from drivers.progress import Progress
from drivers.scenarios.base import ScenarioContext
from drivers.scenarios.tracking import WorkloadTracker, wait_until_placed
from drivers.units import parse_duration

NAME = "failure"
PARTS = ("single", "partition", "cascade")
# The seed's workloads.
HEARTBEAT_COMMAND = ("sh", "-c", "while true; do date > /tmp/heartbeat; sleep 1; done")
ALIVE_COMMAND = ("sh", "-c", "while true; do echo alive; sleep 1; done")
# A fault outlives its part by this much at most if the run dies (its timer ends it).
SAFETY_MARGIN = 60.0
AVAILABILITY_POLL = 0.25


def _seconds(value: object, option: str) -> float:
    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


@dataclass
class Settings:
    parts: tuple[str, ...]
    node: str
    partition_nodes: tuple[str, ...]
    partition_from: tuple[str, ...]
    partition_hold: float
    cascade_replicas: int
    cascade_steps: int
    cascade_settle: float
    cascade_fault: str
    timeout: float
    heartbeat: float | None
    image: str

    @classmethod
    def read(cls, options: argparse.Namespace, inventory: Inventory) -> Settings:
        def option(name: str, default: Any) -> Any:
            return getattr(options, f"failure_{name}", default)

        parts = tuple(p.strip() for p in str(option("parts", ",".join(PARTS))).split(","))
        unknown = [p for p in parts if p not in PARTS]
        if unknown or not parts:
            raise ConfigError(f"--parts: {', '.join(unknown) or 'none'}; choose from {PARTS}")
        pis = [n.name for n in inventory.workers if n.type == "rpi"] or [
            n.name for n in inventory.workers
        ]

        def names(value: str, what: str) -> tuple[str, ...]:
            found = tuple(inventory.node(n.strip()).name for n in value.split(",") if n.strip())
            if not found:
                raise ConfigError(f"{what}: give at least one node")
            return found

        default_node = "rpi-3" if "rpi-3" in pis else (pis[-1] if pis else "")
        node = inventory.node(option("node", None) or default_node).name
        if node == inventory.manager_name:
            raise ConfigError(f"--node {node}: the manager cannot be the failed node")
        heartbeat_text = option("heartbeat", None)
        settings = cls(
            parts=parts,
            node=node,
            partition_nodes=names(option("partition_nodes", "rpi-1,rpi-2"), "--partition"),
            partition_from=names(
                option("partition_from", None) or inventory.manager_name, "--partition-from"
            ),
            partition_hold=_seconds(option("partition_hold", "30s"), "--partition-hold"),
            cascade_replicas=int(option("cascade_replicas", 3)),
            cascade_steps=int(option("cascade_steps", 2)),
            cascade_settle=_seconds(option("cascade_settle", "10s"), "--cascade-settle"),
            cascade_fault=str(option("cascade_fault", "engine-stop")),
            timeout=_seconds(option("timeout", "60s"), "--timeout"),
            heartbeat=_seconds(heartbeat_text, "--heartbeat") if heartbeat_text else None,
            image=option("image", None) or default_image(inventory),
        )
        if set(settings.partition_nodes) & set(settings.partition_from):
            raise ConfigError("--partition and --partition-from share nodes")
        if settings.cascade_replicas < 1 or settings.cascade_steps < 1:
            raise ConfigError("--cascade-replicas and --cascade-steps: 1 or more")
        if settings.cascade_steps > len(pis):
            raise ConfigError(
                f"--cascade-steps {settings.cascade_steps}: only {len(pis)} Pi node(s) to fail"
            )
        if settings.cascade_fault not in ("engine-stop", "poweroff"):
            raise ConfigError("--cascade-fault: engine-stop or poweroff")
        return settings


@dataclass
class Figures:
    """What the scenario measured, pushed to the Pushgateway as it grows."""

    detection: dict[str, float] = field(default_factory=dict)
    recovery: dict[str, float] = field(default_factory=dict)
    partition_recovery: float | None = None
    cascade_running: list[int] = field(default_factory=list)

    def fill(self, registry: CollectorRegistry) -> None:
        detection = Gauge(
            "swarmscope_failure_detection_seconds",
            "Time from a node's loss until the orchestrator marked it down.",
            ["node"],
            registry=registry,
        )
        recovery = Gauge(
            "swarmscope_recovery_seconds",
            "Time from a node's loss until its workload ran on another node.",
            ["node"],
            registry=registry,
        )
        for node, value in self.detection.items():
            detection.labels(node).set(value)
        for node, value in self.recovery.items():
            recovery.labels(node).set(value)
        if self.partition_recovery is not None:
            Gauge(
                "swarmscope_partition_recovery_seconds",
                "Time from healing a partition until every node was Ready and every mesh "
                "link up again.",
                registry=registry,
            ).set(self.partition_recovery)
        if self.cascade_running:
            running = Gauge(
                "swarmscope_cascade_running_replicas",
                "Replicas running after each step of the cascading failure.",
                ["step"],
                registry=registry,
            )
            for step, count in enumerate(self.cascade_running, start=1):
                running.labels(str(step)).set(count)


class Failure:
    def __init__(self, context: ScenarioContext, settings: Settings) -> None:
        self.context = context
        self.settings = settings
        self.inventory = context.inventory
        self.backend: Backend = context.backend
        self.figures = Figures()
        self.injector = FaultInjector(
            self.inventory,
            context.ssh,
            observer=FaultRecorder(context.run, context.pusher, NAME),
            run_id=context.run.run_id,
            scenario=NAME,
        )
        context.on_cleanup("revert the failure scenario's faults", self._revert_everything)
        self.tracker = WorkloadTracker(context, NAME)
        self.suffix = context.run.run_id.rsplit("-", 1)[-1]

    # -- bookkeeping ------------------------------------------------------------------------
    def _revert_everything(self) -> None:
        problems = self.injector.revert_applied()
        if problems:
            raise SwarmscopeError("; ".join(problems))

    def record(self, figures: dict[str, Any], details: dict[str, Any] | None = None) -> None:
        self.context.run.add_figures(NAME, figures, details)
        self.context.pusher.push(NAME, self.figures.fill)

    def wait_ready(self, nodes: list[str], since: float) -> dict[str, float]:
        """Each node's return to Ready (the manager's event time), waiting up to --timeout."""
        back: dict[str, float] = {}
        for name in nodes:
            event = observe.first_node_event(
                self.backend, name, (NodeState.READY,), since, self.settings.timeout
            )
            if event is None:
                states = {n.name: n.state.value for n in self.backend.nodes()}
                if states.get(name) != NodeState.READY.value:
                    raise SwarmscopeError(
                        f"node {name} not Ready {self.settings.timeout:g}s after its fault "
                        f"ended (state: {states.get(name, 'absent')})"
                    )
                continue
            back[name] = event.timestamp
        return back

    def apply(self, request: FaultRequest, node: str, duration: float) -> FaultRecord:
        return self.injector.apply(request, node, duration)

    # -- 1. single node failure ------------------------------------------------------------
    def single(self, progress: Progress) -> None:
        settings = self.settings
        node = settings.node
        # Swarm: pinned by making rpi-3 the only Pi that takes new work while it is placed,
        # so it can be rescheduled. Other backends: pinned by constraint, as the seed does.
        reschedulable = self.inventory.backend == "dockerswarm"
        kind = self.inventory.node(node).type
        spec = WorkloadSpec(
            name=f"failure-{self.suffix}",
            image=settings.image,
            command=HEARTBEAT_COMMAND,
            constraints=(f"node.type=={kind}",) if reschedulable else (f"node.name=={node}",),
            labels={"swarmscope.type": "failure"},
        )
        pin = _OnlyNodeOfItsType(self.inventory, node)
        if reschedulable:
            self.context.on_cleanup("make the paused nodes active again", pin.restore)
            pin.pause_others()
        try:
            submitted = self.tracker.submit(spec)
            placed = wait_until_placed(
                self.backend,
                [submitted],
                timeout=settings.timeout,
                unschedulable_after=settings.timeout,
            )[submitted.workload_id]
        finally:
            pin.restore()
        if placed.state != "running" or placed.nodes != [node]:
            raise SwarmscopeError(
                f"the workload did not start on {node}: "
                f"{placed.reason or 'it runs on ' + ', '.join(placed.nodes)}"
            )
        unpinned = reschedulable
        progress.note(f"workload runs on {node}; powering {node} off")
        fault = self.apply(PowerOff(), node, settings.timeout * 2 + SAFETY_MARGIN)
        lost_at = fault.applied_at or fault.armed_at
        down = observe.first_node_event(
            self.backend, node, (NodeState.DOWN,), lost_at, settings.timeout
        )
        if down is None:
            raise SwarmscopeError(
                f"the orchestrator did not mark {node} down within {settings.timeout:g}s"
            )
        detection = down.timestamp - lost_at
        self.figures.detection[node] = detection
        progress.note(f"{node} marked down after {detection:.2f}s")
        replacement = observe.first_task_elsewhere(
            self.backend, submitted.workload_id, node, lost_at, settings.timeout
        )
        recovery = replacement.updated_at - lost_at if replacement is not None else None
        if recovery is not None and replacement is not None:
            self.figures.recovery[node] = recovery
            progress.note(f"workload runs on {replacement.node} after {recovery:.2f}s")
        self.record(
            {"failure_detection": dict(self.figures.detection)}
            | ({"recovery": dict(self.figures.recovery)} if recovery is not None else {}),
        )
        powered_on = time.time()
        self.injector.revert(fault.id)
        back = self.wait_ready([node], powered_on)
        details = {
            "single": {
                "node": node,
                "fault": fault.id,
                "mechanism": fault.mechanism,
                "lost_at": lost_at,
                "down_event_at": down.timestamp,
                "failure_detection_seconds": detection,
                "recovery_seconds": recovery,
                "rescheduled_to": replacement.node if replacement else None,
                "unpinned_before_failure": unpinned,
                "back_ready_seconds": back[node] - powered_on if node in back else None,
            }
        }
        self.record({}, details)
        if replacement is None:
            raise SwarmscopeError(
                f"the workload did not run anywhere else within {settings.timeout:g}s of "
                f"{node}'s loss"
                + ("" if unpinned else f" (it stays pinned to {node} on this backend)")
            )
        self.tracker.remove(submitted.workload_id)

    # -- 2. partition ----------------------------------------------------------------------
    def partition(self, progress: Progress) -> None:
        settings = self.settings
        before = observe.snapshot(self.backend, self.inventory)
        peers = settings.partition_from
        request = Partition(
            peers=tuple(self.inventory.node(p).address for p in peers), peer_names=peers
        )
        faults = [
            self.apply(request, node, settings.partition_hold + settings.timeout + SAFETY_MARGIN)
            for node in settings.partition_nodes
        ]
        started = min(f.applied_at or f.armed_at for f in faults)
        progress.note(
            f"{', '.join(settings.partition_nodes)} cut off from {', '.join(peers)} for "
            f"{settings.partition_hold:g}s"
        )
        time.sleep(max(0.0, started + settings.partition_hold - time.time()))
        during = observe.snapshot(self.backend, self.inventory)
        healed_at = time.time()
        for fault in faults:
            self.injector.revert(fault.id)
        progress.note("partition healed")
        back = self.wait_ready(list(settings.partition_nodes), healed_at)
        mesh_back = _wait_mesh_up(self.backend, self.inventory, during, settings.timeout)
        after = observe.snapshot(self.backend, self.inventory)
        # Down events happened in the past: read them from the manager's event history.
        down_events = _events_between(self.backend, started, healed_at)
        detection = {
            node: min(e.timestamp for e in down_events[node]) - started
            for node in settings.partition_nodes
            if down_events.get(node)
        }
        ready_times = list(back.values()) + ([mesh_back] if mesh_back is not None else [])
        recovered = (max(ready_times) - healed_at) if ready_times else None
        self.figures.partition_recovery = recovered
        summary = {
            "nodes": list(settings.partition_nodes),
            "from": list(peers),
            "hold_seconds": settings.partition_hold,
            "detection_seconds": detection,
            "nodes_down_during": sorted(n for n, s in during.nodes.items() if s != "ready"),
            "mesh_links_down_during": during.mesh_down,
            "recovery_seconds": recovered,
            "mesh_metrics": bool(before.mesh),
            "diff_during_to_after": observe.diff(during, after),
        }
        self.record(
            {"partition": summary},
            {
                "partition_states": {
                    "before": before.as_dict(),
                    "during": during.as_dict(),
                    "after": after.as_dict(),
                }
            },
        )
        progress.note(
            f"partition: down during {summary['nodes_down_during'] or 'none'}, "
            f"recovered {recovered:.2f}s after healing"
            if recovered is not None
            else "partition: recovery not measured"
        )

    # -- 3. cascading failure --------------------------------------------------------------
    def cascade(self, progress: Progress) -> None:
        settings = self.settings
        spec = WorkloadSpec(
            name=f"critical-service-{self.suffix}",
            image=settings.image,
            command=ALIVE_COMMAND,
            constraints=("node.type==rpi",),
            replicas=settings.cascade_replicas,
            labels={"swarmscope.type": "failure-cascade"},
        )
        submitted = self.tracker.submit(spec)
        placed = wait_until_placed(
            self.backend,
            [submitted],
            timeout=settings.timeout,
            unschedulable_after=settings.timeout,
        )[submitted.workload_id]
        if placed.state != "running":
            raise SwarmscopeError(f"the service did not start: {placed.reason}")
        service = submitted.workload_id
        order = _cascade_order(self.backend, self.inventory, service, settings.cascade_steps)
        sampler = _Availability(self.backend, service)
        sampler.start()
        steps: list[dict[str, Any]] = []
        faults: list[FaultRecord] = []
        total = settings.cascade_steps * (settings.cascade_settle + settings.timeout)
        try:
            for number, node in enumerate(order, start=1):
                request: FaultRequest = (
                    EngineStop() if settings.cascade_fault == "engine-stop" else PowerOff()
                )
                fault = self.apply(request, node, total + SAFETY_MARGIN)
                faults.append(fault)
                failed_at = fault.applied_at or fault.armed_at
                # Counted once the manager knows: until it marks the node down, it still
                # lists the dead node's replicas as running (the seed's fixed 10 s wait is
                # shorter than Swarm's default detection).
                down = observe.first_node_event(
                    self.backend, node, (NodeState.DOWN,), failed_at, settings.timeout
                )
                settled_from = down.timestamp if down is not None else failed_at
                time.sleep(max(0.0, settled_from + settings.cascade_settle - time.time()))
                running = _running(self.backend, service)
                self.figures.cascade_running.append(len(running))
                steps.append(
                    {
                        "step": number,
                        "node": node,
                        "fault": settings.cascade_fault,
                        "detected_seconds": down.timestamp - failed_at if down else None,
                        "running_replicas": len(running),
                        "running_on": sorted(t.node or "?" for t in running),
                        "counted_seconds_after_failure": time.time() - failed_at,
                    }
                )
                progress.note(
                    f"step {number}: {node} failed; {len(running)}/"
                    f"{settings.cascade_replicas} replicas running"
                )
                self.record({"cascade": {"steps": steps}})
        finally:
            sampler.stop()
        restored = time.time()
        for fault in faults:
            self.injector.revert(fault.id)
        self.wait_ready(order, restored)
        summary = {
            "replicas": settings.cascade_replicas,
            "steps": steps,
            "min_running_replicas": sampler.min_running,
            "availability_ratio": sampler.availability,
            "available_throughout": sampler.min_running >= 1,
            "samples": len(sampler.samples),
        }
        self.record({"cascade": summary})
        progress.note(
            f"cascade: at least {sampler.min_running} replica(s) ran throughout "
            f"({sampler.availability:.0%} of samples with one or more)"
        )
        self.tracker.remove(service)


# -- helpers ------------------------------------------------------------------------------
class _OnlyNodeOfItsType:
    """Make ``node`` the only schedulable node of its type while a workload is placed, by
    pausing the other ones (Swarm availability "pause": nothing new is placed there, what
    runs stays). Once they are active again, the workload runs on ``node`` and may go to any
    of them when ``node`` is lost -- the seed's pinned workload that gets rescheduled.
    (Relaxing a placement constraint instead makes Swarm restart the task.)"""

    def __init__(self, inventory: Inventory, node: str) -> None:
        self.inventory = inventory
        self.node = node
        self.paused: list[str] = []

    def _client(self) -> Any:
        import docker  # noqa: PLC0415 - heavy

        return docker.DockerClient(base_url=self.inventory.manager.engine_url, timeout=30)

    def _set(self, names: list[str], availability: str) -> list[str]:
        import docker  # noqa: PLC0415 - heavy

        changed = []
        client = self._client()
        try:
            for entry in client.api.nodes():
                name = entry.get("Description", {}).get("Hostname", "")
                if name not in names:
                    continue
                spec = dict(entry["Spec"])
                if spec.get("Availability") == availability:
                    continue
                if availability == "pause" and spec.get("Availability") != "active":
                    continue  # drained or paused by someone else: leave it alone
                spec["Availability"] = availability
                client.api.update_node(entry["ID"], entry["Version"]["Index"], spec)
                changed.append(name)
        except docker.errors.DockerException as exc:
            raise SwarmscopeError(f"setting node availability to {availability}: {exc}") from None
        finally:
            client.close()
        return changed

    def pause_others(self) -> None:
        kind = self.inventory.node(self.node).type
        others = [n.name for n in self.inventory.workers if n.type == kind and n.name != self.node]
        self.paused = self._set(others, "pause")

    def restore(self) -> None:
        if self.paused:
            self._set(self.paused, "active")
            self.paused = []


def _events_between(backend: Backend, since: float, until: float) -> dict[str, list[Any]]:
    """Node-down events of the past window, by node."""
    found: dict[str, list[Any]] = {}
    try:
        for event in backend.node_events(since, until):
            if event.state is NodeState.DOWN:
                found.setdefault(event.node, []).append(event)
    except SwarmscopeError:
        return found
    return found


def _wait_mesh_up(
    backend: Backend, inventory: Inventory, during: observe.Snapshot, timeout: float
) -> float | None:
    """When every mesh link that was down during the partition is up again (polled: the
    mesh probers' own interval bounds the resolution); None without mesh metrics."""
    if not during.mesh_down:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shot = observe.snapshot(backend, inventory)
        if not set(during.mesh_down) & set(shot.mesh_down):
            return shot.at
        time.sleep(0.5)
    raise SwarmscopeError(
        f"mesh links still down {timeout:g}s after healing: {', '.join(during.mesh_down)}"
    )


def _running(backend: Backend, workload_id: str) -> list[Any]:
    """Replicas that really serve: running, meant to run, on a node the manager calls Ready.
    A task on a node that went down keeps its last state (running) in the manager's records
    until the node comes back, so counting states alone would count the dead."""
    ready = {n.name for n in backend.nodes() if n.state is NodeState.READY}
    return [
        t
        for t in backend.tasks(workload_id)
        if t.state is TaskState.RUNNING and t.desired_state == "running" and t.node in ready
    ]


def _cascade_order(
    backend: Backend, inventory: Inventory, workload_id: str, steps: int
) -> list[str]:
    """Pis holding replicas first (failing an idle Pi proves nothing), then the others."""
    holding = sorted({t.node for t in _running(backend, workload_id) if t.node})
    others = sorted(n.name for n in inventory.workers if n.type == "rpi" and n.name not in holding)
    return (holding + others)[:steps]


class _Availability:
    """Counts the service's running replicas every 0.25 s in a thread of its own."""

    def __init__(self, backend: Backend, workload_id: str) -> None:
        self.backend = backend
        self.workload_id = workload_id
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="availability", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                count = len(_running(self.backend, self.workload_id))
            except SwarmscopeError:
                count = -1  # the manager did not answer: unknown, not "none running"
            if count >= 0:
                self.samples.append((time.time(), count))
            self._stop.wait(AVAILABILITY_POLL)

    @property
    def min_running(self) -> int:
        return min((c for _, c in self.samples), default=0)

    @property
    def availability(self) -> float:
        if not self.samples:
            return 0.0
        return sum(1 for _, c in self.samples if c >= 1) / len(self.samples)


class FailureScenario:
    name = NAME
    help = (
        "single node failure (detection and recovery from orchestrator events), a partition "
        "of two Pis from the control node, and a cascading failure of the Pis"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add = parser.add_argument
        add(
            "--parts",
            dest="failure_parts",
            default=",".join(PARTS),
            help="which tests, comma-separated (default: %(default)s)",
        )
        add("--node", dest="failure_node", default=None, help="node lost in test 1 (rpi-3)")
        add(
            "--heartbeat",
            dest="failure_heartbeat",
            default=None,
            metavar="DURATION",
            help="Swarm dispatcher heartbeat for the run, e.g. 1s (restored afterwards); "
            "default: leave the cluster's (5s unless changed): detection takes ~3 periods",
        )
        add(
            "--partition",
            dest="failure_partition_nodes",
            default="rpi-1,rpi-2",
            help="nodes cut off in test 2 (default: %(default)s)",
        )
        add(
            "--partition-from",
            dest="failure_partition_from",
            default=None,
            help="the other side of the partition (default: the manager)",
        )
        add(
            "--partition-hold",
            dest="failure_partition_hold",
            default="30s",
            help="how long the partition lasts (default: %(default)s, as the seed)",
        )
        add(
            "--cascade-replicas",
            dest="failure_cascade_replicas",
            type=int,
            default=3,
            help="replicas of the critical service (default: %(default)s)",
        )
        add(
            "--cascade-steps",
            dest="failure_cascade_steps",
            type=int,
            default=2,
            help="Pis failed one after the other (default: %(default)s)",
        )
        add(
            "--cascade-settle",
            dest="failure_cascade_settle",
            default="10s",
            help="wait after the manager marks a failed Pi down before counting replicas "
            "(default: %(default)s)",
        )
        add(
            "--cascade-fault",
            dest="failure_cascade_fault",
            default="engine-stop",
            choices=("engine-stop", "poweroff"),
            help="how each Pi fails (default: %(default)s, the seed's systemctl stop docker)",
        )
        add(
            "--timeout",
            dest="failure_timeout",
            default="60s",
            help="longest wait for detection, recovery or return (default: %(default)s)",
        )
        add(
            "--image",
            dest="failure_image",
            default=None,
            help="workload image (default: the lab's busybox in a lab, else busybox:latest)",
        )

    def run(self, context: ScenarioContext) -> None:
        settings = Settings.read(context.options, context.inventory)
        if settings.heartbeat is not None:
            previous = heartbeat.set_heartbeat_period(context.inventory, settings.heartbeat)

            def restore() -> None:
                heartbeat.set_heartbeat_period(context.inventory, previous)

            context.on_cleanup("restore the dispatcher heartbeat", restore)
            # Agents learn the new period with their next heartbeat.
            time.sleep(previous + 1.0)
        period = (
            heartbeat.heartbeat_period(context.inventory)
            if heartbeat.supported(context.inventory)
            else None
        )
        context.run.add_figures(NAME, details={"heartbeat_period_seconds": period})
        failure = Failure(context, settings)
        with Progress(NAME, total=len(settings.parts)) as progress:
            for part in settings.parts:
                getattr(failure, part)(progress)
                progress.advance(detail=f"{part} done")


SCENARIO = FailureScenario()
