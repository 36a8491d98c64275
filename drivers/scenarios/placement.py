"""`swarmscope run placement`: deploy the seed's heterogeneous workload file and check where
every workload landed (``expected_node``, ``expected_nodes``, ``any-capable``), with the
scheduling time of each, from the orchestrator's own timestamps.

A workload that can never be placed (by default one extra asking for 100 GB of memory) is
reported as unschedulable with the orchestrator's reason after a bounded wait, and the run
goes on. Every workload is removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from drivers.cluster.base import Requirements, WorkloadSpec
from drivers.cluster.workloads import (
    ANY_CAPABLE,
    DEFAULT_COMMAND,
    Expectation,
    WorkloadEntry,
    check_expected_nodes,
    default_image,
    load_workload_file,
    parse_memory,
)
from drivers.errors import ConfigError, SwarmscopeError
from drivers.progress import Progress
from drivers.scenarios.base import ScenarioContext
from drivers.scenarios.pushing import ThrottledPush
from drivers.scenarios.tracking import Placement, Submitted, WorkloadTracker, wait_until_placed
from drivers.units import parse_duration

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FILE = REPO_ROOT / "benchmarks" / "configs" / "heterogeneous_workload.yaml"
NEVER_FITS = "placement-never-fits"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    why: str


def judge(expectation: Expectation | None, placement: Placement) -> Verdict:
    """Did a workload land where its file said? Replicas listed over several nodes must each
    be on one of them, no node holding more than its even share."""
    if placement.state != "running":
        return Verdict(False, f"{placement.state}: {placement.reason}")
    nodes = placement.nodes
    if expectation is None:
        return Verdict(True, "no expectation in the file")
    if expectation.any_capable:
        where = f"on {', '.join(sorted(set(nodes)))} ({ANY_CAPABLE})"
        return Verdict(bool(nodes), where if nodes else "no node reported")
    stray = sorted(set(nodes) - set(expectation.nodes))
    if stray:
        return Verdict(False, f"on {', '.join(stray)}, expected {expectation.describe()}")
    share = math.ceil(placement.spec.replicas / len(expectation.nodes))
    crowded = sorted(n for n, count in Counter(nodes).items() if count > share)
    if crowded:
        return Verdict(False, f"more than {share} replica(s) on {', '.join(crowded)}")
    return Verdict(True, f"on {', '.join(sorted(set(nodes)))}")


class PlacementScenario:
    name = "placement"
    help = (
        "deploy the seed's heterogeneous workload file, check every workload landed where "
        "expected, and report unschedulable ones with the orchestrator's reason"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--file",
            dest="placement_file",
            type=Path,
            metavar="FILE",
            default=DEFAULT_FILE,
            help="workload file in the seed's format (default: the seed's "
            "benchmarks/configs/heterogeneous_workload.yaml)",
        )
        parser.add_argument(
            "--image",
            dest="placement_image",
            metavar="IMAGE",
            default=None,
            help="image for workloads the file gives none (default: the lab's busybox in a "
            "lab, else busybox:latest)",
        )
        parser.add_argument(
            "--timeout",
            dest="placement_timeout",
            default="120s",
            metavar="DURATION",
            help="how long to wait for every workload to run (default: %(default)s)",
        )
        parser.add_argument(
            "--unschedulable-after",
            dest="placement_unschedulable_after",
            default="10s",
            metavar="DURATION",
            help="how long a workload may stay pending before it is judged (default: %(default)s)",
        )
        parser.add_argument(
            "--never-fits",
            dest="placement_never_fits",
            default="100GB",
            metavar="MEMORY",
            help="also submit a workload asking for this much memory, to show how an "
            "unschedulable one is reported; 0 leaves it out (default: %(default)s)",
        )

    def run(self, context: ScenarioContext) -> None:
        options = context.options
        path: Path = getattr(options, "placement_file", DEFAULT_FILE)
        image = getattr(options, "placement_image", None) or default_image(context.inventory)
        timeout = _duration(options, "placement_timeout", "120s", "--timeout")
        pending_limit = _duration(
            options, "placement_unschedulable_after", "10s", "--unschedulable-after"
        )
        never_fits = str(getattr(options, "placement_never_fits", "100GB"))
        entries = load_workload_file(path, image=image)
        check_expected_nodes(entries, {n.name for n in context.inventory.nodes}, path)
        probe = _never_fits_spec(never_fits, image)

        backend = context.backend
        tracker = WorkloadTracker(context, "placement")
        started = time.time()
        ids = tracker.deploy(path, image)
        submitted = [Submitted(i, e.spec, started) for i, e in zip(ids, entries, strict=True)]
        if probe is not None:
            submitted.append(tracker.submit(probe))
        state = _Results(context, path, entries)
        with Progress("placement", total=len(submitted)) as progress:
            progress.note(f"deployed {path.name}: {', '.join(e.spec.name for e in entries)}")
            wait_until_placed(
                backend,
                submitted,
                timeout=timeout,
                unschedulable_after=pending_limit,
                progress=progress,
                on_resolved=state.add,
            )
            state.push.now()
            for placement in sorted(state.results.values(), key=lambda p: p.spec.name):
                verdict = judge(state.expectations.get(placement.spec.name), placement)
                progress.note(f"{placement.spec.name}: {verdict.why}")
        state.check()


def _duration(options: argparse.Namespace, key: str, default: str, flag: str) -> float:
    try:
        return parse_duration(str(getattr(options, key, default)))
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}") from None


def _never_fits_spec(text: str, image: str) -> WorkloadSpec | None:
    if text.strip() in ("0", "none", ""):
        return None
    try:
        memory = parse_memory(text)
    except ValueError as exc:
        raise ConfigError(f"--never-fits: {exc}") from None
    return WorkloadSpec(
        name=NEVER_FITS,
        image=image,
        command=DEFAULT_COMMAND,
        requirements=Requirements(memory_bytes=memory),
        labels={"swarmscope.type": "never-fits"},
    )


class _Results:
    """Where each workload landed, written to the run directory as it is known."""

    def __init__(self, context: ScenarioContext, path: Path, entries: list[WorkloadEntry]) -> None:
        self.context = context
        self.path = path
        self.expectations = {e.spec.name: e.expectation for e in entries}
        self.kinds = {e.spec.name: e.type for e in entries}
        self.node_types = {n.name: n.type for n in context.inventory.nodes}
        self.results: dict[str, Placement] = {}
        self.push = ThrottledPush(context.pusher, "placement", self.fill)

    def add(self, placement: Placement) -> None:
        self.results[placement.spec.name] = placement
        self.record()
        self.push.soon()

    def verdict(self, name: str) -> Verdict:
        return judge(self.expectations.get(name), self.results[name])

    def record(self) -> None:
        workloads: dict[str, Any] = {}
        unschedulable: dict[str, str] = {}
        scheduling: dict[str, float] = {}
        rows: list[list[str]] = []
        for name, placement in sorted(self.results.items()):
            expectation = self.expectations.get(name)
            verdict = self.verdict(name)
            workloads[name] = {
                "state": placement.state,
                "nodes": placement.nodes,
                "expected": expectation.describe() if expectation else None,
                "where_expected": verdict.ok if name != NEVER_FITS else None,
                "why": verdict.why,
                "replicas": placement.spec.replicas,
                "waited_for_capacity": placement.waited_for_capacity,
            }
            if placement.state != "running":
                unschedulable[name] = placement.reason
            if placement.latency is not None:
                scheduling[name] = placement.latency
            rows.extend(
                [
                    name,
                    self.kinds.get(name, "never-fits"),
                    task.task_id,
                    task.node or "",
                    expectation.describe() if expectation else "",
                    f"{task.created_at:.6f}",
                    f"{task.updated_at:.6f}",
                    f"{max(0.0, task.updated_at - task.created_at):.6f}",
                ]
                for task in placement.ran
            )
        checked = [w for n, w in workloads.items() if n != NEVER_FITS]
        figures = {
            "placement_where_expected": sum(1 for w in checked if w["where_expected"]),
            "placement_workloads": len(checked),
            "placement_scheduling_seconds": scheduling,
        }
        details = {"file": str(self.path), "workloads": workloads, "unschedulable": unschedulable}
        self.context.run.add_figures("placement", figures, details)
        header = ["workload", "type", "task", "node", "expected", "created_at", "running_at"]
        self.context.run.write_samples_csv("placement", [*header, "latency_seconds"], rows)

    def fill(self, registry: CollectorRegistry) -> None:
        # Names the scheduling dashboard queries (drivers/render/dashboards/scheduling.py).
        where = Gauge(
            "swarmscope_placement_workloads",
            "Tasks of a workload running on a node (type: the node's gpu|rpi), and whether "
            "that node was expected.",
            ["workload", "node", "type", "expected"],
            registry=registry,
        )
        unexpected = Gauge(
            "swarmscope_placement_unexpected_workloads",
            "Workloads not (all) where their file expected them.",
            registry=registry,
        )
        ok = Gauge(
            "swarmscope_placement_ok",
            "1 when every task of the workload landed where its file expected.",
            ["workload"],
            registry=registry,
        )
        latency = Gauge(
            "swarmscope_placement_scheduling_seconds",
            "Created to running of the workload's slowest replica.",
            ["workload"],
            registry=registry,
        )
        never = Gauge(
            "swarmscope_workload_unschedulable",
            "1 when the orchestrator could not place the workload.",
            ["workload"],
            registry=registry,
        )
        for name, placement in list(self.results.items()):
            expectation = self.expectations.get(name)
            for node, count in Counter(placement.nodes).items():
                expected = (
                    expectation is None or expectation.any_capable or node in expectation.nodes
                )
                kind = self.node_types.get(node, "unknown")
                where.labels(name, node, kind, str(expected).lower()).set(count)
            if name != NEVER_FITS:
                ok.labels(name).set(1 if self.verdict(name).ok else 0)
            if placement.latency is not None:
                latency.labels(name).set(placement.latency)
            never.labels(name).set(0 if placement.state == "running" else 1)
        unexpected.set(
            sum(
                1 for name in list(self.results) if name != NEVER_FITS and not self.verdict(name).ok
            )
        )

    def check(self) -> None:
        """Fail the scenario (its figures are recorded) when a workload is misplaced."""
        wrong = [
            f"{name} {self.verdict(name).why}"
            for name in sorted(self.results)
            if name != NEVER_FITS and not self.verdict(name).ok
        ]
        probe = self.results.get(NEVER_FITS)
        if probe is not None and probe.state == "running":
            wrong.append(f"{NEVER_FITS} was placed on {', '.join(probe.nodes)} (a node that big?)")
        if wrong:
            raise SwarmscopeError(
                f"placement: {len(wrong)} workload(s) not as expected: " + "; ".join(wrong)
            )


SCENARIO = PlacementScenario()
