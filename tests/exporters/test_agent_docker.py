"""The agent and join collectors against real containers of a real (private) dockerd."""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporters.collectors.agent import AgentCollector
from exporters.collectors.join import JoinCollector
from exporters.dockerapi import DockerClient
from exporters.exposition import MetricFamily
from exporters.joinlog import JoinPatterns
from exporters.locate import ContainerLocator
from exporters.logsources import DockerLogSource
from tests.exporters.privatedocker import IMAGE, PrivateDocker
from tests.support.daemons import free_port, running

pytestmark = [pytest.mark.root, pytest.mark.docker]

EXPORTER = str(Path(sys.executable).parent / "swarmlet-exporter")
BLOB_BYTES = 64 * 1024 * 1024


@pytest.fixture
def docker(dockerd: PrivateDocker) -> Iterator[PrivateDocker]:
    """The session's engine; every container a test made is removed after it, pass or fail."""
    yield dockerd
    ids = dockerd.cli("ps", "-aq").split()
    if ids:
        dockerd.cli("rm", "-f", *ids)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(0.05)


def engine_stats(docker: PrivateDocker, container: str) -> dict[str, object]:
    """Docker's own one-shot stats (the slow API the exporter avoids), as a reference."""
    connection = http.client.HTTPConnection("docker")
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(docker.socket))
    connection.sock = sock
    connection.request("GET", f"/containers/{container}/stats?stream=false")
    answer: dict[str, object] = json.loads(connection.getresponse().read())
    return answer


def network_bytes_inside(docker: PrivateDocker, container: str) -> tuple[int, int]:
    """rx/tx of the container's interfaces but lo, as the container itself sees them."""
    received = transmitted = 0
    for line in docker.cli("exec", container, "cat", "/proc/net/dev").splitlines()[2:]:
        name, _, counters = line.partition(":")
        if name.strip() != "lo":
            columns = counters.split()
            received += int(columns[0])
            transmitted += int(columns[8])
    return received, transmitted


def samples(text: str) -> dict[str, float]:
    return {
        s.name + "".join(f"/{v}" for v in s.labels.values()): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_real_exporter_reports_what_docker_reports_for_a_real_container(
    docker: PrivateDocker, tmp_path: Path
) -> None:
    """A container that holds 64 MiB, burns some CPU and pings its gateway: the running
    swarmlet-exporter's memory, CPU and network figures match Docker's own stats API and
    the container's own /proc/net/dev, and the agent is up with no restarts."""
    docker.cli("network", "create", "--subnet", "10.213.7.0/24", "swxnet")
    try:
        docker.cli(
            "run", "-d", "--name", "swarmlet", "--network", "swxnet",
            "--tmpfs", "/data:size=96m", IMAGE, "sh", "-c",
            f"head -c {BLOB_BYTES} /dev/zero > /data/blob; "
            "for i in $(seq 1 150000); do :; done; "
            "ping -c 20 -s 1000 -i 0.05 10.213.7.1 > /dev/null; echo ready; exec sleep 3600",
        )  # fmt: skip
        wait_for(lambda: "ready" in docker.cli("logs", "swarmlet"), "the container's workload")
        port = free_port()
        argv = [
            EXPORTER, "--listen", f"127.0.0.1:{port}", "--docker-host", docker.host,
            "--agent-container", "swarmlet", "--collectors", "agent",
        ]  # fmt: skip
        with running(argv, "127.0.0.1", port, tmp_path / "exporter.log"):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/metrics")
            got = samples(connection.getresponse().read().decode())
            stats = engine_stats(docker, "swarmlet")
            # Last: `docker exec` runs in the container's cgroup and adds to its CPU time.
            inside = network_bytes_inside(docker, "swarmlet")
    finally:
        docker.cli("rm", "-f", "swarmlet", check=False)
        docker.cli("network", "rm", "swxnet", check=False)

    memory_stats = stats["memory_stats"]
    assert isinstance(memory_stats, dict)
    docker_memory = memory_stats["usage"] - memory_stats["stats"]["total_inactive_file"]
    cpu_stats = stats["cpu_stats"]
    assert isinstance(cpu_stats, dict)
    docker_cpu = cpu_stats["cpu_usage"]["total_usage"] / 1e9

    assert got["swarmlet_exporter_collector_success/agent"] == 1
    assert got["swarmlet_agent_up"] == 1
    assert got["swarmlet_agent_restarts_total"] == 0
    memory = got["swarmlet_agent_resident_memory_bytes"]
    assert BLOB_BYTES <= memory < BLOB_BYTES + 16 * 1024 * 1024
    # Read a moment apart: kernel memory of the exiting ping and such moves by some 100 KiB.
    assert memory == pytest.approx(docker_memory, abs=1024 * 1024)
    assert got["swarmlet_agent_cpu_seconds_total"] == pytest.approx(docker_cpu, abs=0.02)
    assert got["swarmlet_agent_cpu_seconds_total"] > 0.05
    received, transmitted = inside
    assert transmitted >= 20 * 1028
    # Read a moment apart: the odd ARP or IPv6 neighbour packet may pass in between.
    assert got["swarmlet_agent_network_transmit_bytes_total"] == pytest.approx(
        transmitted, abs=1024
    )
    assert got["swarmlet_agent_network_receive_bytes_total"] == pytest.approx(received, abs=1024)


def agent_values(collector: AgentCollector) -> dict[str, float]:
    families = list(collector.collect())
    return {s.name: s.value for f in families if isinstance(f, MetricFamily) for s in f.samples}


def test_restarts_and_recreation_of_a_real_container(docker: PrivateDocker, tmp_path: Path) -> None:
    """Two crashes restarted by Docker's policy, one `docker restart`, one `docker rm -f` and
    `docker run` under the same name: restarts 2, 3, 4; the collector follows each new PID
    and container; a stopped agent is down."""
    counter_dir = tmp_path / "state"
    counter_dir.mkdir()
    script = (
        "n=$(cat /state/n 2>/dev/null || echo 0); echo $((n+1)) > /state/n; "
        'if [ "$n" -lt 2 ]; then exit 1; fi; exec sleep 3600'
    )
    run = ["run", "-d", "--name", "swarmlet", "--network", "none", "--stop-timeout", "1"]
    docker.cli(*run, "--restart", "on-failure:5", "-v", f"{counter_dir}:/state", IMAGE,
               "sh", "-c", script)  # fmt: skip

    def running_with(restarts: int) -> bool:
        state = docker.inspect("swarmlet")
        # While Docker waits to restart it, State.Running is true but Status is "restarting".
        return state["RestartCount"] == restarts and state["State"]["Status"] == "running"  # type: ignore[index]

    wait_for(lambda: running_with(2), "two policy restarts")
    locator = ContainerLocator(DockerClient(docker.host), "swarmlet", Path("/proc"))
    collector = AgentCollector(locator, sys_root=Path("/sys"), proc_root=Path("/proc"))
    first = agent_values(collector)
    assert first["swarmlet_agent_up"] == 1
    assert first["swarmlet_agent_restarts_total"] == 2
    first_pid = docker.inspect("swarmlet")["State"]["Pid"]  # type: ignore[index]

    docker.cli("restart", "-t", "0", "swarmlet")
    wait_for(lambda: docker.inspect("swarmlet")["State"]["Pid"] not in (0, first_pid), "restart")  # type: ignore[index]
    assert agent_values(collector)["swarmlet_agent_restarts_total"] == 3

    docker.cli("rm", "-f", "swarmlet")
    docker.cli(*run, IMAGE, "sleep", "3600")
    recreated = agent_values(collector)
    assert recreated["swarmlet_agent_restarts_total"] == 4
    assert recreated["swarmlet_agent_up"] == 1
    assert recreated["swarmlet_agent_resident_memory_bytes"] > 0

    docker.cli("kill", "swarmlet")
    wait_for(lambda: not docker.inspect("swarmlet")["State"]["Running"], "the container to stop")  # type: ignore[index]
    assert agent_values(collector) == {"swarmlet_agent_up": 0, "swarmlet_agent_restarts_total": 4}


@pytest.mark.parametrize("tty", [False, True], ids=["multiplexed", "tty"])
def test_join_phases_from_a_real_containers_log(docker: PrivateDocker, tty: bool) -> None:
    """The seed's three lines printed 0.5 s and 0.3 s apart: the phases read from Docker's
    log timestamps match; after the join no more logs are fetched."""
    docker.cli(
        "run", "-d", *(["-t"] if tty else []), "--name", "swarmlet", "--network", "none", IMAGE,
        "sh", "-c",
        "echo 'Hardware profile: 2 cores'; sleep 0.5; echo 'Network latency: 0.1ms'; "
        "sleep 0.3; echo 'Successfully joined cluster lab'; exec sleep 3600",
    )  # fmt: skip
    wait_for(lambda: "Successfully joined" in docker.cli("logs", "swarmlet"), "the join lines")

    class CountingClient(DockerClient):
        log_reads = 0

        def container_logs(self, container: str, *, since: float | None) -> tuple[bytes, bool]:
            CountingClient.log_reads += 1
            return super().container_logs(container, since=since)

    client = CountingClient(docker.host)
    locator = ContainerLocator(client, "swarmlet", Path("/proc"))
    collector = JoinCollector(
        DockerLogSource(client, locator.container_run), JoinPatterns.default()
    )
    families = list(collector.collect())
    for _ in range(3):
        list(collector.collect())
    phases = {
        s.labels[0][1]: s.value
        for f in families
        if f.name == "swarmlet_join_phase_seconds"
        for s in f.samples
    }
    assert 0 <= phases["hardware_profiling"] < 2
    assert 0.45 <= phases["network_discovery"] < 1.5
    assert 0.25 <= phases["certificate_exchange"] < 1.2
    assert phases["total"] == pytest.approx(
        phases["hardware_profiling"] + phases["network_discovery"] + phases["certificate_exchange"]
    )
    assert CountingClient.log_reads == 1
