"""Traffic accounting counts a node's bytes per port class with real iptables rules in its
own network namespace, and leaves nothing behind when removed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from drivers.cluster import accounting
from drivers.errors import SwarmscopeError
from drivers.inventory import Node, SshSettings
from drivers.remote import CommandResult

pytestmark = pytest.mark.root


@dataclass
class NamespaceShell:
    """Runs commands inside a network namespace, as SSH into a node would."""

    netns: str

    def run(
        self, command: str | list[str], timeout: float = 60.0, check: bool = False
    ) -> CommandResult:
        assert isinstance(command, str)
        done = subprocess.run(
            ["nsenter", f"--net=/var/run/netns/{self.netns}", "sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = CommandResult(self.netns, command, done.returncode, done.stdout, done.stderr, 0.0)
        return result.check() if check else result


@pytest.fixture
def pair() -> Iterator[tuple[str, str]]:
    """Two namespaces joined by a veth pair, removed afterwards whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    tag = f"{os.getpid() % 100000}"
    a, b = f"ssacct-a-{tag}", f"ssacct-b-{tag}"
    octet = os.getpid() % 200 + 20
    try:
        for name in (a, b):
            subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(
            ["ip", "link", "add", "eth0", "netns", a, "type", "veth", "peer", "eth0", "netns", b],
            check=True,
        )
        for name, host in ((a, 1), (b, 2)):
            for command in (
                ["addr", "add", f"10.199.{octet}.{host}/24", "dev", "eth0"],
                ["link", "set", "eth0", "up"],
                ["link", "set", "lo", "up"],
            ):
                subprocess.run(["ip", "-n", name, *command], check=True)
        yield a, f"10.199.{octet}.2"
    finally:
        for name in (a, b):
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


_SEND = """
import socket, sys
host = sys.argv[1]
for port, size in ((2377, 100_000), (9000, 50_000)):
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"x" * size)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(4):
    u.sendto(b"y" * 500, (host, 7946))
"""
_SINK = """
import socket, threading
def serve(port):
    server = socket.create_server(("0.0.0.0", port))
    for _ in range(1):
        conn, _ = server.accept()
        while conn.recv(65536):
            pass
for port in (2377, 9000):
    threading.Thread(target=serve, args=(port,), daemon=True).start()
import time; time.sleep(8)
"""


def test_counts_by_port_class_and_removes_itself(pair: tuple[str, str]) -> None:
    """100 kB to 2377/tcp, 2 kB to 7946/udp and 50 kB elsewhere land in their own counters;
    total holds all of it; after remove() the chain and its jumps are gone."""
    netns, peer = pair
    shell = NamespaceShell(netns)
    node = Node("rpi-1", "10.199.0.1", "worker", "rpi", ssh=SshSettings(user="root"))
    sink = subprocess.Popen(
        [
            "nsenter",
            f"--net=/var/run/netns/{netns.replace('-a-', '-b-')}",
            sys.executable,
            "-c",
            _SINK,
        ]
    )
    try:
        accounting.install(shell, node, ("tcp/2377", "tcp/7946", "udp/7946"))
        accounting.install(shell, node, ("tcp/2377", "tcp/7946", "udp/7946"))  # idempotent
        before = accounting.read(shell, node)
        time.sleep(0.5)  # the sink listens
        subprocess.run(
            ["nsenter", f"--net=/var/run/netns/{netns}", sys.executable, "-c", _SEND, peer],
            check=True,
            timeout=30,
        )
        delta = accounting.read(shell, node).since(before)
    finally:
        sink.kill()
        sink.wait()
    assert 100_000 <= delta.classes["tcp/2377"] < 115_000
    assert 2_000 <= delta.classes["udp/7946"] < 2_200
    assert delta.classes["tcp/7946"] == 0
    assert delta.classes["ssh"] == 0
    assert 152_000 <= delta.total < 175_000
    assert delta.sum_of(("tcp/2377", "tcp/7946", "udp/7946")) == (
        delta.classes["tcp/2377"] + delta.classes["udp/7946"]
    )
    rules = shell.run("iptables -S", check=True).stdout
    assert rules.count(f"-j {accounting.CHAIN}") == 2  # one jump from INPUT, one from OUTPUT
    accounting.remove(shell, node)
    accounting.remove(shell, node)  # harmless twice
    assert accounting.CHAIN not in shell.run("iptables -S", check=True).stdout
    with pytest.raises(
        SwarmscopeError,
        match=rf"node rpi-1: traffic accounting chain {accounting.CHAIN} is missing",
    ):
        accounting.read(shell, node)


def test_unreadable_counters_name_the_node() -> None:
    """Output without the total counter is an error naming the node, not a zero."""
    with pytest.raises(SwarmscopeError, match=r"^node rpi-4: no 'total' counter"):
        accounting.parse_counters("Chain SWARMSCOPE-ACCT (2 references)\n garbage\n", "rpi-4")
    text = (
        "Chain SWARMSCOPE-ACCT (2 references)\n"
        "    pkts      bytes target prot opt in out source destination\n"
        "      10      854  6  --  *  *  0.0.0.0/0  0.0.0.0/0  multiport ports 2377 "
        "/* swarmscope:tcp/2377 */\n"
        "      29     2909  0  --  *  *  0.0.0.0/0  0.0.0.0/0  /* swarmscope:total */\n"
    )
    counters = accounting.parse_counters(text, "rpi-4", at=5.0)
    assert (counters.total, counters.classes, counters.at) == (2909, {"tcp/2377": 854}, 5.0)


def test_bad_port_class_is_refused() -> None:
    with pytest.raises(SwarmscopeError, match="'tcp:2377' is not a port class like tcp/2377"):
        accounting.install(
            NamespaceShell("unused"), Node("n", "10.0.0.1", "worker", "rpi"), ("tcp:2377",)
        )
