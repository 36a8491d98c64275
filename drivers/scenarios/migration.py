"""`swarmscope run migration`: a workload pinned to rpi-1 moved to rpi-2 (the seed's
`stratoswarm migrate $WORKLOAD_ID --to rpi-2`), timed from the request until it runs on the
new node AND no longer runs on the old one — the seed timed only the CLI call.

Both ends come from the orchestrator's task records: the new task's running-since time and
the old task's stop time. ``--repeat`` moves it back and forth for more samples.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from drivers.cluster.base import Backend, Task, TaskState, WorkloadSpec
from drivers.cluster.workloads import default_image
from drivers.errors import ConfigError, SwarmscopeError
from drivers.progress import Progress
from drivers.scenarios.base import ScenarioContext
from drivers.scenarios.pushing import ThrottledPush
from drivers.scenarios.summary import summarize
from drivers.scenarios.tracking import POLL_INTERVAL, WorkloadTracker, wait_until_placed
from drivers.units import parse_duration

# The seed's workload: prints the date every second until stopped.
COMMAND = ("sh", "-c", "while true; do date; sleep 1; done")


@dataclass(frozen=True)
class Move:
    source: str
    destination: str
    requested_at: float  # controller clock, just before the request
    new_running_at: float  # orchestrator: the new task runs on the destination
    old_stopped_at: float  # orchestrator: the old task stopped on the source
    observed_seconds: float  # controller: request -> both seen by polling

    @property
    def seconds(self) -> float:
        return max(self.new_running_at, self.old_stopped_at) - self.requested_at

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "seconds": self.seconds,
            "new_running_after": self.new_running_at - self.requested_at,
            "old_stopped_after": self.old_stopped_at - self.requested_at,
            "observed_seconds": self.observed_seconds,
        }


class MigrationScenario:
    name = "migration"
    help = (
        "move a workload pinned to one node to another and time it until it runs there "
        "and is gone from the first"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--from",
            dest="migration_source",
            default="rpi-1",
            metavar="NODE",
            help="where the workload starts (default: %(default)s)",
        )
        parser.add_argument(
            "--to",
            dest="migration_destination",
            default="rpi-2",
            metavar="NODE",
            help="where it moves (default: %(default)s)",
        )
        parser.add_argument(
            "--repeat",
            dest="migration_repeat",
            metavar="N",
            type=int,
            default=1,
            help="moves, alternating direction (default: %(default)s)",
        )
        parser.add_argument(
            "--image",
            dest="migration_image",
            metavar="IMAGE",
            default=None,
            help="image of the workload (default: the lab's busybox in a lab, else busybox:latest)",
        )
        parser.add_argument(
            "--timeout",
            dest="migration_timeout",
            default="60s",
            metavar="DURATION",
            help="how long one move may take (default: %(default)s)",
        )

    def run(self, context: ScenarioContext) -> None:
        options = context.options
        source = context.inventory.node(getattr(options, "migration_source", "rpi-1")).name
        destination = context.inventory.node(
            getattr(options, "migration_destination", "rpi-2")
        ).name
        if source == destination:
            raise ConfigError(f"--from and --to are both {source}: nothing to migrate")
        repeat = int(getattr(options, "migration_repeat", 1))
        if repeat < 1:
            raise ConfigError("--repeat: must be 1 or more")
        try:
            timeout = parse_duration(str(getattr(options, "migration_timeout", "60s")))
        except ValueError as exc:
            raise ConfigError(f"--timeout: {exc}") from None
        image = getattr(options, "migration_image", None) or default_image(context.inventory)

        backend = context.backend
        tracker = WorkloadTracker(context, "migration")
        suffix = context.run.run_id.rsplit("-", 1)[-1]
        spec = WorkloadSpec(
            name=f"migrate-{suffix}",
            image=image,
            command=COMMAND,
            constraints=(f"node.name=={source}",),
            labels={"swarmscope.type": "migration"},
        )
        submitted = tracker.submit(spec)
        placed = wait_until_placed(
            backend, [submitted], timeout=timeout, unschedulable_after=timeout
        )
        first = placed[submitted.workload_id]
        if first.state != "running" or first.nodes != [source]:
            raise SwarmscopeError(
                f"migration: the workload did not start on {source}: "
                f"{first.reason or 'it runs on ' + ', '.join(first.nodes)}"
            )
        moves: list[Move] = []
        push = ThrottledPush(context.pusher, "migration", _fill(moves))
        here, there = source, destination
        with Progress("migration", total=repeat) as progress:
            for _ in range(repeat):
                move = _migrate(backend, submitted.workload_id, here, there, timeout)
                moves.append(move)
                _record(context, moves)
                progress.note(
                    f"{here} -> {there}: {move.seconds:.2f}s (running on {there} after "
                    f"{move.new_running_at - move.requested_at:.2f}s, gone from {here} after "
                    f"{move.old_stopped_at - move.requested_at:.2f}s)"
                )
                progress.advance()
                push.soon()
                here, there = there, here
        push.now()


def _running_on(tasks: list[Task], node: str) -> list[Task]:
    return [t for t in tasks if t.node == node and t.state is TaskState.RUNNING]


def _migrate(
    backend: Backend, workload_id: str, source: str, destination: str, timeout: float
) -> Move:
    old = _running_on(backend.tasks(workload_id), source)
    if not old:
        raise SwarmscopeError(f"migration: the workload is not running on {source}")
    old_ids = {t.task_id for t in old}
    requested_at = time.time()
    started = time.monotonic()
    backend.migrate(workload_id, destination)
    new: Task | None = None
    stopped_at: float | None = None
    while time.monotonic() - started < timeout:
        tasks = backend.tasks(workload_id)
        if new is None:
            running = _running_on(tasks, destination)
            new = running[0] if running else None
        if stopped_at is None and not _running_on(tasks, source):
            # The old task's record (if the orchestrator keeps it) says when it stopped.
            ended = [
                t.updated_at
                for t in tasks
                if t.task_id in old_ids and t.state is not TaskState.RUNNING
            ]
            stopped_at = max(ended) if ended else time.time()
        if new is not None and stopped_at is not None:
            return Move(
                source,
                destination,
                requested_at,
                new.updated_at,
                stopped_at,
                time.monotonic() - started,
            )
        time.sleep(POLL_INTERVAL)
    where = "not running on " + destination if new is None else "still running on " + source
    raise SwarmscopeError(
        f"migration {source} -> {destination} not done after {timeout:g}s: {where}"
    )


def _figures(moves: list[Move]) -> dict[str, Any]:
    slowest: dict[str, float] = {}
    for move in moves:
        pair = f"{move.source}->{move.destination}"
        slowest[pair] = max(slowest.get(pair, 0.0), move.seconds)
    return {
        "migration_seconds": slowest,
        "migration_summary": summarize([m.seconds for m in moves]),
    }


def _record(context: ScenarioContext, moves: list[Move]) -> None:
    context.run.add_figures("migration", _figures(moves), {"moves": [m.as_dict() for m in moves]})
    header = ["source", "destination", "seconds", "new_running_after", "old_stopped_after"]
    context.run.write_samples_csv(
        "migration",
        [*header, "observed_seconds"],
        [[m.as_dict()[key] for key in [*header, "observed_seconds"]] for m in moves],
    )


def _fill(moves: list[Move]) -> Callable[[CollectorRegistry], None]:
    def fill(registry: CollectorRegistry) -> None:
        gauge = Gauge(
            "swarmscope_migration_seconds",
            "Request to running on the destination with the source's task gone (slowest move).",
            ["source", "destination"],
            registry=registry,
        )
        for pair, seconds in _figures(moves)["migration_seconds"].items():
            source, _, destination = pair.partition("->")
            gauge.labels(source, destination).set(seconds)

    return fill


SCENARIO = MigrationScenario()
