"""What the swarmlet agent costs its node: memory, CPU, network, restarts, and whether it runs.

Exposition (a container agent on its own network, after one restart)::

    # TYPE swarmlet_agent_up gauge
    swarmlet_agent_up 1.0
    # TYPE swarmlet_agent_resident_memory_bytes gauge
    swarmlet_agent_resident_memory_bytes 24117248.0
    # TYPE swarmlet_agent_cpu_seconds_total counter
    swarmlet_agent_cpu_seconds_total 12.5
    # TYPE swarmlet_agent_network_receive_bytes_total counter
    swarmlet_agent_network_receive_bytes_total 1048576.0
    # TYPE swarmlet_agent_network_transmit_bytes_total counter
    swarmlet_agent_network_transmit_bytes_total 524288.0
    # TYPE swarmlet_agent_start_time_seconds gauge
    swarmlet_agent_start_time_seconds 1714564800.0
    # TYPE swarmlet_agent_restarts_total counter
    swarmlet_agent_restarts_total 1.0

Sources, read fresh on every scrape (no Docker stats API: it takes about a second):

- container agent: memory and CPU from its cgroup (``exporters.cgroups``: the figures of
  ``docker stats``), network from /proc/PID/net/dev of its main process.
- process agent: VmRSS and utime+stime of that one process from /proc.
- network bytes exist only when the agent has a network namespace of its own. With
  ``--network host`` (as the seed runs it) the kernel keeps no per-process byte counts, so
  the two network series are left out rather than showing the whole host's traffic.

``swarmlet_agent_restarts_total`` starts at Docker's RestartCount when the agent is first
seen, then grows by RestartCount's growth, or by one when the agent was restarted by hand
(a new start time) or recreated under the same name (a new container). A plain process
counts a new PID or start time as one restart. Before the agent was ever seen it is absent;
when the agent is not running only ``swarmlet_agent_up 0`` and the restart count remain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from exporters import procfs
from exporters.cgroups import Cgroup, CgroupUnavailable
from exporters.exposition import MetricFamily, counter, gauge
from exporters.locate import AgentRun, Locator
from exporters.quietlog import QuietLog
from exporters.registry import CollectorError

log = logging.getLogger("swarmlet_exporter")


class AgentCollector:
    name = "agent"

    def __init__(self, locator: Locator, *, sys_root: Path, proc_root: Path) -> None:
        self.locator = locator
        self.sys_root = sys_root
        self.proc_root = proc_root
        self._quiet = QuietLog(log, "collector agent")
        self._last_run: AgentRun | None = None
        self._restarts: float | None = None

    def collect(self) -> Iterable[MetricFamily]:
        up = gauge("swarmlet_agent_up", f"1 if the agent ({self.locator.description}) runs.")
        run = self.locator.locate()
        families = [up]
        measured: list[MetricFamily] = []
        if run is not None:
            self._count_restarts(run)
            try:
                measured = self._measure(run)
            except (OSError, ValueError, CgroupUnavailable) as exc:
                if self.locator.locate() == run:
                    raise CollectorError(f"{self.locator.description}: {exc}") from None
                run = None  # it stopped while we read it: report it as down
        up.add([], 0.0 if run is None else 1.0)
        families += measured
        if self._restarts is not None:
            restarts = counter(
                "swarmlet_agent_restarts_total",
                "Times the agent restarted (Docker restart policy, by hand, or recreated).",
            )
            restarts.add([], self._restarts)
            families.append(restarts)
        return families

    def _measure(self, run: AgentRun) -> list[MetricFamily]:
        families: list[MetricFamily] = []
        memory: float | None
        cpu: float | None
        if run.container_id is not None:
            membership = procfs.read_cgroup_membership(self.proc_root, run.pid)
            cgroup = Cgroup.of_process(self.sys_root, membership)
            memory, cpu = cgroup.memory_bytes(), cgroup.cpu_seconds()
            if memory is None:
                self._quiet.note(
                    "no-memory-cgroup",
                    "the memory cgroup controller is off, so agent memory is not exported "
                    "(on a Pi add cgroup_enable=memory cgroup_memory=1 to cmdline.txt)",
                )
        else:
            stat = procfs.read_stat(self.proc_root, run.pid)
            if stat is None:
                raise FileNotFoundError(f"process {run.pid} is gone")
            memory, cpu = procfs.read_resident_bytes(self.proc_root, run.pid), stat.cpu_seconds
        if memory is not None:
            family = gauge(
                "swarmlet_agent_resident_memory_bytes",
                "Memory the agent holds: its cgroup's usage minus inactive file cache "
                "(docker stats' MEM USAGE), or VmRSS for a plain process.",
            )
            family.add([], memory)
            families.append(family)
        if cpu is not None:
            family = counter(
                "swarmlet_agent_cpu_seconds_total", "CPU time the agent used (all its tasks)."
            )
            family.add([], cpu)
            families.append(family)
        families += self._network(run)
        if run.started_at is not None:
            family = gauge(
                "swarmlet_agent_start_time_seconds", "When the agent's current run started."
            )
            family.add([], run.started_at)
            families.append(family)
        return families

    def _network(self, run: AgentRun) -> list[MetricFamily]:
        agent_namespace = procfs.network_namespace(self.proc_root, run.pid)
        if agent_namespace is None or agent_namespace == procfs.network_namespace(
            self.proc_root, 1
        ):
            self._quiet.note(
                "host-network",
                "the agent shares the host's network namespace, so its own network bytes "
                "cannot be told apart from the host's and are not exported",
            )
            return []
        received, transmitted = procfs.read_network_bytes(self.proc_root, run.pid)
        receive = counter(
            "swarmlet_agent_network_receive_bytes_total",
            "Bytes received on the agent's network namespace (all interfaces but lo).",
        )
        receive.add([], float(received))
        transmit = counter(
            "swarmlet_agent_network_transmit_bytes_total",
            "Bytes sent from the agent's network namespace (all interfaces but lo).",
        )
        transmit.add([], float(transmitted))
        return [receive, transmit]

    def _count_restarts(self, run: AgentRun) -> None:
        last = self._last_run
        if last is None:
            self._restarts = float(run.restart_count) + (self._restarts or 0.0)
        elif run.container_id != last.container_id:
            self._restarts = (self._restarts or 0.0) + 1 + run.restart_count
        elif run.restart_count > last.restart_count:
            self._restarts = (self._restarts or 0.0) + run.restart_count - last.restart_count
        elif (run.pid, run.start_ticks) != (last.pid, last.start_ticks):
            self._restarts = (self._restarts or 0.0) + 1
        self._last_run = run
