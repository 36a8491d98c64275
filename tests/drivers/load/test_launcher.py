"""Distributed Locust as swarmscope starts it: master here, a worker over real SSH, all stopped."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.inventory import Node, SshSettings
from drivers.load.launcher import LocustPlan, LocustRun, remote_start_script
from drivers.remote import SshPool
from exporters.mesh.peers import read
from exporters.mesh.streams import StreamServer
from tests.support.daemons import free_port
from tests.support.mesh import streams_server, write_peers
from tests.support.sshd import SshServer, sshd_on_loopback


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with sshd_on_loopback(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture
def server() -> Iterator[StreamServer]:
    with streams_server() as running:
        yield running


def _node(server: SshServer) -> Node:
    ssh = SshSettings(server.user, server.port, server.client_key, server.known_hosts)
    return Node(name="rpi-1", address=server.host, role="worker", type="rpi", ssh=ssh)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


@pytest.mark.root
def test_worker_over_ssh_runs_the_load_and_every_process_is_stopped(
    sshd: SshServer, server: StreamServer, tmp_path: Path
) -> None:
    """The node's worker sends as that node; the master's summary has it; no process remains."""
    mesh = read(write_peers(tmp_path / "peers.json", {"rpi-1": free_port(), "b": server.port}))
    plan = LocustPlan(
        locustfile="messages",
        worker_nodes=(_node(sshd),),
        user_classes=("MessageStreamUser",),
        users=1,
        spawn_rate=1,
        run_time=3,
        master_port=free_port(),
        mesh=mesh,
        node_python=sys.executable,
        summary_file=tmp_path / "summary.json",
    )
    with SshPool() as ssh:
        run = LocustRun(plan, ssh, tmp_path / "logs").start()
        try:
            (worker,) = run.remote
            assert _alive(worker.pid)
            code = run.wait()
        finally:
            run.stop()
    assert code == 0, run.master_log.read_text()[-2000:]
    assert not _alive(worker.pid)
    summary = json.loads((tmp_path / "summary.json").read_text())
    (stats,) = summary["stats"]
    assert (stats["name"], stats["failures"]) == ("rpi-1->b", 0)
    assert stats["requests"] > 10
    worker_log = (tmp_path / "logs" / "locust-worker-rpi-1.log").read_text()
    assert "Starting Locust" in worker_log
    assert not Path(worker.log).exists()  # fetched and removed from the node


def test_remote_start_script_is_bounded_and_quoted() -> None:
    """Workers run under timeout in their own session; arguments survive the remote shell."""
    script = remote_start_script(
        ["python3", "-m", "x", "--doc", '{"a": 1}'], {"SWARMSCOPE_NODE": "rpi 1"}, 90, "/tmp/l"
    )
    assert script == (
        "SWARMSCOPE_NODE='rpi 1' setsid timeout -k 5 90 python3 -m x --doc '{\"a\": 1}' "
        ">/tmp/l 2>&1 </dev/null & echo $!"
    )
