"""Faults on the real lab over SSH: they outlive a SIGKILLed controller only as long as
their duration, and `swarmscope fault revert --all` from a new process restores every node.

The controller here is a separate Python process that applies faults through SSH exactly
as `swarmscope fault` does, then is killed with SIGKILL: no cleanup code of it runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from drivers.cluster.dockerswarm import DockerSwarmBackend
from drivers.inventory import Inventory
from drivers.lab import LabState
from drivers.results import RunDirectory

pytestmark = [pytest.mark.root, pytest.mark.lab]

CONTROLLER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from drivers.faults.injector import FaultInjector
    from drivers.faults.kinds import Bandwidth, Netem, Partition, PowerOff
    from drivers.inventory import load_inventory
    from drivers.remote import SshPool

    inventory = load_inventory(Path(sys.argv[1]))
    injector = FaultInjector(inventory, SshPool())
    manager = inventory.manager.address
    requests = {
        "partition": lambda: Partition((manager,), ("gpu-primary",)),
        "netem": lambda: Netem(delay_seconds=0.02),
        "bandwidth": lambda: Bandwidth(rate_bits=10_000_000),
        "poweroff": lambda: PowerOff(),
    }
    ids = []
    for item in sys.argv[3:]:
        kind, node = item.split("@")
        ids.append(injector.apply(requests[kind](), node, float(sys.argv[2])).id)
    print("applied", *ids, flush=True)
    time.sleep(600)
    """
)


def run_controller_and_kill_it(inventory: Inventory, duration: float, *faults: str) -> list[str]:
    """Start a controller that applies ``faults`` (KIND@NODE), SIGKILL it once they are
    applied; return the fault ids."""
    process = subprocess.Popen(
        [sys.executable, "-c", CONTROLLER, str(inventory.path), str(duration), *faults],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("applied "):
            process.kill()
            raise AssertionError(f"controller failed: {process.communicate()[1][-2000:]}")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    return line.split()[1:]


def in_node(state: LabState, node: str, *argv: str) -> str:
    netns = state.spec.node_netns(node)
    return subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", "--", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


def firewall_and_qdiscs(state: LabState, node: str) -> list[str]:
    """A node's iptables rules and chains and all its qdiscs (also tbf's inner fifo),
    sorted, without counters, and with the fifo's handle blanked: the one a revert puts
    back inside the link profile's tbf has a handle of its own, the same limit. What
    dockerd keeps for its containers (DOCKER chains, container veths) is left out: a
    powered-off node's containers do not come back, their replacements run elsewhere."""
    rules = [
        re.sub(r"\[\d+:\d+\]", "", line)
        for line in in_node(state, node, "iptables-save").splitlines()
        if line.startswith(("-", ":")) and "DOCKER" not in line and "docker" not in line
    ]
    qdiscs = [
        re.sub(r"^qdisc ([bp]fifo) \w+:", r"qdisc \1 *:", line)
        for line in in_node(state, node, "tc", "qdisc", "show", "invisible").splitlines()
        if " dev veth" not in line
    ]
    return sorted(rules) + sorted(qdiscs)


def processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line contains ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in argv and state != "Z" and int(cmdline.parent.name) != os.getpid():
            found.append(argv.strip())
    return found


def fault_dir(inventory: Inventory, node: str) -> Path:
    assert inventory.lab_state_dir is not None
    return inventory.lab_state_dir / "faults" / node


def swarm_states(inventory: Inventory) -> dict[str, str]:
    backend = DockerSwarmBackend(inventory)
    try:
        return {n.name: n.state.value for n in backend.nodes()}
    finally:
        backend.close()


def test_sigkilled_controller_leaves_nothing_after_the_duration(
    lab_inventory: Inventory, lab_state: LabState
) -> None:
    """Partition, delay and bandwidth cap on rpi-1 stay in force after the controller is
    SIGKILLed, and are gone after their 6 s: the node's iptables and qdiscs are exactly as
    before, and no process (timer, delayer) mentioning the faults is left."""
    before = firewall_and_qdiscs(lab_state, "rpi-1")
    ids = run_controller_and_kill_it(
        lab_inventory, 6.0, "partition@rpi-1", "netem@rpi-1", "bandwidth@rpi-1"
    )
    killed_at = time.monotonic()
    assert len(ids) == 3
    during = "\n".join(firewall_and_qdiscs(lab_state, "rpi-1"))
    assert "SSF-" in during
    assert f"-d {lab_inventory.manager.address}/32 -j DROP" in during
    assert "qdisc htb" in during
    assert processes_mentioning(f"{fault_dir(lab_inventory, 'rpi-1')}/netem-")
    deadline = killed_at + 40
    while time.monotonic() < deadline:
        if firewall_and_qdiscs(lab_state, "rpi-1") == before and not processes_mentioning(
            str(fault_dir(lab_inventory, "rpi-1"))
        ):
            break
        time.sleep(0.5)
    assert firewall_and_qdiscs(lab_state, "rpi-1") == before
    assert processes_mentioning(str(fault_dir(lab_inventory, "rpi-1"))) == []
    log = (fault_dir(lab_inventory, "rpi-1") / "reverted.log").read_text().splitlines()
    reverted = {line.split()[0]: line.split()[2] for line in log}
    assert {fault_id: reverted.get(fault_id) for fault_id in ids} == dict.fromkeys(ids, "timer")


def swarmscope(inventory: Inventory, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drivers", "fault", *argv, "--inventory", str(inventory.path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_revert_all_after_a_crash_restores_every_node(
    lab_inventory: Inventory, lab_state: LabState
) -> None:
    """After the controller died with a partition on rpi-1, a bandwidth cap on rpi-2 and
    rpi-3 powered off (link cut, engine killed), a new `fault list` shows all three with
    live timers, and `fault revert --all` puts everything back: rules and qdiscs as before,
    rpi-3's engine running and Ready in the swarm again."""
    before = {n: firewall_and_qdiscs(lab_state, n) for n in ("rpi-1", "rpi-2", "rpi-3")}
    ids = run_controller_and_kill_it(
        lab_inventory, 600.0, "partition@rpi-1", "bandwidth@rpi-2", "poweroff@rpi-3"
    )
    try:
        listed = swarmscope(lab_inventory, "list")
        assert listed.returncode == 0, listed.stderr
        for fault_id in ids:
            assert re.search(rf"^{re.escape(fault_id)} .* alive ", listed.stdout, re.M), (
                listed.stdout
            )
        assert processes_mentioning(f"{lab_state.spec.node_dir('rpi-3')}/docker.pid") == []
    finally:
        reverted = swarmscope(lab_inventory, "revert", "--all")
    assert reverted.returncode == 0, reverted.stderr
    assert sorted(re.findall(r"^(\S+): reverted$", reverted.stdout, re.M)) == sorted(ids)
    for node, rules in before.items():
        assert firewall_and_qdiscs(lab_state, node) == rules, node
    deadline = time.monotonic() + 90
    while swarm_states(lab_inventory).get("rpi-3") != "ready" and time.monotonic() < deadline:
        time.sleep(1)
    assert swarm_states(lab_inventory)["rpi-3"] == "ready"
    assert LabState.load(lab_state.spec.state_dir).processes["dockerd@rpi-3"].is_same_process()
    again = swarmscope(lab_inventory, "list")
    assert again.returncode == 0
    assert again.stdout.strip() == "no active faults"
    for node in ("rpi-1", "rpi-2", "rpi-3"):
        assert processes_mentioning(str(fault_dir(lab_inventory, node))) == []


def test_the_cli_waits_for_the_revert_and_ctrl_c_reverts_at_once(
    lab_inventory: Inventory, lab_state: LabState, tmp_path: Path
) -> None:
    """`fault partition` waits until the node reports its timer's revert and records the
    window in the run directory; Ctrl-C during a long fault reverts it at once (exit 130)."""
    before = firewall_and_qdiscs(lab_state, "rpi-1")
    run = RunDirectory.create(tmp_path, lab_inventory, "cli-run")
    waited = swarmscope(
        lab_inventory, "partition", "--nodes", "rpi-1", "--from", "gpu-primary",
        "--duration", "3s", "--run-dir", str(run.path),
    )  # fmt: skip
    assert waited.returncode == 0, waited.stderr
    assert re.search(r"^partition-\w{4}@rpi-1: reverted by the timer at ", waited.stdout, re.M)
    windows = json.loads((run.path / "faults.json").read_text())["faults"]
    assert [(w["kind"], w["target"], w["reverted_by"]) for w in windows] == [
        ("partition", "rpi-1", "timer")
    ]
    assert 2.5 < windows[0]["reverted_at"] - windows[0]["applied_at"] < 6
    process = subprocess.Popen(
        [sys.executable, "-m", "drivers", "fault", "bandwidth", "--nodes", "rpi-1",
         "--rate", "5mbit", "--duration", "10m", "--inventory", str(lab_inventory.path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "bandwidth on rpi-1 via tc htb" in line, process.stderr.read() if process.stderr else ""
    assert "qdisc htb" in "\n".join(firewall_and_qdiscs(lab_state, "rpi-1"))
    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted: reverting now" in err
    assert firewall_and_qdiscs(lab_state, "rpi-1") == before
