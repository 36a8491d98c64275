"""The agent collector on recorded Pi trees: cgroup v1 and v2, plain processes, restarts.

The same collector runs against a real container in test_agent_docker.py.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest

from exporters.collectors.agent import AgentCollector
from exporters.dockerapi import DockerClient
from exporters.exposition import MetricFamily
from exporters.locate import ContainerLocator, ProcessLocator
from exporters.registry import CollectorError
from tests.exporters.recorded import FIXTURES, RecordedDocker


class CountingDocker(RecordedDocker):
    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.inspections = 0

    def inspect_container(self, name: str) -> dict[str, object] | None:
        self.inspections += 1
        return super().inspect_container(name)


def values(families: object) -> dict[str, float]:
    assert isinstance(families, list)
    out: dict[str, float] = {}
    for family in families:
        assert isinstance(family, MetricFamily)
        for sample in family.samples:
            out[sample.name] = sample.value
    return out


def container_collector(root: Path) -> tuple[AgentCollector, CountingDocker]:
    docker = CountingDocker(root / "docker")
    locator = ContainerLocator(docker, "swarmlet", root / "proc")
    return AgentCollector(locator, sys_root=root / "sys", proc_root=root / "proc"), docker


@pytest.fixture
def pi4(tmp_path: Path) -> Path:
    """A writable copy of the Pi 4 tree, to play restarts on."""
    shutil.copytree(FIXTURES / "pi4", tmp_path / "pi4", symlinks=True)
    return tmp_path / "pi4"


def test_cgroup_v1_container_on_its_own_network() -> None:
    """Pi OS bullseye: memory = usage_in_bytes - total_inactive_file, CPU = cpuacct.usage,
    network = eth0 of the container's namespace (lo excluded), restarts = RestartCount."""
    collector, _ = container_collector(FIXTURES / "pi4")
    assert values(list(collector.collect())) == {
        "swarmlet_agent_up": 1.0,
        "swarmlet_agent_resident_memory_bytes": 31457280.0 - 4194304.0,
        "swarmlet_agent_cpu_seconds_total": 22.517893412,
        "swarmlet_agent_network_receive_bytes_total": 2318604.0,
        "swarmlet_agent_network_transmit_bytes_total": 897233.0,
        "swarmlet_agent_start_time_seconds": pytest.approx(1773480413.051234567),
        "swarmlet_agent_restarts_total": 1.0,
    }


def test_cgroup_v2_container_on_the_host_network(caplog: pytest.LogCaptureFixture) -> None:
    """Pi OS bookworm: memory = memory.current - inactive_file, CPU = usage_usec. With
    --network host the agent's bytes cannot be told from the host's: no network series."""
    collector, _ = container_collector(FIXTURES / "pi5")
    with caplog.at_level(logging.INFO, logger="swarmlet_exporter"):
        got = values(list(collector.collect()))
        collector.collect()
    assert got["swarmlet_agent_resident_memory_bytes"] == 26738688.0 - 3145728.0
    assert got["swarmlet_agent_cpu_seconds_total"] == 18.734512
    assert "swarmlet_agent_network_receive_bytes_total" not in got
    assert len([r for r in caplog.records if "host's network namespace" in r.getMessage()]) == 1


def test_the_container_is_resolved_once_and_cached() -> None:
    """Docker is asked once; later scrapes only check /proc/PID/stat's start time."""
    collector, docker = container_collector(FIXTURES / "pi4")
    for _ in range(5):
        list(collector.collect())
    assert docker.inspections == 1


def set_start(root: Path, pid: int, start_ticks: int) -> None:
    stat = root / "proc" / str(pid) / "stat"
    head, tail = stat.read_text().rsplit(")", 1)
    fields = tail.split()
    fields[19] = str(start_ticks)
    stat.write_text(head + ") " + " ".join(fields) + "\n")


def set_inspect(root: Path, **changes: object) -> None:
    path = root / "docker" / "containers" / "swarmlet.json"
    info = json.loads(path.read_text())
    for key, value in changes.items():
        if key in ("Running", "StartedAt", "Pid"):
            info["State"][key] = value
        else:
            info[key] = value
    path.write_text(json.dumps(info))


def test_restarts_count_policy_restarts_manual_restarts_and_recreation(pi4: Path) -> None:
    """Starts at RestartCount; grows with it; +1 for a restart by hand (RestartCount resets,
    start time changes) and +1 for a container recreated under the same name."""
    collector, docker = container_collector(pi4)

    def restarts() -> float:
        return values(list(collector.collect()))["swarmlet_agent_restarts_total"]

    assert restarts() == 1  # RestartCount 1 when first seen
    assert restarts() == 1  # nothing happened
    set_start(pi4, 1432, 9000)
    set_inspect(pi4, RestartCount=3, StartedAt="2026-03-14T09:40:00Z")
    assert restarts() == 3  # the restart policy restarted it twice
    set_start(pi4, 1432, 9500)
    set_inspect(pi4, RestartCount=0, StartedAt="2026-03-14T09:45:00Z")
    assert restarts() == 4  # docker restart by hand
    set_start(pi4, 1432, 9900)
    set_inspect(pi4, Id="f" * 64, RestartCount=0, StartedAt="2026-03-14T09:50:00Z")
    (
        pi4
        / "sys/fs/cgroup/memory/docker"
        / ("9c2d4f1a7b3e5d6c8a0f2e4b6d8c1a3e5f7b9d0c2e4a6b8d1f3a5c7e9b0d2f4a")
    ).rename(pi4 / "sys/fs/cgroup/memory/docker" / ("f" * 64))
    (
        pi4
        / "sys/fs/cgroup/cpu,cpuacct/docker"
        / ("9c2d4f1a7b3e5d6c8a0f2e4b6d8c1a3e5f7b9d0c2e4a6b8d1f3a5c7e9b0d2f4a")
    ).rename(pi4 / "sys/fs/cgroup/cpu,cpuacct/docker" / ("f" * 64))
    cgroup = pi4 / "proc/1432/cgroup"
    cgroup.write_text(re.sub("[0-9a-f]{64}", "f" * 64, cgroup.read_text()))
    assert restarts() == 5  # docker rm -f && docker run --name swarmlet
    assert docker.inspections == 4


def test_a_stopped_or_missing_agent_is_down_and_keeps_its_restart_count(pi4: Path) -> None:
    """Stopped: up 0 and only the restart counter (no stale memory or CPU). Removed: the same."""
    collector, _ = container_collector(pi4)
    list(collector.collect())
    set_start(pi4, 1432, 12345)  # its process is gone
    set_inspect(pi4, Running=False, Pid=0)
    assert values(list(collector.collect())) == {
        "swarmlet_agent_up": 0.0,
        "swarmlet_agent_restarts_total": 1.0,
    }
    (pi4 / "docker/containers/swarmlet.json").unlink()
    assert values(list(collector.collect())) == {
        "swarmlet_agent_up": 0.0,
        "swarmlet_agent_restarts_total": 1.0,
    }


def test_never_seen_agent_has_no_restart_counter(pi4: Path) -> None:
    """Before the agent was ever seen only swarmlet_agent_up 0 exists."""
    (pi4 / "docker/containers/swarmlet.json").unlink()
    collector, _ = container_collector(pi4)
    assert values(list(collector.collect())) == {"swarmlet_agent_up": 0.0}


def test_docker_down_is_a_collector_failure_with_a_clear_message(tmp_path: Path) -> None:
    """An unreachable engine cannot tell whether the agent runs: that is a failure (success 0)."""
    client = DockerClient(f"unix://{tmp_path}/docker.sock")
    locator = ContainerLocator(client, "swarmlet", Path("/proc"))
    collector = AgentCollector(locator, sys_root=Path("/sys"), proc_root=Path("/proc"))
    with pytest.raises(CollectorError, match=r"cannot reach Docker at unix://.*: No such file"):
        list(collector.collect())


def test_a_pid_the_exporter_cannot_see_asks_for_the_host_pid_namespace(pi4: Path) -> None:
    """An exporter container without --pid=host sees other PIDs: say so, do not guess."""
    set_inspect(pi4, Pid=4242)
    collector, _ = container_collector(pi4)
    with pytest.raises(CollectorError, match="--pid=host"):
        list(collector.collect())


def test_memory_controller_off_exports_cpu_and_says_how_to_turn_it_on(
    pi4: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Pi without cgroup_enable=memory has no memory cgroup: CPU still, memory left out."""
    cgroup = pi4 / "proc/1432/cgroup"
    cgroup.write_text(
        "".join(x for x in cgroup.read_text().splitlines(True) if ":memory:" not in x)
    )
    collector, _ = container_collector(pi4)
    with caplog.at_level(logging.INFO, logger="swarmlet_exporter"):
        got = values(list(collector.collect()))
    assert "swarmlet_agent_resident_memory_bytes" not in got
    assert got["swarmlet_agent_cpu_seconds_total"] == 22.517893412
    assert "cgroup_enable=memory" in caplog.text


def process_collector(root: Path, **how: object) -> AgentCollector:
    locator = ProcessLocator(root / "proc", **how)  # type: ignore[arg-type]
    return AgentCollector(locator, sys_root=root / "sys", proc_root=root / "proc")


def test_a_plain_process_found_by_name() -> None:
    """VmRSS and utime+stime (in USER_HZ) of the process; start time from btime."""
    got = values(list(process_collector(FIXTURES / "vm", name="swarmlet").collect()))
    assert got == {
        "swarmlet_agent_up": 1.0,
        "swarmlet_agent_resident_memory_bytes": 17640 * 1024.0,
        "swarmlet_agent_cpu_seconds_total": (310 + 95) / 100,
        "swarmlet_agent_start_time_seconds": 1773475200 + 1800 / 100,
        "swarmlet_agent_restarts_total": 0.0,
    }


def test_a_plain_process_found_by_pid_file(tmp_path: Path) -> None:
    """A pid file names the process; a missing file means down; a garbled one is an error."""
    pidfile = tmp_path / "swarmlet.pid"
    collector = process_collector(FIXTURES / "vm", pidfile=pidfile)
    assert values(list(collector.collect())) == {"swarmlet_agent_up": 0.0}
    pidfile.write_text("812\n")
    assert values(list(collector.collect()))["swarmlet_agent_up"] == 1.0
    pidfile.write_text("not a pid\n")
    broken = process_collector(FIXTURES / "vm", pidfile=pidfile)
    with pytest.raises(CollectorError, match="does not hold a process id"):
        list(broken.collect())


def test_a_long_process_name_is_matched_on_argv0(tmp_path: Path) -> None:
    """comm keeps 15 characters: a longer name is confirmed against the command line."""
    shutil.copytree(FIXTURES / "vm", tmp_path / "vm", symlinks=True)
    proc = tmp_path / "vm" / "proc"
    (proc / "812" / "comm").write_text("swarmlet-edge-a\n")
    (proc / "812" / "cmdline").write_bytes(b"/opt/bin/swarmlet-edge-agent\0join\0")
    found = values(list(process_collector(tmp_path / "vm", name="swarmlet-edge-agent").collect()))
    assert found["swarmlet_agent_up"] == 1.0
    other = values(list(process_collector(tmp_path / "vm", name="swarmlet-edge-aXX").collect()))
    assert other["swarmlet_agent_up"] == 0.0
