"""`swarmscope run edge`: the agent on each Pi under memory pressure, CPU load and a slow link.

For each Pi, one after the other (the seed's order): a baseline, then three phases, each a
self-reverting fault from drivers.faults --

- memory: stress-ng holding ``--vm-bytes`` (the seed: 3G on a 4 GB Pi);
- cpu: stress-ng at ``--cpu-load`` percent on ``--cpu-workers`` workers (the seed: 4
  workers limited to 3.5 CPUs, i.e. 87 %);
- bandwidth: tc htb at ``--rate`` (the seed: 10mbit), with the rate actually achieved out
  of the node measured through it --

while the agent's own series (``swarmlet_agent_up``, ``..._resident_memory_bytes``,
``..._cpu_seconds_total``) are read from the node's exporter every second, the manager's
view of the node is polled, and temperature, clock and throttling are sampled on the node.
Per node and phase: did the agent stay up (exporter answered, agent up, node Ready in every
sample), its memory (max) and CPU (share of one core), the node's max temperature and
whether it throttled. The lab has no thermal sensors: the capture says so.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from drivers.cluster.base import NodeState
from drivers.errors import ConfigError, SwarmscopeError
from drivers.faults import observe, thermal
from drivers.faults.injector import FaultInjector
from drivers.faults.kinds import Bandwidth, FaultRequest, Stress, parse_rate, parse_size
from drivers.faults.recorder import FaultRecorder
from drivers.faults.transport import NodeShell
from drivers.inventory import Inventory, Node
from drivers.progress import Progress
from drivers.scenarios.base import ScenarioContext
from drivers.units import parse_duration

NAME = "edge"
PHASES = ("memory", "cpu", "bandwidth")
REVERT_GRACE = 30.0
# The seed's figures for a 4-core, 4 GB Pi; the lab's nodes share two cores and the host's
# memory with everything else, so a lab run asks for less unless told otherwise.
SEED_DEFAULTS: dict[str, Any] = {"vm_bytes": "3G", "cpu_workers": 4, "cpu_load": 87}
LAB_DEFAULTS: dict[str, Any] = {"vm_bytes": "256M", "cpu_workers": 2, "cpu_load": 75}


@dataclass
class Settings:
    nodes: tuple[str, ...]
    phases: tuple[str, ...]
    phase_seconds: float
    baseline_seconds: float
    interval: float
    vm_bytes: int
    cpu_workers: int
    cpu_load: int
    rate_bits: int

    @classmethod
    def read(cls, options: argparse.Namespace, inventory: Inventory) -> Settings:
        def option(name: str, default: Any = None) -> Any:
            return getattr(options, f"edge_{name}", default)

        defaults = LAB_DEFAULTS if inventory.is_lab else SEED_DEFAULTS
        names = option("nodes")
        if names:
            nodes = tuple(inventory.node(n.strip()).name for n in names.split(",") if n.strip())
        else:
            nodes = tuple(n.name for n in inventory.nodes if n.type == "rpi")
        if not nodes:
            raise ConfigError("--nodes: the inventory has no rpi node; name the nodes to test")
        phases = tuple(p.strip() for p in str(option("phases", ",".join(PHASES))).split(","))
        unknown = [p for p in phases if p not in PHASES]
        if unknown:
            raise ConfigError(f"--phases: {', '.join(unknown)}; choose from {', '.join(PHASES)}")
        try:
            return cls(
                nodes=nodes,
                phases=phases,
                phase_seconds=parse_duration(str(option("phase_duration", "30s"))),
                baseline_seconds=parse_duration(str(option("baseline", "5s"))),
                interval=parse_duration(str(option("interval", "1s"))),
                vm_bytes=parse_size(str(option("vm_bytes") or defaults["vm_bytes"])),
                cpu_workers=int(option("cpu_workers") or defaults["cpu_workers"]),
                cpu_load=int(option("cpu_load") or defaults["cpu_load"]),
                rate_bits=parse_rate(str(option("rate", "10mbit"))),
            )
        except ValueError as exc:
            raise ConfigError(f"edge: {exc}") from None

    def request(self, phase: str) -> FaultRequest:
        if phase == "memory":
            return Stress(vm_workers=1, vm_bytes=self.vm_bytes)
        if phase == "cpu":
            return Stress(cpu_workers=self.cpu_workers, cpu_load_percent=self.cpu_load)
        return Bandwidth(rate_bits=self.rate_bits)


@dataclass
class Sample:
    node: str
    phase: str
    agent: observe.AgentSample
    node_state: str

    @property
    def up(self) -> bool:
        return (
            self.agent.exporter_up
            and (self.agent.agent_up or 0) >= 1
            and self.node_state == NodeState.READY.value
        )

    def row(self) -> tuple[Any, ...]:
        a = self.agent
        return (self.node, self.phase, f"{a.at:.3f}", int(a.exporter_up), a.agent_up,
                a.memory_bytes, a.cpu_seconds, self.node_state)  # fmt: skip


@dataclass
class PhaseResult:
    phase: str
    samples: list[Sample] = field(default_factory=list)
    fault: str = ""
    mechanism: str = ""
    measured_mbit: float | None = None
    probe_error: str = ""
    thermal: thermal.ThermalCapture | None = None
    thermal_error: str = ""

    def summary(self) -> dict[str, Any]:
        memory = [s.agent.memory_bytes for s in self.samples if s.agent.memory_bytes is not None]
        cpu = [(s.agent.at, s.agent.cpu_seconds) for s in self.samples if s.agent.cpu_seconds]
        ratio = None
        if len(cpu) >= 2 and cpu[-1][0] > cpu[0][0]:
            ratio = max(0.0, (cpu[-1][1] or 0) - (cpu[0][1] or 0)) / (cpu[-1][0] - cpu[0][0])
        down = [s for s in self.samples if not s.up]
        return {
            "stayed_up": bool(self.samples) and not down,
            "samples": len(self.samples),
            "samples_down": len(down),
            "first_problem": _problem(down[0]) if down else None,
            "agent_memory_max_bytes": max(memory) if memory else None,
            "agent_memory_mean_bytes": sum(memory) / len(memory) if memory else None,
            "agent_cpu_ratio": ratio,
            "fault": self.fault,
            "mechanism": self.mechanism,
            "measured_mbit": self.measured_mbit,
            "problems": [p for p in (self.probe_error, self.thermal_error) if p],
        }


def _problem(sample: Sample) -> str:
    if not sample.agent.exporter_up:
        return sample.agent.error or "exporter did not answer"
    if (sample.agent.agent_up or 0) < 1:
        return "swarmlet_agent_up was 0"
    return f"the manager saw the node {sample.node_state}"


def measure_egress_mbit(shell: NodeShell, rate_bits: int) -> float:
    """Stream zeros out of the node over SSH for ~2.5 s at the capped rate: what gets through."""
    chunk = 65536
    count = max(4, min(256, int(rate_bits * 2.5 / 8 / chunk)))
    started = time.monotonic()
    result = shell.run(f"dd if=/dev/zero bs={chunk} count={count} 2>/dev/null", timeout=120.0)
    seconds = time.monotonic() - started
    if len(result.stdout) < chunk * count * 0.9 or seconds <= 0:
        raise SwarmscopeError(f"node {shell.node.name}: the bandwidth probe came back short")
    return len(result.stdout) * 8 / seconds / 1e6


class Edge:
    def __init__(self, context: ScenarioContext, settings: Settings) -> None:
        self.context = context
        self.settings = settings
        self.inventory = context.inventory
        self.injector = FaultInjector(
            self.inventory,
            context.ssh,
            observer=FaultRecorder(context.run, context.pusher, NAME),
            run_id=context.run.run_id,
            scenario=NAME,
        )
        context.on_cleanup("revert the edge scenario's faults", self._revert)
        self.results: dict[str, dict[str, Any]] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.thermal_rows: list[tuple[Any, ...]] = []

    def _revert(self) -> None:
        problems = self.injector.revert_applied()
        if problems:
            raise SwarmscopeError("; ".join(problems))

    def _state_of(self, node: str) -> str:
        try:
            states = {n.name: n.state.value for n in self.context.backend.nodes()}
        except SwarmscopeError:
            return "unknown"
        return states.get(node, "absent")

    def _sample(self, node: Node, phase: str, until: float) -> list[Sample]:
        samples = []
        while True:
            tick = time.monotonic()
            samples.append(
                Sample(node.name, phase, observe.agent_sample(node), self._state_of(node.name))
            )
            if time.time() >= until:
                return samples
            time.sleep(max(0.0, self.settings.interval - (time.monotonic() - tick)))

    def _observe(self, node: Node, result: PhaseResult, until: float) -> None:
        """Sample the agent until ``until`` while the node samples its own temperature."""
        seconds = max(0.0, until - time.time())
        with concurrent.futures.ThreadPoolExecutor(1, "thermal") as pool:
            heat = pool.submit(
                thermal.capture,
                node.name,
                self.injector.shell(node),
                seconds,
                self.settings.interval,
            )
            result.samples = self._sample(node, result.phase, until)
            try:
                result.thermal = heat.result()
            except SwarmscopeError as exc:
                result.thermal_error = str(exc)

    def node(self, name: str, progress: Progress) -> None:
        settings = self.settings
        node = self.inventory.node(name)
        phases: dict[str, PhaseResult] = {"baseline": PhaseResult("baseline")}
        self._observe(node, phases["baseline"], time.time() + settings.baseline_seconds)
        for phase in settings.phases:
            phases[phase] = self.phase(node, phase)
            progress.note(f"{name} {phase}: {_describe(phases[phase].summary())}")
        capture = thermal.ThermalCapture(name)
        for result in phases.values():
            if result.thermal is not None:
                capture.extend(result.thermal)
        self._record(name, phases, capture)

    def phase(self, node: Node, phase: str) -> PhaseResult:
        settings = self.settings
        result = PhaseResult(phase)
        fault = self.injector.apply(settings.request(phase), node.name, settings.phase_seconds)
        result.fault, result.mechanism = fault.id, fault.mechanism
        ends = (fault.applied_at or fault.armed_at) + settings.phase_seconds
        if phase == "bandwidth":
            try:
                result.measured_mbit = measure_egress_mbit(
                    self.injector.shell(node), settings.rate_bits
                )
            except SwarmscopeError as exc:
                result.probe_error = str(exc)
        self._observe(node, result, ends)
        self.injector.wait_reverted(fault, max(0.0, ends - time.time()) + REVERT_GRACE)
        return result

    def _record(
        self, name: str, phases: dict[str, PhaseResult], capture: thermal.ThermalCapture
    ) -> None:
        summary: dict[str, Any] = {p: r.summary() for p, r in phases.items()}
        summary["thermal"] = capture.summary()
        self.results[name] = summary
        for result in phases.values():
            self.rows += [s.row() for s in result.samples]
        self.thermal_rows += [(name, *row) for row in capture.rows()]
        memory = [
            v["agent_memory_max_bytes"]
            for p, v in summary.items()
            if p != "thermal" and v.get("agent_memory_max_bytes") is not None
        ]
        cpu = [
            v["agent_cpu_ratio"]
            for p, v in summary.items()
            if p != "thermal" and v.get("agent_cpu_ratio") is not None
        ]
        figures: dict[str, Any] = {"edge": dict(self.results)}
        current = self.context.run.scenarios()[NAME].figures
        if memory:
            figures["memory_footprint"] = {**current.get("memory_footprint", {}), name: max(memory)}
        if cpu:
            figures["agent_cpu"] = {**current.get("agent_cpu", {}), name: max(cpu)}
        self.context.run.add_figures(NAME, figures)
        self.context.run.write_samples_csv(
            "edge-agent",
            (
                "node",
                "phase",
                "timestamp",
                "exporter_up",
                "agent_up",
                "memory_bytes",
                "cpu_seconds",
                "node_state",
            ),
            self.rows,
        )
        self.context.run.write_samples_csv(
            "edge-thermal", ("node", *thermal.CSV_HEADER), self.thermal_rows
        )
        self.context.pusher.push(NAME, self._fill)

    def _fill(self, registry: CollectorRegistry) -> None:
        up = Gauge(
            "swarmscope_edge_agent_stayed_up",
            "1 if the agent stayed up through the phase (exporter, agent and node Ready).",
            ["node", "phase"],
            registry=registry,
        )
        memory = Gauge(
            "swarmscope_edge_agent_memory_max_bytes",
            "Largest resident memory of the agent during the phase.",
            ["node", "phase"],
            registry=registry,
        )
        cpu = Gauge(
            "swarmscope_edge_agent_cpu_ratio",
            "CPU the agent used during the phase, as a share of one core.",
            ["node", "phase"],
            registry=registry,
        )
        temperature = Gauge(
            "swarmscope_edge_max_temperature_celsius",
            "Hottest sensor reading on the node during the edge phases.",
            ["node"],
            registry=registry,
        )
        for node, summary in self.results.items():
            for phase, values in summary.items():
                if phase == "thermal":
                    if values.get("max_temperature_celsius") is not None:
                        temperature.labels(node).set(values["max_temperature_celsius"])
                    continue
                up.labels(node, phase).set(1 if values["stayed_up"] else 0)
                if values["agent_memory_max_bytes"] is not None:
                    memory.labels(node, phase).set(values["agent_memory_max_bytes"])
                if values["agent_cpu_ratio"] is not None:
                    cpu.labels(node, phase).set(values["agent_cpu_ratio"])


def _describe(summary: dict[str, Any]) -> str:
    memory = summary["agent_memory_max_bytes"]
    cpu = summary["agent_cpu_ratio"]
    parts = ["stayed up" if summary["stayed_up"] else f"DOWN ({summary['first_problem']})"]
    if memory is not None:
        parts.append(f"agent {memory / 2**20:.0f} MiB")
    if cpu is not None:
        parts.append(f"{cpu:.1%} CPU")
    if summary.get("measured_mbit") is not None:
        parts.append(f"{summary['measured_mbit']:.1f} Mbit/s out")
    return ", ".join(parts)


class EdgeScenario:
    name = NAME
    help = (
        "each Pi under memory pressure, CPU load and a bandwidth cap: does the agent stay up, "
        "its memory and CPU, the node's temperature and throttling"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add = parser.add_argument
        add("--nodes", dest="edge_nodes", default=None, help="nodes to test (default: every Pi)")
        add(
            "--phases",
            dest="edge_phases",
            default=",".join(PHASES),
            help="which phases, comma-separated (default: %(default)s)",
        )
        add(
            "--phase-duration",
            dest="edge_phase_duration",
            default="30s",
            help="length of each phase (default: %(default)s, as the seed)",
        )
        add("--baseline", dest="edge_baseline", default="5s", help="unloaded sampling first")
        add("--interval", dest="edge_interval", default="1s", help="sampling interval")
        add(
            "--vm-bytes",
            dest="edge_vm_bytes",
            default=None,
            help=f"memory held in the memory phase (default: {SEED_DEFAULTS['vm_bytes']}; "
            f"{LAB_DEFAULTS['vm_bytes']} in the lab)",
        )
        add(
            "--cpu-workers",
            dest="edge_cpu_workers",
            type=int,
            default=None,
            help=f"CPU workers (default: {SEED_DEFAULTS['cpu_workers']}; "
            f"{LAB_DEFAULTS['cpu_workers']} in the lab)",
        )
        add(
            "--cpu-load",
            dest="edge_cpu_load",
            type=int,
            default=None,
            help=f"percent load per worker (default: {SEED_DEFAULTS['cpu_load']}; "
            f"{LAB_DEFAULTS['cpu_load']} in the lab)",
        )
        add("--rate", dest="edge_rate", default="10mbit", help="bandwidth cap (default: 10mbit)")

    def run(self, context: ScenarioContext) -> None:
        settings = Settings.read(context.options, context.inventory)
        edge = Edge(context, settings)
        with Progress(NAME, total=len(settings.nodes)) as progress:
            for name in settings.nodes:
                edge.node(name, progress)
                progress.advance(detail=f"{name} done")


SCENARIO = EdgeScenario()
