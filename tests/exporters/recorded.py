"""Replay what a Raspberry Pi's Docker engine and vcgencmd answered, for fixture scenarios.

Neither a Pi's engine state nor its firmware can exist on this machine, so each scenario
under fixtures/ holds recorded answers in their exact formats: ``docker/containers/NAME.json``
(``GET /containers/NAME/json``), ``docker/logs/ID.stream`` (``GET /containers/ID/logs``,
multiplexed, RFC3339Nano timestamps) and ``vcgencmd/ARGS.stdout|stderr|exit``. The real
Docker client and subprocess runner are tested against a real dockerd and a real process
elsewhere; these stand-ins only feed the collectors deterministic inputs.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exporters import __version__
from exporters.collectors.agent import AgentCollector
from exporters.collectors.join import JoinCollector
from exporters.collectors.thermal import ThermalCollector
from exporters.collectors.vcgencmd import VcgencmdCollector
from exporters.commands import CommandResult
from exporters.exposition import Collector
from exporters.joinlog import JoinPatterns, parse_timestamp
from exporters.locate import ContainerLocator, ProcessLocator
from exporters.logsources import DockerLogSource, FileLogSource
from exporters.registry import Registry

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
SCENARIOS = ("pi4", "pi5", "vm")


class RecordedDocker:
    """Answers inspect and logs like a Docker engine, from a scenario's docker/ folder."""

    host = "unix:///recorded/docker.sock"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log_requests: list[float | None] = []

    def inspect_container(self, name: str) -> dict[str, Any] | None:
        path = self.folder / "containers" / f"{name}.json"
        if not path.exists():
            return None
        answer: dict[str, Any] = json.loads(path.read_text())
        return answer

    def container_logs(self, container: str, *, since: float | None) -> tuple[bytes, bool]:
        """The recorded stream, keeping frames at or after ``since`` as the engine does."""
        self.log_requests.append(since)
        body = (self.folder / "logs" / f"{container}.stream").read_bytes()
        kept = bytearray()
        position = 0
        while position + 8 <= len(body):
            size = struct.unpack(">I", body[position + 4 : position + 8])[0]
            frame = body[position : position + 8 + size]
            position += 8 + size
            parsed = parse_timestamp(frame[8:])
            if since is None or parsed is None or parsed[0] >= since:
                kept += frame
        return bytes(kept), False


class RecordedRunner:
    """Runs ``vcgencmd ARGS`` by reading ARGS.stdout/.stderr/.exit from a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.calls: list[list[str]] = []

    def run_all(self, commands: Sequence[Sequence[str]]) -> list[CommandResult]:
        results = []
        for argv in commands:
            self.calls.append(list(argv[1:]))
            name = "_".join(argv[1:])
            stdout = self.folder / f"{name}.stdout"
            if not stdout.exists():
                message = 'error=1 error_msg="Command not registered"\n'
                results.append(CommandResult(tuple(argv), 254, "", message))
                continue
            stderr = self.folder / f"{name}.stderr"
            code = self.folder / f"{name}.exit"
            results.append(
                CommandResult(
                    tuple(argv),
                    int(code.read_text()) if code.exists() else 0,
                    stdout.read_text(),
                    stderr.read_text() if stderr.exists() else "",
                )
            )
        return results


class StepClock:
    """A clock that advances by ``step`` on every reading: collector durations become exact."""

    def __init__(self, step: float = 0.25) -> None:
        self.step = step
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def scenario_collectors(name: str) -> list[Collector]:
    """The four collectors wired to one fixture scenario, as the CLI wires them for real."""
    root = FIXTURES / name
    sys_root, proc_root = root / "sys", root / "proc"
    collectors: list[Collector] = []
    if (root / "docker").is_dir():
        docker = RecordedDocker(root / "docker")
        locator = ContainerLocator(docker, "swarmlet", proc_root)
        source = DockerLogSource(docker, locator.container_run)
        collectors.append(AgentCollector(locator, sys_root=sys_root, proc_root=proc_root))
        collectors.append(JoinCollector(source, JoinPatterns.default()))
    else:
        process = ProcessLocator(proc_root, name="swarmlet")
        collectors.append(AgentCollector(process, sys_root=sys_root, proc_root=proc_root))
        collectors.append(JoinCollector(FileLogSource(root / "agent.log"), JoinPatterns.default()))
    collectors.append(ThermalCollector(sys_root))
    vcgencmd = root / "vcgencmd"
    collectors.append(
        VcgencmdCollector(
            Path("/usr/bin/vcgencmd") if vcgencmd.is_dir() else None, RecordedRunner(vcgencmd)
        )
    )
    return collectors


def scenario_registry(name: str) -> Registry:
    return Registry(
        scenario_collectors(name),
        info={"node": f"{name}-node", "version": __version__},
        clock=StepClock(),
    )
