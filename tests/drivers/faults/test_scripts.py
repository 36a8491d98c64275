"""The fault scripts against the real kernel, in two network namespaces of their own.

A target namespace and a peer namespace joined by a veth pair; scripts run in the target as
they would on a node (here through the "console", nsenter, so no sshd is needed; the lab
tests cover SSH). Each test checks the fault's real effect (packets dropped, rate capped,
delay added, processes running) and that nothing of it is left afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.faults.kinds import (
    Bandwidth,
    FaultRequest,
    LabHooks,
    Netem,
    Partition,
    PlanContext,
    Stress,
)
from drivers.faults.model import FaultRecord, new_fault_id, parse_fault_id
from drivers.faults.protocol import (
    apply_script,
    list_script,
    parse_apply_output,
    parse_list_output,
    revert_one_script,
)
from drivers.faults.transport import ConsoleRunner
from drivers.remote import CommandResult

pytestmark = pytest.mark.root
TARGET_ADDRESS = "192.0.2.1"
PEER_ADDRESS = "192.0.2.2"


@dataclass
class Pair:
    target: ConsoleRunner
    target_ns: str
    peer_ns: str
    state_dir: Path

    def in_target(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return _in(self.target_ns, argv, timeout)

    def in_peer(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return _in(self.peer_ns, argv, timeout)

    def firewall_and_qdiscs(self) -> str:
        """The target's iptables rules, user chains and non-default policies, and its
        qdiscs (an empty table that iptables merely loaded is no difference)."""
        kept = []
        for line in self.in_target("iptables-save").stdout.splitlines():
            if line.startswith("-A") or (
                line.startswith(":") and not re.match(r":[A-Z]+ ACCEPT ", line)
            ):
                kept.append(re.sub(r"\[\d+:\d+\]", "", line))
        return "\n".join(kept) + "\n" + self.in_target("tc", "qdisc", "show").stdout


def _in(netns: str, argv: tuple[str, ...], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CI runs as root)")
    for tool in ("ip", "iptables", "tc", "setsid", "stress-ng", "ping"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.skip(f"{tool} is not installed (make setup installs it)")
    tag = f"ssf{os.getpid()}"
    target_ns, peer_ns = f"{tag}-target", f"{tag}-peer"
    state_dir = tmp_path_factory.mktemp("faults")
    created: list[str] = []
    try:
        for ns in (target_ns, peer_ns):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            created.append(ns)
        subprocess.run(
            [
                "ip",
                "-n",
                target_ns,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                peer_ns,
            ],
            check=True,
        )
        for ns, address in ((target_ns, TARGET_ADDRESS), (peer_ns, PEER_ADDRESS)):
            subprocess.run(
                ["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0"], check=True
            )
            subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        yield Pair(ConsoleRunner("target", target_ns, None), target_ns, peer_ns, state_dir)
    finally:
        # Whatever a failed test left armed: revert it, then stop what is still ours.
        if created:
            with contextlib.suppress(Exception):
                runner = ConsoleRunner("target", target_ns, None)
                for revert in state_dir.glob("*.revert"):
                    runner.run(f"sh {revert} hand", 60)
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], check=False)


def apply(pair: Pair, request: FaultRequest, duration: float) -> tuple[FaultRecord, CommandResult]:
    """What FaultInjector.apply does, with the target's console instead of SSH."""
    fault = parse_fault_id(new_fault_id(request.kind, "target"))
    context = PlanContext(
        fault=fault,
        state_dir=str(pair.state_dir),
        node="target",
        reference_address=PEER_ADDRESS,
        duration=duration,
        lab=LabHooks(sys.executable, pair.state_dir),
    )
    plan = request.plan(context)
    record = FaultRecord(
        fault.text, request.kind, "target", duration, time.time(), request.params(), plan.mechanism
    )
    result = pair.target.run(apply_script(plan, record, str(pair.state_dir)), 60)
    outcome = parse_apply_output(result.stdout)
    return record.with_(applied_at=outcome.applied_at, mechanism=outcome.mechanism or ""), result


def revert(pair: Pair, fault_id: str) -> str:
    return pair.target.run(revert_one_script(str(pair.state_dir), fault_id), 60).stdout


def reachable(pair: Pair, *, from_peer: bool = False) -> bool:
    run = pair.in_peer if from_peer else pair.in_target
    address = TARGET_ADDRESS if from_peer else PEER_ADDRESS
    return run("ping", "-c", "1", "-W", "1", "-q", address).returncode == 0


def revert_log(pair: Pair) -> list[list[str]]:
    path = pair.state_dir / "reverted.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def fault_files(pair: Pair, fault_id: str) -> list[str]:
    return sorted(p.name for p in pair.state_dir.glob(f"{fault_id}.*"))


def live_members(group: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == group:
                members.append(int(stat.parent.name))
    return members


def test_partition_drops_peer_traffic_until_the_timer_reverts_it(pair: Pair) -> None:
    """Both directions are cut while the fault lasts; the target's own timer restores the
    exact rules it found, with no controller involved after the apply."""
    before = pair.firewall_and_qdiscs()
    assert reachable(pair)
    record, result = apply(pair, Partition((PEER_ADDRESS,)), duration=3.0)
    assert result.ok, result.stderr
    assert not reachable(pair)
    assert not reachable(pair, from_peer=True)
    listed, problems = parse_list_output(
        pair.target.run(list_script(str(pair.state_dir)), 30).stdout, "target"
    )
    assert problems == []
    assert [(item.record.id, item.timer_alive) for item in listed] == [(record.id, True)]
    deadline = time.monotonic() + 10
    while not reachable(pair) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert reachable(pair)
    assert pair.firewall_and_qdiscs() == before
    assert [entry[0::2] for entry in revert_log(pair) if entry[0] == record.id] == [
        [record.id, "timer"]
    ]
    assert fault_files(pair, record.id) == []


def test_early_revert_cancels_the_timer_and_a_second_revert_is_harmless(pair: Pair) -> None:
    """A revert by hand undoes the fault at once and kills the timer's process group; the
    next revert finds nothing to do and says so."""
    before = pair.firewall_and_qdiscs()
    record, result = apply(pair, Partition((PEER_ADDRESS,)), duration=600.0)
    assert result.ok, result.stderr
    timer = int((pair.state_dir / f"{record.id}.timer").read_text())
    assert live_members(timer)
    assert f"reverted {record.id}" in revert(pair, record.id)
    assert live_members(timer) == []
    assert reachable(pair)
    assert pair.firewall_and_qdiscs() == before
    again = revert(pair, record.id)
    assert f"inactive {record.id}" in again
    assert f"log {record.id}" in again
    assert again.split()[-1] == "hand"
    assert fault_files(pair, record.id) == []


def test_a_fault_that_cannot_apply_is_undone_at_once(pair: Pair) -> None:
    """A failed apply exits non-zero with the reason, and leaves no rule, qdisc, timer or
    file behind (its revert ran as 'failed')."""
    before = pair.firewall_and_qdiscs()
    record, result = apply(pair, Bandwidth(rate_bits=10**7, device="nosuchdev"), 600.0)
    assert result.exit_status != 0
    assert "no interface nosuchdev" in result.stderr
    assert pair.firewall_and_qdiscs() == before
    assert fault_files(pair, record.id) == []
    assert [e[2] for e in revert_log(pair) if e[0] == record.id] == ["failed"]


RECEIVER = """
import socket, sys, time
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], 5001)); server.listen(1)
print("ready", flush=True)
conn, _ = server.accept(); got = 0; first = None
while True:
    data = conn.recv(65536)
    if not data: break
    first = first or time.monotonic(); got += len(data)
print(got * 8 / (time.monotonic() - first) / 1e6, flush=True)
"""
SENDER = """
import socket, sys
conn = socket.create_connection((sys.argv[1], 5001), timeout=30)
conn.sendall(b"x" * int(sys.argv[2])); conn.close()
"""


def mbit_out_of_target(pair: Pair, size: int) -> float:
    """TCP from the target to the peer, timed by the receiver."""
    receiver = subprocess.Popen(
        [
            "nsenter",
            f"--net=/run/netns/{pair.peer_ns}",
            "--",
            sys.executable,
            "-c",
            RECEIVER,
            PEER_ADDRESS,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        assert receiver.stdout.readline().strip() == "ready"
        sent = pair.in_target(sys.executable, "-c", SENDER, PEER_ADDRESS, str(size), timeout=60)
        assert sent.returncode == 0, sent.stderr
        return float(receiver.communicate(timeout=60)[0])
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()


def test_bandwidth_cap_is_real_and_nests_under_an_existing_shaper(pair: Pair) -> None:
    """Under a tbf root (as a lab link profile sets), the cap goes in place of tbf's inner
    qdisc: 8 Mbit/s measured; a second cap at the same time is refused; the revert puts a
    fifo back (deleting it would leave tbf a noop child that drops everything), full speed
    returns, and the next cap (over the fifo put back) applies again."""
    assert pair.in_target(
        "tc", "qdisc", "add", "dev", "eth0", "root", "handle", "77:", "tbf",
        "rate", "1gbit", "burst", "625000", "latency", "100ms",
    ).returncode == 0  # fmt: skip
    try:
        record, result = apply(pair, Bandwidth(rate_bits=8_000_000), 600.0)
        assert result.ok, result.stderr
        qdiscs = pair.in_target("tc", "qdisc", "show", "dev", "eth0").stdout
        assert f"qdisc htb {parse_fault_id(record.id).tc_handle}: parent 77:1" in qdiscs
        capped = mbit_out_of_target(pair, 1_000_000)
        assert 4.0 < capped < 9.5, capped
        second, refused = apply(pair, Bandwidth(rate_bits=2_000_000), 600.0)
        assert refused.exit_status != 0
        assert "already shaped inside tbf 77: by htb: another fault holds it" in refused.stderr
        assert fault_files(pair, second.id) == []
        assert f"reverted {record.id}" in revert(pair, record.id)
        inner = pair.in_target("tc", "qdisc", "show", "dev", "eth0", "invisible").stdout
        assert re.search(r"qdisc bfifo \w+: parent 77:1 limit \d+b", inner), inner
        assert "htb" not in inner
        assert mbit_out_of_target(pair, 20_000_000) > 100
        again, result = apply(pair, Bandwidth(rate_bits=8_000_000), 600.0)
        assert result.ok, result.stderr
        assert 4.0 < mbit_out_of_target(pair, 1_000_000) < 9.5
        assert f"reverted {again.id}" in revert(pair, again.id)
    finally:
        pair.in_target("tc", "qdisc", "del", "dev", "eth0", "root")


def ping_ms(pair: Pair) -> float:
    """Average round trip seen by the application (-U: not the kernel's receive stamp,
    which is taken before netfilter and would not see the NFQUEUE delay)."""
    out = pair.in_target("ping", "-U", "-n", "-q", "-c", "5", "-i", "0.2", PEER_ADDRESS).stdout
    match = re.search(r"= [\d.]+/([\d.]+)/", out)
    assert match, out
    return float(match.group(1))


def test_delay_on_a_kernel_without_netem_uses_the_delayer_and_stops_it(pair: Pair) -> None:
    """30 ms are added (netem where the kernel has it, else the lab's NFQUEUE delayer) and
    the delayer process and its rule are gone after the revert."""
    before = pair.firewall_and_qdiscs()
    assert ping_ms(pair) < 5
    record, result = apply(pair, Netem(delay_seconds=0.03), 600.0)
    assert result.ok, result.stderr
    assert 28 < ping_ms(pair) < 60
    pids = (
        (pair.state_dir / f"{record.id}.pids").read_text().split()
        if (pair.state_dir / f"{record.id}.pids").exists()
        else []
    )
    if record.mechanism != "netem":
        assert "NFQUEUE delayer" in record.mechanism
        assert live_members(int(pids[0]))
    assert f"reverted {record.id}" in revert(pair, record.id)
    if pids:
        assert live_members(int(pids[0])) == []
    assert ping_ms(pair) < 5
    assert pair.firewall_and_qdiscs() == before


def test_random_loss_drops_about_the_share_asked(pair: Pair) -> None:
    """50 % loss: of 60 pings, between 10 and 50 answered (about 8 standard deviations)."""
    record, result = apply(pair, Netem(loss_ratio=0.5), 600.0)
    assert result.ok, result.stderr
    try:
        out = pair.in_target("ping", "-n", "-q", "-c", "60", "-i", "0.01", "-W", "1", PEER_ADDRESS)
        received = int(re.search(r"(\d+) received", out.stdout).group(1))  # type: ignore[union-attr]
        assert 10 <= received <= 50, out.stdout
    finally:
        assert f"reverted {record.id}" in revert(pair, record.id)


def test_stress_runs_until_reverted_and_leaves_no_process(pair: Pair) -> None:
    """stress-ng (CPU and memory workers) runs in its own process group, and the revert
    leaves none of it alive -- sshd would not have killed it (no terminal)."""
    record, result = apply(
        pair, Stress(cpu_workers=1, cpu_load_percent=10, vm_workers=1, vm_bytes=16 * 2**20), 600.0
    )
    assert result.ok, result.stderr
    group = int((pair.state_dir / f"{record.id}.pids").read_text().split()[0])
    members = live_members(group)
    assert len(members) >= 3  # stress-ng, its cpu worker, its vm worker
    comms = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in members}
    assert any(c.startswith("stress-ng") for c in comms)
    assert f"reverted {record.id}" in revert(pair, record.id)
    assert live_members(group) == []
    assert fault_files(pair, record.id) == []
