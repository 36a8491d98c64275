"""Find the swarmlet agent: a container by name through the Docker API, or a plain process.

Finding is cheap on every scrape after the first: the locator remembers the agent's PID and
the start time the kernel recorded for it, and only asks Docker again (or scans /proc
again) when that process is gone or the PID now belongs to a different process -- that is,
when the agent restarted, was recreated, or stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from exporters import procfs
from exporters.dockerapi import DockerApi, DockerError
from exporters.joinlog import parse_timestamp
from exporters.logsources import ContainerRun
from exporters.registry import CollectorError


@dataclass(frozen=True)
class AgentRun:
    """One run of the agent: its main process, and its container if it has one."""

    pid: int
    start_ticks: int  # /proc/PID/stat starttime: the PID plus this identify the run
    container_id: str | None = None
    started_at: float | None = None  # Unix seconds; from Docker for containers
    restart_count: int = 0  # Docker's RestartCount (restarts by the restart policy)
    tty: bool = False
    previous_finished_at: float | None = None  # when the container's previous run ended

    @property
    def container_run(self) -> ContainerRun | None:
        if self.container_id is None or self.started_at is None:
            return None
        # Logs of this run are those after the previous run ended: StartedAt itself is
        # recorded a moment after the process starts, so its first lines can predate it.
        since = self.previous_finished_at
        if since is not None:
            since = since + 1e-6 if 0 < since < self.started_at else None
        return ContainerRun(self.container_id, self.started_at, self.tty, logs_since=since)


class Locator(Protocol):
    description: str

    def locate(self) -> AgentRun | None:
        """The agent's current run, or None when it is not running."""
        ...


class ContainerLocator:
    """The agent as a Docker container found by name (``docker run --name swarmlet``)."""

    def __init__(self, client: DockerApi, name: str, proc_root: Path) -> None:
        self.client = client
        self.name = name
        self.proc_root = proc_root
        self.description = f"container {name!r}"
        self._cached: AgentRun | None = None

    def locate(self) -> AgentRun | None:
        cached = self._cached
        if cached is not None and _still_running(self.proc_root, cached):
            return cached
        self._cached = None
        info = self.client.inspect_container(self.name)
        if info is None:
            return None
        state: dict[str, Any] = info.get("State") or {}
        pid = int(state.get("Pid") or 0)
        if not state.get("Running") or pid <= 0:
            return None
        stat = procfs.read_stat(self.proc_root, pid)
        if stat is None:
            raise CollectorError(
                f"container {self.name!r} runs as PID {pid}, which {self.proc_root} does not "
                "show: the exporter needs the host's PID namespace (--pid=host in a container)"
            )
        self._cached = AgentRun(
            pid=pid,
            start_ticks=stat.start_ticks,
            container_id=str(info.get("Id", "")),
            started_at=parse_docker_time(str(state.get("StartedAt", ""))),
            previous_finished_at=parse_docker_time(str(state.get("FinishedAt", ""))),
            restart_count=int(info.get("RestartCount") or 0),
            tty=bool((info.get("Config") or {}).get("Tty")),
        )
        return self._cached

    def container_run(self) -> ContainerRun | None:
        run = self.locate()
        return None if run is None else run.container_run


class ProcessLocator:
    """The agent as a plain process, by pid file or by command name (oldest match wins)."""

    def __init__(
        self, proc_root: Path, *, name: str | None = None, pidfile: Path | None = None
    ) -> None:
        if (name is None) == (pidfile is None):
            raise ValueError("give exactly one of a process name or a pid file")
        self.proc_root = proc_root
        self.name = name
        self.pidfile = pidfile
        self.description = f"pid file {pidfile}" if pidfile else f"process {name!r}"
        self._cached: AgentRun | None = None

    def locate(self) -> AgentRun | None:
        cached = self._cached
        if cached is not None and _still_running(self.proc_root, cached):
            return cached
        self._cached = None
        if self.pidfile is not None:
            try:
                pids = [procfs.read_pidfile(self.pidfile)]
            except FileNotFoundError:
                return None  # the agent is not running (or never started)
            except (OSError, ValueError) as exc:
                raise CollectorError(f"cannot read pid file: {exc}") from None
        else:
            assert self.name is not None
            pids = procfs.find_pids_by_name(self.proc_root, self.name)
        stats = [s for s in (procfs.read_stat(self.proc_root, pid) for pid in pids) if s]
        if not stats:
            return None
        oldest = min(stats, key=lambda s: (s.start_ticks, s.pid))
        started_at = procfs.boot_time(self.proc_root) + (
            oldest.start_ticks / procfs.CLOCK_TICKS_PER_SECOND
        )
        self._cached = AgentRun(oldest.pid, oldest.start_ticks, started_at=started_at)
        return self._cached


def _still_running(proc_root: Path, run: AgentRun) -> bool:
    try:
        stat = procfs.read_stat(proc_root, run.pid)
    except (OSError, ValueError):
        return False
    return stat is not None and stat.start_ticks == run.start_ticks


def parse_docker_time(text: str) -> float:
    """Unix seconds of Docker's RFC 3339 times (``2024-05-01T12:00:00.123456789Z``)."""
    parsed = parse_timestamp(text.encode("ascii", errors="replace"))
    if parsed is None:
        raise DockerError(f"Docker sent an unreadable time {text[:40]!r}")
    return parsed[0]
