"""ansible/site.yml prepares a lab node over SSH for real, and a second run changes nothing.

The whole playbook runs against rpi-1 of the session's lab, through the Ansible inventory
generated from the lab's swarmscope inventory (SSH with the lab's key, host keys checked
against its known_hosts). Lab nodes are network namespaces sharing this machine's files and
packages and have no package index, so the run is pointed at lab-safe places: everything
it installs goes under the test's directory, services use the pid-file manager (there is no
systemd here), the exporters listen on ports that do not clash with the lab's own (9877,
9100), pip installs from wheels this test downloads once and serves to the node over HTTP,
the kernel command line is a file of the test, and nothing reboots.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drivers.inventory import Inventory
from drivers.lab import load_state
from drivers.provision.ansible_inventory import render
from drivers.provision.wheel import build_wheel, packaged_files
from drivers.thresholds import REPO_ROOT
from tests.ansible.runner import (
    ANSIBLE_DIR,
    PlaybookRun,
    processes_mentioning,
    run_playbook,
    stop_ssh_masters,
)
from tests.support.daemons import free_port, wait_for_port

pytestmark = [pytest.mark.root, pytest.mark.lab]

NODE = "rpi-1"
PI_CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootwait"
SERVICES = ("swarmlet-exporter", "prometheus-node-exporter", "swarmscope-locust-worker")


@dataclass
class Provisioned:
    inventory: Inventory
    work: Path
    variables: dict[str, Any]
    first: PlaybookRun
    second: PlaybookRun | None = None
    pids_after_first: dict[str, int] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)  # as the master saw them

    @property
    def address(self) -> str:
        return self.inventory.node(NODE).address

    def pidfile(self, service: str) -> Path:
        run_dirs = {
            "swarmlet-exporter": Path(self.variables["swarmlet_exporter_prefix"]) / "run",
            "prometheus-node-exporter": Path(self.variables["node_exporter_run_dir"]),
            "swarmscope-locust-worker": Path(self.variables["locust_worker_prefix"]) / "run",
        }
        return run_dirs[service] / f"{service}.pid"

    def pids(self) -> dict[str, int]:
        return {service: int(self.pidfile(service).read_text()) for service in SERVICES}


def _get(url: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@contextlib.contextmanager
def _process(argv: list[str], log: Path, host: str, port: int) -> Iterator[None]:
    """A helper process of this test (wheel server, Locust master), stopped by its PID."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        try:
            wait_for_port(host, port, timeout=30)
        except TimeoutError:
            raise RuntimeError(f"{argv[:4]} did not start: {log.read_text()[-1500:]}") from None
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _snapshot(destination: Path) -> Path:
    """The packaged files as they are now: other work in the checkout cannot change the wheel
    between the two runs (which would rightly make the second run reinstall)."""
    for relative in packaged_files(REPO_ROOT):
        (destination / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, destination / relative)
    return destination


def _stop(pidfile: Path) -> None:
    script = pidfile.with_suffix(".sh")
    if script.exists():
        subprocess.run([str(script), "stop"], capture_output=True, check=False, timeout=30)
    if pidfile.exists():  # the script could not stop it: by its PID, never by name
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)


@pytest.fixture(scope="module")
def provisioned(
    lab_inventory: Inventory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provisioned]:
    work = tmp_path_factory.mktemp("ansible-lab")
    hosts = work / "hosts.yml"
    hosts.write_text(render(lab_inventory))
    spec = load_state(lab_inventory.name).spec
    host = spec.host_address  # this machine, as the lab nodes reach it

    # Wheels for the node: swarmscope's, then its dependencies and Locust's, downloaded
    # once here (this machine reaches the package index; the nodes do not).
    source = _snapshot(work / "source")
    cache = work / "wheels"
    wheel = build_wheel(source, cache)
    wheelhouse = work / "wheelhouse"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"),
            *("--dest", str(wheelhouse), f"{wheel}[load]"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel_port, master_port, web_port = free_port(host), free_port(host), free_port()
    node_dir = spec.node_dir(NODE)
    cmdline = work / "cmdline.txt"
    cmdline.write_text(PI_CMDLINE + "\n")
    pip_args = [
        "--no-index",
        "--find-links",
        f"http://{host}:{wheel_port}/",
        "--trusted-host",
        host,
    ]
    variables: dict[str, Any] = {
        "swarmscope_wheel_source": str(source),
        "swarmscope_wheel_cache_dir": str(cache),
        # docker: the node's own engine, run by the lab; the Pi's cmdline is a test file.
        "docker_service_manager": "none",
        "docker_socket": lab_inventory.node(NODE).engine_url.removeprefix("unix://"),
        "docker_users": [],
        "docker_cmdline_file": str(cmdline),
        "docker_reboot": False,
        "node_exporter_service_manager": "none",
        "node_exporter_port": free_port(),
        "node_exporter_run_dir": str(work / "node-exporter"),
        "swarmlet_exporter_service_manager": "none",
        "swarmlet_exporter_prefix": str(work / "swarmlet-exporter"),
        "swarmlet_exporter_user": "root",
        "swarmlet_exporter_create_user": False,
        "swarmlet_exporter_port": free_port(),
        "swarmlet_exporter_mesh_listen": f"0.0.0.0:{free_port()}",
        "swarmlet_exporter_agent_args": ["--agent-pidfile", str(node_dir / "docker.pid")],
        "swarmlet_exporter_pip_args": pip_args,
        "locust_worker_service_manager": "none",
        "locust_worker_prefix": str(work / "locust-worker"),
        "locust_worker_user": "root",
        "locust_worker_create_user": False,
        "locust_worker_master_host": host,
        "locust_worker_master_port": master_port,
        "locust_worker_pip_args": pip_args,
    }
    master = [
        sys.executable,
        *("-m", "drivers.load.run_locust", "messages", "--master"),
        *("--master-bind-host", host, "--master-bind-port", str(master_port)),
        *("--web-host", "127.0.0.1", "--web-port", str(web_port)),
    ]
    server = [sys.executable, "-m", "http.server", str(wheel_port), "--bind", host]
    state: Provisioned | None = None
    try:
        with (
            _process([*server, "-d", str(wheelhouse)], work / "wheels.log", host, wheel_port),
            _process(master, work / "locust-master.log", "127.0.0.1", web_port),
        ):

            def apply() -> PlaybookRun:
                started = time.monotonic()
                try:
                    return _apply()
                finally:
                    print(f"site.yml on {NODE}: {time.monotonic() - started:.1f} s")

            def _apply() -> PlaybookRun:
                return run_playbook(
                    ANSIBLE_DIR / "site.yml",
                    hosts,
                    work / "ansible",
                    extra_vars=variables,
                    args=["--limit", NODE],
                    timeout=900,
                )

            state = Provisioned(lab_inventory, work, variables, apply())
            assert state.first.returncode == 0, state.first.tail(80)
            state.pids_after_first = state.pids()
            stats = json.loads(_get(f"http://127.0.0.1:{web_port}/stats/requests"))
            state.workers = stats["workers"]
            state.second = apply()
            yield state
    finally:
        for service in SERVICES:
            if state is not None:
                _stop(state.pidfile(service))
        stop_ssh_masters(work / "ansible")
        for stray in processes_mentioning(work):  # anything the scripts lost track of
            with contextlib.suppress(ProcessLookupError):
                os.kill(stray, signal.SIGKILL)


def test_first_run_installs_and_starts_everything(provisioned: Provisioned) -> None:
    """Run 1 changes the node and ends with every role's own check passing."""
    recap = provisioned.first.recap[NODE]
    assert (recap.failed, recap.unreachable) == (0, 0)
    assert recap.changed > 0
    for check in (
        "docker : Check that the Docker engine answers on its socket",
        "monitoring_tools : Check that every tool runs",
        "node_exporter : Check that /metrics answers on node_exporter's port",
        "swarmlet_exporter : Check that /metrics answers on the exporter's port",
        "locust_worker : Check that the worker reaches the Locust master's port",
    ):
        assert f"TASK [{check}]" in provisioned.first.output


def test_second_run_changes_nothing(provisioned: Provisioned) -> None:
    """Idempotent: the same playbook again reports changed=0 and restarts no service."""
    assert provisioned.second is not None
    recap = provisioned.second.recap[NODE]
    assert (recap.changed, recap.failed) == (0, 0), provisioned.second.changed_tasks()
    assert provisioned.pids() == provisioned.pids_after_first


def test_swarmlet_exporter_answers_on_the_nodes_address(provisioned: Provisioned) -> None:
    """/metrics of the installed exporter answers at the node's own address (so it runs in
    the node's namespace), names the node, and probes the lab's other nodes over the mesh."""
    port = provisioned.variables["swarmlet_exporter_port"]
    url = f"http://{provisioned.address}:{port}/metrics"
    deadline = time.monotonic() + 30
    while True:
        text = _get(url)
        if 'destination="gpu-primary"' in text or time.monotonic() > deadline:  # probes at 1 Hz
            break
        time.sleep(1)
    assert 'swarmlet_exporter_collector_success{collector="agent"} 1.0' in text
    probes = [
        line
        for line in text.splitlines()
        if line.startswith("swarmlet_mesh_probes_total{")
        and 'destination="gpu-primary"' in line
        and 'source="rpi-1"' in line
    ]
    assert probes, text[-3000:]


def test_node_exporter_answers_on_the_nodes_address(provisioned: Provisioned) -> None:
    """The distribution's node_exporter runs on the port variable, at the node's address."""
    port = provisioned.variables["node_exporter_port"]
    assert "node_exporter_build_info" in _get(f"http://{provisioned.address}:{port}/metrics")


def test_locust_worker_joined_the_master_from_the_node(provisioned: Provisioned) -> None:
    """The worker service connected to the master; its id carries the node's hostname."""
    assert [w["id"].split("_")[0] for w in provisioned.workers] == [NODE]


def test_cgroup_flags_were_appended_once(provisioned: Provisioned) -> None:
    """The Pi's kernel command line got the three flags once, across both runs."""
    text = Path(provisioned.variables["docker_cmdline_file"]).read_text()
    assert text == f"{PI_CMDLINE} cgroup_enable=cpuset cgroup_enable=memory cgroup_memory=1\n"
