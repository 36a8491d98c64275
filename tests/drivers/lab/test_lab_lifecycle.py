"""`lab up` / `lab down` through the real CLI leave the host exactly as they found it: after a
clean run, a second run, a refused duplicate, a Ctrl-C and a kill -9 of `lab up`.

Each test runs the CLI in a Sandbox (tests/drivers/lab/hoststate.py): a private network and
mount namespace that stands in for the host, so the exact before/after comparison is not
disturbed by whatever else runs on this machine meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from drivers.inventory import Inventory
from drivers.lab import LAB_IMAGE, load_state
from drivers.lab.spec import cgroup_root, state_dir_for
from drivers.lab.state import STATE_FILE, LabState
from tests.conftest import session_lab_name
from tests.drivers.lab.hoststate import Sandbox, lab_processes, sandbox, snapshot, still_running

pytestmark = [pytest.mark.root, pytest.mark.lab]


CLI = [sys.executable, "-m", "drivers"]


def swarmscope(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def box() -> Iterator[Sandbox]:
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (CI runs as root)")
    with sandbox() as made:
        yield made


@pytest.fixture
def lab_name(box: Sandbox) -> Iterator[str]:
    """A lab name for this test only; the lab is removed afterwards whatever happened."""
    name = session_lab_name(f"lc{time.monotonic_ns() % 100000}")
    yield name
    box.run([*CLI, "lab", "down", "--name", name])


def _state_when(name: str, ready: Callable[[LabState], bool], timeout: float) -> LabState:
    """Poll the state file of a lab being built until ``ready`` says so."""
    path = state_dir_for(name) / STATE_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = LabState.load(path.parent)
            if ready(state):
                return state
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"the lab never reached the expected stage: {path}")


def _limits(state: LabState, node: str) -> tuple[int, int]:
    path = f"{state.spec.cgroup}/{node}/containers"
    quota = int(Path(f"/sys/fs/cgroup/cpu{path}/cpu.cfs_quota_us").read_text())
    memory = int(Path(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes").read_text())
    return quota, memory


def _check_container_is_limited(state: LabState) -> None:
    """A container on a limited Pi lives under its node's cgroup and is OOM-killed when it
    allocates more than the node's memory limit."""
    engine = docker.DockerClient(base_url=f"unix://{state.spec.node_dir('rpi-1')}/docker.sock")
    try:
        cgroup = engine.containers.run(
            LAB_IMAGE, ["cat", "/proc/self/cgroup"], remove=True, init=True
        ).decode()
        assert f":memory:{state.spec.cgroup}/rpi-1/containers/" in cgroup
        hog = engine.containers.run(
            LAB_IMAGE,
            ["sh", "-c", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived"],
            detach=True,
        )
        try:
            outcome = hog.wait(timeout=60)
            assert outcome["StatusCode"] == 137  # SIGKILL by the OOM killer
            hog.reload()
            assert hog.attrs["State"]["OOMKilled"]
        finally:
            hog.remove(force=True)
    finally:
        engine.close()


def test_up_status_down_twice_leaves_the_host_as_found(box: Sandbox, lab_name: str) -> None:
    """up → status (all Ready, targets up) → refused duplicate up → down → host identical;
    down again is harmless; a second up after down works and its down is clean too."""
    lab_root = cgroup_root(lab_name)
    before = snapshot(box, lab_root)

    def swarmscope(*args: str) -> subprocess.CompletedProcess[str]:
        return box.run([*CLI, *args])

    for round_number in (1, 2):
        up = swarmscope(
            "lab", "up", "--name", lab_name, "--nodes", "2", "--cpus", "0.5", "--memory", "256M"
        )
        assert up.returncode == 0, up.stderr
        assert "inventory:" in up.stdout
        assert "rpi-1" in up.stderr
        assert "joined" in up.stderr
        # Healthy means exit 0; a loaded host can fail one scrape, so allow a few seconds.
        for _attempt in range(10):
            shown = swarmscope("lab", "status", "--name", lab_name)
            if shown.returncode == 0:
                break
            time.sleep(2)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert shown.stdout.count(" ready ") == 2
        assert "down:" not in shown.stdout
        state = load_state(lab_name)
        # A Pi's containers are held to its limits; gpu-primary is not limited.
        assert _limits(state, "rpi-1") == (50_000, 256 * 2**20)
        if round_number == 1:
            _check_container_is_limited(state)
        if round_number == 1:
            again = swarmscope("lab", "up", "--name", lab_name, "--nodes", "2")
            assert again.returncode == 2
            assert again.stderr.strip().count("\n") == 0
            assert "already exists" in again.stderr
            assert "lab down" in again.stderr
        processes = lab_processes(state)
        assert len(processes) >= 2 * 4 + 3  # per node 4 daemons (+containerd), 3 monitoring
        removed = swarmscope("lab", "down", "--name", lab_name)
        assert removed.returncode == 0, removed.stderr
        assert still_running(processes) == []
        assert before.differences(snapshot(box, lab_root)) == []
        assert not state_dir_for(lab_name).exists()
        twice = swarmscope("lab", "down", "--name", lab_name)
        assert twice.returncode == 0, twice.stderr
        assert "nothing to remove" in twice.stdout


def _start_up(box: Sandbox, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        box.argv([*CLI, "lab", "up", "--name", name, "--nodes", "3"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _half_built(state: LabState) -> bool:
    return "sshd@rpi-1" in state.processes and state.phase == "building"


def test_a_killed_up_is_removed_by_down(box: Sandbox, lab_name: str) -> None:
    """kill -9 of `lab up` half-way leaves daemons, namespaces and mounts; `lab down` finds
    and removes all of them."""
    lab_root = cgroup_root(lab_name)
    before = snapshot(box, lab_root)
    builder = _start_up(box, lab_name)
    try:
        state = _state_when(lab_name, _half_built, timeout=60)
        builder.send_signal(signal.SIGKILL)
    finally:
        builder.communicate(timeout=30)
    time.sleep(0.5)  # let anything it had just spawned register in the lab's cgroups
    state = LabState.load(state_dir_for(lab_name))
    processes = lab_processes(state)
    assert processes, "the killed up left nothing running: the test did not test anything"
    assert before.differences(snapshot(box, lab_root)) != []
    removed = box.run([*CLI, "lab", "down", "--name", lab_name])
    assert removed.returncode == 0, removed.stderr
    assert still_running(processes) == []
    assert before.differences(snapshot(box, lab_root)) == []


def test_ctrl_c_during_up_removes_what_it_built(box: Sandbox, lab_name: str) -> None:
    """Ctrl-C (SIGINT) during `lab up` exits 130 after removing everything it had built."""
    lab_root = cgroup_root(lab_name)
    before = snapshot(box, lab_root)
    builder = _start_up(box, lab_name)
    try:
        state = _state_when(lab_name, _half_built, timeout=60)
        processes = lab_processes(state)
        builder.send_signal(signal.SIGINT)
        _stdout, stderr = builder.communicate(timeout=120)
    finally:
        if builder.poll() is None:
            builder.kill()
            builder.communicate()
    assert builder.returncode == 130, stderr
    assert "removing what was built" in stderr
    assert still_running(processes) == []
    assert before.differences(snapshot(box, lab_root)) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["lab", "up", "--nodes", "0"], "--nodes 0: a lab has 1 to"),
        (["lab", "up", "--memory", "lots"], "--memory 'lots': write it like 512M"),
        (["lab", "up", "--subnet", "8.8.8.0/24"], "use a private range"),
        (["lab", "up", "--name", "Bad_Name"], "lab name 'Bad_Name'"),
        (["lab", "status", "--name", "no-such-lab"], "no lab named 'no-such-lab'"),
        (["lab", "link", "wifi", "--name", "no-such-lab"], "no lab named 'no-such-lab'"),
    ],
)
def test_bad_input_is_one_line(args: list[str], expected: str) -> None:
    """Bad arguments or a missing lab: one `swarmscope: error:` line, non-zero, no traceback."""
    if os.geteuid() != 0:
        pytest.skip("the lab checks root before its arguments")
    result = swarmscope(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("swarmscope: error: ")
    assert expected in lines[0]


def test_status_json_is_machine_readable(lab_inventory: Inventory) -> None:
    """`lab status --json` gives nodes, targets and URLs as JSON, exit 0 when all is well."""
    result = swarmscope("lab", "status", "--name", lab_inventory.name, "--json")
    assert result.returncode == 0, result.stdout
    data = json.loads(result.stdout)
    assert {n["name"] for n in data["nodes"]} >= {"gpu-primary", "rpi-1"}
    assert data["urls"]["prometheus"].startswith("http://")
