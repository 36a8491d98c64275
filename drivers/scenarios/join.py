"""`swarmscope run join`: how fast each worker joins, phase by phase, and what joining costs.

For every worker (the seed's section 1): leave, then join and time it with the backend's
phases, while counting the node's traffic (iptables accounting in its namespace, SSH left
out) and the agent's CPU time and resident memory — first one node at a time, then all at
once. Afterwards, with every node joined, the orchestrator's control traffic (its control
ports) as a share of each node's traffic over a window: the seed's "Network Overhead" row.
Every worker is a member again when the scenario ends, also after Ctrl-C or a failure.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Gauge

from drivers.cluster import accounting, nodeprobe
from drivers.cluster.accounting import TrafficCounters
from drivers.cluster.base import JoinResult, NodeState
from drivers.errors import ConfigError, SwarmscopeError
from drivers.inventory import Node
from drivers.progress import Progress
from drivers.scenarios.base import ScenarioContext
from drivers.scenarios.pushing import ThrottledPush
from drivers.units import format_quantity, parse_duration

T = TypeVar("T")
MODES = ("sequential", "concurrent")
PHASES = ("hardware_profiling", "network_discovery", "certificate_exchange", "registration")
# Threshold keys in thresholds.yaml, one per phase the seed names.
THRESHOLD_PHASES = ("hardware_profiling", "network_discovery", "certificate_exchange", "total")


@dataclass
class Sample:
    traffic: TrafficCounters | None = None
    agent: nodeprobe.AgentUsage | None = None


@dataclass
class NodeJoin:
    result: JoinResult
    network_bytes: int | None
    agent_memory_bytes: int | None
    agent_cpu_seconds: float | None

    def row(self, mode: str) -> list[Any]:
        phases = self.result.phases
        return [
            mode,
            self.result.node,
            *(phases.get(p, "") for p in (*PHASES, "total")),
            "" if self.network_bytes is None else self.network_bytes,
            "" if self.agent_memory_bytes is None else self.agent_memory_bytes,
            "" if self.agent_cpu_seconds is None else round(self.agent_cpu_seconds, 3),
        ]


@dataclass
class Overhead:
    control_bytes: int
    traffic_bytes: int  # all but SSH
    seconds: float
    classes: dict[str, int] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.control_bytes / self.traffic_bytes if self.traffic_bytes else None


def _parallel(items: list[Node], action: Callable[[Node], T]) -> dict[str, T]:
    """``action`` on every node at once; the first failure is raised after all finished."""
    with concurrent.futures.ThreadPoolExecutor(max(1, len(items)), "join") as pool:
        futures = {node.name: pool.submit(action, node) for node in items}
        return {name: future.result() for name, future in futures.items()}


class JoinScenario:
    name = "join"
    help = (
        "time each worker's join phase by phase (one at a time, then all at once), its "
        "traffic and agent cost, and the orchestrator's network overhead"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--nodes",
            dest="join_nodes",
            default=None,
            metavar="NAMES",
            help="comma-separated workers to join (default: every worker)",
        )
        parser.add_argument(
            "--mode",
            dest="join_mode",
            choices=(*MODES, "both", "none"),
            default="both",
            help="one node at a time, all at once, both, or none (only the overhead window, "
            "e.g. while your own workload runs) (default: %(default)s)",
        )
        parser.add_argument(
            "--overhead-window",
            dest="join_overhead_window",
            default="30s",
            metavar="DURATION",
            help="how long to count control traffic afterwards; 0 skips it (default: %(default)s)",
        )

    def run(self, context: ScenarioContext) -> None:
        _JoinRun(context).run()


class _JoinRun:
    def __init__(self, context: ScenarioContext) -> None:
        self.context = context
        self.inventory = context.inventory
        options = context.options
        self.workers = self._workers(getattr(options, "join_nodes", None))
        mode = getattr(options, "join_mode", "both")
        self.modes: tuple[str, ...] = {"both": MODES, "none": ()}.get(mode, (mode,))
        try:
            self.window = parse_duration(str(getattr(options, "join_overhead_window", "30s")))
        except ValueError as exc:
            raise ConfigError(f"--overhead-window: {exc}") from None
        if not self.modes and self.window <= 0:
            raise ConfigError("--mode none with --overhead-window 0 would measure nothing")
        self.measured: dict[str, dict[str, NodeJoin]] = {m: {} for m in MODES}
        self.concurrent_seconds: float | None = None
        self.overhead: dict[str, Overhead] = {}
        self.notes: list[str] = []
        self.counting: set[str] = set()  # nodes whose traffic accounting is installed
        self.away: set[str] = set()  # workers made to leave and not joined again yet
        self._lock = threading.Lock()
        self.push = ThrottledPush(context.pusher, "join", self._fill)

    def _workers(self, names: str | None) -> list[Node]:
        workers = list(self.inventory.workers)
        if names:
            wanted = [n.strip() for n in names.split(",") if n.strip()]
            chosen = [self.inventory.node(n) for n in wanted]
            managers = [n.name for n in chosen if n.name == self.inventory.manager_name]
            if managers:
                raise ConfigError(f"--nodes: {managers[0]} is the manager; only workers join")
            workers = chosen
        if not workers:
            raise ConfigError(f"{self.inventory.path}: the inventory has no worker to join")
        return workers

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> None:
        backend = self.context.backend
        self.context.run.add_figures(
            "join", details={"backend": backend.name, "backend_version": backend.version()}
        )
        # Registered first, so it runs last: the cluster is whole again whatever happened.
        self.context.on_cleanup("rejoin every worker", self._restore)
        self._install_accounting()
        if self.modes:
            with Progress("join", total=len(self.workers) * len(self.modes)) as progress:
                if "sequential" in self.modes:
                    for node in self.workers:
                        self._join_one(node, progress)
                if "concurrent" in self.modes:
                    self._join_all(progress)
        if self.window > 0:
            self._measure_overhead()
        self.push.now()

    def _leave(self, node: Node) -> None:
        with self._lock:
            self.away.add(node.name)
        self.context.backend.leave(node)

    def _join(self, node: Node) -> JoinResult:
        result = self.context.backend.join(node)
        with self._lock:
            self.away.discard(node.name)
        return result

    def _restore(self) -> None:
        """Join again every worker this scenario made leave and did not bring back."""
        backend = self.context.backend
        with self._lock:
            away = [n for n in self.workers if n.name in self.away]
        if not away:
            return
        ready = {n.name for n in backend.nodes() if n.state is NodeState.READY}
        failures = []
        for node in away:
            if node.name in ready:
                continue
            try:
                backend.leave(node)  # whatever a half-finished join left behind
                self._join(node)
            except SwarmscopeError as exc:
                failures.append(str(exc))
        if failures:
            raise SwarmscopeError("could not rejoin: " + "; ".join(failures))

    def _install_accounting(self) -> None:
        backend = self.context.backend
        ports = backend.control_ports

        def install(node: Node) -> str | None:
            try:
                accounting.install(self.context.ssh[node], node, ports)
            except SwarmscopeError as exc:
                return str(exc)
            with self._lock:
                self.counting.add(node.name)
            return None

        self.context.on_cleanup("remove traffic accounting rules", self._remove_accounting)
        for problem in _parallel(list(self.inventory.nodes), install).values():
            if problem:
                self.notes.append(f"traffic not measured: {problem}")

    def _remove_accounting(self) -> None:
        nodes = [n for n in self.inventory.nodes if n.name in self.counting]
        _parallel(nodes, lambda node: accounting.remove(self.context.ssh[node], node))
        self.counting.clear()

    def _sample(self, node: Node) -> Sample:
        sample = Sample()
        runner = self.context.ssh[node]
        if node.name in self.counting:
            sample.traffic = accounting.read(runner, node)
        try:
            sample.agent = nodeprobe.agent_usage(runner, node, self.context.backend.agent_processes)
        except SwarmscopeError as exc:
            note = f"agent cost not measured: {exc}"
            with self._lock:
                if note not in self.notes:
                    self.notes.append(note)
        return sample

    def _measure(self, mode: str, result: JoinResult, before: Sample, after: Sample) -> NodeJoin:
        traffic = None
        if before.traffic and after.traffic:
            traffic = after.traffic.since(before.traffic).without_ssh
        memory = after.agent.resident_bytes if after.agent else None
        cpu = None
        if before.agent and after.agent:
            cpu = max(0.0, after.agent.cpu_seconds - before.agent.cpu_seconds)
        joined = NodeJoin(result, traffic, memory, cpu)
        with self._lock:
            self.measured[mode][result.node] = joined
        self._record()
        return joined

    def _join_one(self, node: Node, progress: Progress) -> None:
        self._leave(node)
        before = self._sample(node)
        result = self._join(node)
        joined = self._measure("sequential", result, before, self._sample(node))
        progress.note(f"{node.name} joined in {_describe(joined)}")
        progress.advance()

    def _join_all(self, progress: Progress) -> None:
        _parallel(self.workers, self._leave)
        befores = _parallel(self.workers, self._sample)
        gate = threading.Barrier(len(self.workers) + 1)

        def join(node: Node) -> JoinResult:
            gate.wait(timeout=60)
            return self._join(node)

        with concurrent.futures.ThreadPoolExecutor(len(self.workers), "join") as pool:
            futures = {node.name: pool.submit(join, node) for node in self.workers}
            gate.wait(timeout=60)
            started = time.perf_counter()
            results = {name: future.result() for name, future in futures.items()}
            self.concurrent_seconds = time.perf_counter() - started
        afters = _parallel(self.workers, self._sample)
        for node in self.workers:
            joined = self._measure(
                "concurrent", results[node.name], befores[node.name], afters[node.name]
            )
            progress.note(f"{node.name} joined (all at once) in {_describe(joined)}")
            progress.advance()
        self._record()

    def _measure_overhead(self) -> None:
        backend = self.context.backend
        if not backend.control_ports:
            self.notes.append(
                f"network overhead not measured: the {backend.name} backend does not say which "
                "ports carry its control traffic"
            )
            self._record()
            return
        nodes = [n for n in self.inventory.nodes if n.name in self.counting]
        if not nodes:
            self._record()
            return
        runner = self.context.ssh
        befores = _parallel(nodes, lambda node: accounting.read(runner[node], node))
        with Progress("join: control traffic", total=round(self.window)) as progress:
            deadline = time.monotonic() + self.window
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(1.0, left))
                progress.advance()
        afters = _parallel(nodes, lambda node: accounting.read(runner[node], node))
        for node in nodes:
            delta = afters[node.name].since(befores[node.name])
            self.overhead[node.name] = Overhead(
                control_bytes=delta.sum_of(backend.control_ports),
                traffic_bytes=delta.without_ssh,
                seconds=delta.at,
                classes=dict(delta.classes),
            )
        self._record()

    # -- results ----------------------------------------------------------------------------
    def _record(self) -> None:
        with self._lock:
            figures, details, rows = self._figures()
        run = self.context.run
        run.add_figures("join", figures, details)
        header = ["mode", "node", *PHASES, "total", "network_bytes", "agent_memory_bytes"]
        run.write_samples_csv("join", [*header, "agent_cpu_seconds"], rows)
        self.push.soon()

    def _figures(self) -> tuple[dict[str, Any], dict[str, Any], list[list[Any]]]:
        primary_mode = "sequential" if self.measured["sequential"] else "concurrent"
        primary = self.measured[primary_mode]
        figures: dict[str, Any] = {}
        for phase in THRESHOLD_PHASES:
            values = {
                n: j.result.phases[phase] for n, j in primary.items() if phase in j.result.phases
            }
            if values:
                figures[f"join_{phase}"] = values
        registration = {
            n: j.result.phases["registration"]
            for n, j in primary.items()
            if "registration" in j.result.phases
        }
        if registration:
            figures["join_registration"] = registration
        traffic = {n: j.network_bytes for n, j in primary.items() if j.network_bytes is not None}
        if traffic:
            figures["join_network_traffic"] = traffic
        memory = {n: j.agent_memory_bytes for n, j in primary.items() if j.agent_memory_bytes}
        if memory:
            figures["join_agent_memory_bytes"] = memory
        cpu = {
            n: j.agent_cpu_seconds for n, j in primary.items() if j.agent_cpu_seconds is not None
        }
        if cpu:
            figures["join_agent_cpu_seconds"] = cpu
        concurrent_joins = self.measured["concurrent"]
        if concurrent_joins and primary_mode == "sequential":
            figures["join_concurrent"] = {
                "total": {n: j.result.phases["total"] for n, j in concurrent_joins.items()},
                "network_traffic": {
                    n: j.network_bytes
                    for n, j in concurrent_joins.items()
                    if j.network_bytes is not None
                },
            }
        if self.concurrent_seconds is not None:
            figures["join_all_at_once_seconds"] = self.concurrent_seconds
        ratios = {n: o.ratio for n, o in self.overhead.items() if o.ratio is not None}
        if ratios:
            figures["network_overhead"] = ratios
            figures["network_control_bytes_per_second"] = {
                n: o.control_bytes / o.seconds for n, o in self.overhead.items() if o.seconds
            }
        details: dict[str, Any] = {
            "figures_from": primary_mode,
            "notes": list(self.notes),
            "joins": {
                mode: {
                    n: {
                        "phases": j.result.phases,
                        "started_at": j.result.started_at,
                        "network_bytes": j.network_bytes,
                        **j.result.details,
                    }
                    for n, j in joins.items()
                }
                for mode, joins in self.measured.items()
                if joins
            },
            "overhead": {
                n: {
                    "control_bytes": o.control_bytes,
                    "traffic_bytes_without_ssh": o.traffic_bytes,
                    "window_seconds": o.seconds,
                    "bytes_by_class": o.classes,
                }
                for n, o in self.overhead.items()
            },
        }
        rows = [j.row(mode) for mode, joins in self.measured.items() for j in joins.values()]
        return figures, details, rows

    def _fill(self, registry: CollectorRegistry) -> None:
        phase = Gauge(
            "swarmscope_join_phase_seconds",
            "Time a node spent in each join phase (total = the sum).",
            ["node", "phase", "mode"],
            registry=registry,
        )
        traffic = Gauge(
            "swarmscope_join_network_bytes",
            "Bytes the node sent and received while joining (SSH excluded).",
            ["node", "mode"],
            registry=registry,
        )
        memory = Gauge(
            "swarmscope_join_agent_resident_memory_bytes",
            "Resident memory of the node's agent right after it joined.",
            ["node", "mode"],
            registry=registry,
        )
        cpu = Gauge(
            "swarmscope_join_agent_cpu_seconds",
            "CPU time the node's agent used while joining.",
            ["node", "mode"],
            registry=registry,
        )
        ratio = Gauge(
            "swarmscope_network_overhead_ratio",
            "Orchestrator control traffic as a share of the node's traffic (SSH excluded).",
            ["node"],
            registry=registry,
        )
        control = Gauge(
            "swarmscope_network_control_bytes",
            "Control-port bytes of the node over the overhead window.",
            ["node"],
            registry=registry,
        )
        with self._lock:
            for mode, joins in self.measured.items():
                for name, joined in joins.items():
                    for key, value in joined.result.phases.items():
                        phase.labels(name, key, mode).set(value)
                    if joined.network_bytes is not None:
                        traffic.labels(name, mode).set(joined.network_bytes)
                    if joined.agent_memory_bytes is not None:
                        memory.labels(name, mode).set(joined.agent_memory_bytes)
                    if joined.agent_cpu_seconds is not None:
                        cpu.labels(name, mode).set(joined.agent_cpu_seconds)
            for name, overhead in self.overhead.items():
                if overhead.ratio is not None:
                    ratio.labels(name).set(overhead.ratio)
                control.labels(name).set(overhead.control_bytes)


def _describe(joined: NodeJoin) -> str:
    phases = joined.result.phases
    parts = [
        f"{key.replace('_', ' ')} {format_quantity(phases[key], 'seconds')}"
        for key in PHASES
        if key in phases
    ]
    text = f"{format_quantity(phases['total'], 'seconds')}"
    if parts:
        text += f" ({', '.join(parts)})"
    if joined.network_bytes is not None:
        text += f", {format_quantity(joined.network_bytes, 'bytes')} of traffic"
    return text


SCENARIO = JoinScenario()
