"""`swarmscope run scheduling`: N mixed workloads submitted at once, each one's scheduling
latency from the orchestrator's own timestamps (task created -> running), p50/p95/max.

The seed's mix: every 10th workload needs the GPU (`run --gpu ... nvidia-smi`, a short job
here: `sleep 2`), the others `run --cpu 0.5 --memory 128M alpine sleep 60`. Unlike the seed's
serial loop, submissions go out concurrently, so the figure is the orchestrator's, not the
controller's. Workloads are one-shot jobs: a finished one frees its GPU or CPU for the
next, which is how GPU work queues on a single GPU. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import shlex
import time
from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram

from drivers.cluster.base import Requirements, WorkloadSpec
from drivers.cluster.workloads import default_image, parse_memory
from drivers.errors import ConfigError
from drivers.progress import Progress
from drivers.scenarios.base import ScenarioContext
from drivers.scenarios.pushing import ThrottledPush
from drivers.scenarios.summary import summarize
from drivers.scenarios.tracking import Placement, WorkloadTracker, wait_until_placed
from drivers.units import parse_duration

# Scheduling latency buckets: from a fast start on an idle node to a minute-long queue.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0)
CSV_HEADER = [
    "workload",
    "type",
    "node",
    "created_at",
    "running_at",
    "latency_seconds",
    "state",
    "waited_for_capacity",
    "reason",
]


class SchedulingScenario:
    name = "scheduling"
    help = (
        "submit N mixed workloads at once (every 10th on the GPU) and measure each one's "
        "scheduling latency from the orchestrator's timestamps: p50, p95, max"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add = parser.add_argument
        add(
            "--count",
            dest="scheduling_count",
            type=int,
            default=50,
            metavar="N",
            help="workloads (default: %(default)s)",
        )
        add(
            "--gpu-every",
            dest="scheduling_gpu_every",
            type=int,
            default=10,
            metavar="K",
            help="every K-th workload needs the GPU; 0 for none (default: %(default)s)",
        )
        add(
            "--cpu",
            dest="scheduling_cpu",
            type=float,
            metavar="CPUS",
            default=0.5,
            help="CPUs reserved by each CPU workload (default: %(default)s)",
        )
        add(
            "--memory",
            dest="scheduling_memory",
            metavar="SIZE",
            default="128M",
            help="memory reserved by each CPU workload (default: %(default)s)",
        )
        add(
            "--command",
            dest="scheduling_command",
            metavar="COMMAND",
            default="sleep 60",
            help="what a CPU workload runs (default: %(default)r)",
        )
        add(
            "--gpu-command",
            dest="scheduling_gpu_command",
            metavar="COMMAND",
            default="sleep 2",
            help="what a GPU workload runs: a short job like the seed's nvidia-smi "
            "(default: %(default)r)",
        )
        add(
            "--image",
            dest="scheduling_image",
            metavar="IMAGE",
            default=None,
            help="image of every workload (default: the lab's busybox in a lab, else "
            "busybox:latest)",
        )
        add(
            "--concurrency",
            dest="scheduling_concurrency",
            metavar="N",
            type=int,
            default=16,
            help="submissions in flight at once (default: %(default)s)",
        )
        add(
            "--timeout",
            dest="scheduling_timeout",
            default="300s",
            metavar="DURATION",
            help="how long to wait for every workload to run (default: %(default)s)",
        )
        add(
            "--unschedulable-after",
            dest="scheduling_unschedulable_after",
            default="15s",
            metavar="DURATION",
            help="how long a workload may stay pending before it is judged (default: %(default)s)",
        )

    def run(self, context: ScenarioContext) -> None:
        specs, settings = _workloads(context)
        tracker = WorkloadTracker(context, "scheduling")
        state = _Results(context, specs)
        with Progress("scheduling: submit", total=len(specs)) as progress:
            started = time.perf_counter()
            submitted = tracker.submit_many(
                specs, settings["concurrency"], lambda s: progress.advance(detail=s.spec.name)
            )
            state.submit_seconds = time.perf_counter() - started
        context.run.add_figures(
            "scheduling",
            {"scheduling_submit_seconds": state.submit_seconds},
            {"settings": settings},
        )
        with Progress("scheduling: running", total=len(submitted)) as progress:
            wait_until_placed(
                context.backend,
                submitted,
                timeout=settings["timeout_seconds"],
                unschedulable_after=settings["unschedulable_after_seconds"],
                progress=progress,
                on_resolved=state.add,
            )
            state.push.now()
            latency = summarize(state.latencies())
            if latency:
                progress.note(
                    f"{latency['count']:.0f} of {len(specs)} running: p50 {latency['p50']:.2f}s, "
                    f"p95 {latency['p95']:.2f}s, max {latency['max']:.2f}s"
                )


def _workloads(context: ScenarioContext) -> tuple[list[WorkloadSpec], dict[str, Any]]:
    options = context.options
    count = int(getattr(options, "scheduling_count", 50))
    gpu_every = int(getattr(options, "scheduling_gpu_every", 10))
    cpus = float(getattr(options, "scheduling_cpu", 0.5))
    concurrency = int(getattr(options, "scheduling_concurrency", 16))
    if count < 1:
        raise ConfigError("--count: must be 1 or more")
    if gpu_every < 0:
        raise ConfigError("--gpu-every: must be 0 (no GPU work) or more")
    if cpus <= 0:
        raise ConfigError("--cpu: must be more than zero")
    if concurrency < 1:
        raise ConfigError("--concurrency: must be 1 or more")
    try:
        memory = parse_memory(str(getattr(options, "scheduling_memory", "128M")))
    except ValueError as exc:
        raise ConfigError(f"--memory: {exc}") from None
    commands = {}
    for key, flag, default in (
        ("scheduling_command", "--command", "sleep 60"),
        ("scheduling_gpu_command", "--gpu-command", "sleep 2"),
    ):
        try:
            commands[flag] = tuple(shlex.split(str(getattr(options, key, default))))
        except ValueError as exc:
            raise ConfigError(f"{flag}: {exc}") from None
        if not commands[flag]:
            raise ConfigError(f"{flag}: is empty")
    durations = {}
    for key, flag, default in (
        ("scheduling_timeout", "--timeout", "300s"),
        ("scheduling_unschedulable_after", "--unschedulable-after", "15s"),
    ):
        try:
            durations[flag] = parse_duration(str(getattr(options, key, default)))
        except ValueError as exc:
            raise ConfigError(f"{flag}: {exc}") from None
    image = getattr(options, "scheduling_image", None) or default_image(context.inventory)
    suffix = context.run.run_id.rsplit("-", 1)[-1]
    specs = []
    for index in range(1, count + 1):
        gpu = gpu_every > 0 and index % gpu_every == 0
        specs.append(
            WorkloadSpec(
                name=f"sched-{suffix}-{index:04d}",
                image=image,
                command=commands["--gpu-command"] if gpu else commands["--command"],
                requirements=Requirements(gpus=1)
                if gpu
                else Requirements(cpus=cpus, memory_bytes=memory),
                labels={"swarmscope.type": "gpu" if gpu else "cpu"},
                one_shot=True,
            )
        )
    settings = {
        "count": count,
        "gpu_every": gpu_every,
        "cpu": cpus,
        "memory_bytes": memory,
        "command": list(commands["--command"]),
        "gpu_command": list(commands["--gpu-command"]),
        "image": image,
        "concurrency": concurrency,
        "timeout_seconds": durations["--timeout"],
        "unschedulable_after_seconds": durations["--unschedulable-after"],
    }
    return specs, settings


class _Results:
    """What the scenario measured so far, written to the run directory as it grows."""

    def __init__(self, context: ScenarioContext, specs: list[WorkloadSpec]) -> None:
        self.context = context
        self.count = len(specs)
        self.types = {spec.name: spec.labels["swarmscope.type"] for spec in specs}
        self.node_types = {n.name: n.type for n in context.inventory.nodes}
        self.results: dict[str, Placement] = {}
        self.submit_seconds = 0.0
        self.push = ThrottledPush(context.pusher, "scheduling", self.fill)

    def add(self, placement: Placement) -> None:
        self.results[placement.spec.name] = placement
        self.record()
        self.push.soon()

    def latencies(self, kind: str | None = None) -> list[float]:
        return [
            p.latency
            for name, p in self.results.items()
            if p.latency is not None and kind in (None, self.types[name])
        ]

    def record(self) -> None:
        rows = []
        for name, placement in sorted(self.results.items()):
            task = placement.ran[0] if placement.ran else None
            latency = placement.latency
            rows.append(
                [
                    name,
                    self.types[name],
                    task.node if task and task.node else "",
                    f"{task.created_at:.6f}" if task else "",
                    f"{task.updated_at:.6f}" if task else "",
                    f"{latency:.6f}" if latency is not None else "",
                    placement.state,
                    int(placement.waited_for_capacity),
                    placement.reason if placement.state != "running" else "",
                ]
            )
        self.context.run.write_samples_csv("scheduling", CSV_HEADER, rows)
        ran = [p for p in self.results.values() if p.ran]
        states = Counter(p.state for p in self.results.values())
        kinds = sorted(set(self.types.values()))
        figures: dict[str, Any] = {
            "scheduling_workloads": self.count,
            "scheduling_running": states.get("running", 0),
            "scheduling_unschedulable": states.get("unschedulable", 0),
            "scheduling_timed_out": states.get("timeout", 0),
            "scheduling_waited_for_capacity": sum(
                p.waited_for_capacity for p in self.results.values()
            ),
            "scheduling_latency": summarize(self.latencies()),
            "scheduling_latency_by_type": {
                kind: summarize(self.latencies(kind)) for kind in kinds if self.latencies(kind)
            },
        }
        if ran:
            # First workload accepted -> last one running, both on the orchestrator's clock.
            first = min(t.created_at for p in ran for t in p.ran)
            last = max(t.updated_at for p in ran for t in p.ran)
            figures["scheduling_total_seconds"] = last - first
            figures["scheduling_average_seconds_per_workload"] = (last - first) / len(ran)
        nodes = Counter(t.node for p in ran for t in p.ran if t.node)
        details = {
            "placed_on": dict(sorted(nodes.items())),
            "not_running": {
                n: p.reason for n, p in sorted(self.results.items()) if p.state != "running"
            },
        }
        self.context.run.add_figures("scheduling", figures, details)

    def fill(self, registry: CollectorRegistry) -> None:
        # `type` is the node's (gpu|rpi), as the scheduling dashboard reads it; the
        # workload's own kind (cpu|gpu) is `workload_type`.
        histogram = Histogram(
            "swarmscope_scheduling_latency_seconds",
            "Scheduling latency of one workload: created to running, orchestrator timestamps.",
            ["node", "type", "workload_type"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        for placement in list(self.results.values()):
            for task in placement.ran:
                node = task.node or ""
                histogram.labels(
                    node, self.node_types.get(node, "unknown"), self.types[placement.spec.name]
                ).observe(max(0.0, task.updated_at - task.created_at))
        quantile = Gauge(
            "swarmscope_scheduling_latency_quantile_seconds",
            "p50/p95/max of the scheduling latency of the last run.",
            ["quantile"],
            registry=registry,
        )
        summary = summarize(self.latencies())
        for key, label in (("p50", "0.5"), ("p95", "0.95"), ("max", "1")):
            if key in summary:
                quantile.labels(label).set(summary[key])
        workloads = Gauge(
            "swarmscope_scheduling_workloads",
            "Workloads of the last run by outcome.",
            ["state"],
            registry=registry,
        )
        states = Counter(p.state for p in list(self.results.values()))
        for state in ("running", "unschedulable", "timeout"):
            workloads.labels(state).set(states.get(state, 0))


SCENARIO = SchedulingScenario()
