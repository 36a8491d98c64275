"""Small measurements taken ON a node over SSH: reaching the manager, what the agent costs.

Each runs a short python3 program on the node (Raspberry Pi OS and Debian ship python3), so
times are taken with the node's own clock and the SSH round trip is not part of them.
"""

from __future__ import annotations

import shlex
import statistics
from dataclasses import dataclass
from typing import Protocol

from drivers.errors import SwarmscopeError
from drivers.inventory import Node
from drivers.remote import CommandResult


class CommandRunner(Protocol):
    """What runs a command on a node: an ``SshNode``, or a local stand-in in tests."""

    def run(
        self, command: str | list[str], timeout: float = 60.0, check: bool = False
    ) -> CommandResult: ...


def as_root(node: Node, script: str) -> str:
    """A shell command running ``script`` as root (``sudo -n`` unless we log in as root)."""
    wrapped = f"sh -c {shlex.quote(script)}"
    return wrapped if node.ssh.user == "root" else f"sudo -n {wrapped}"


_PROBE = """
import socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = []
for _ in range(count):
    start = time.perf_counter()
    try:
        connection = socket.create_connection((host, port), timeout=5)
    except OSError as exc:
        print("error", type(exc).__name__, exc)
        sys.exit(1)
    times.append(time.perf_counter() - start)
    connection.close()
print("ok", *("%.9f" % t for t in times))
"""


@dataclass(frozen=True)
class ReachResult:
    first_connect_seconds: float  # name resolution, ARP and the first TCP handshake
    rtt_seconds: float  # median of the later handshakes: one round trip each


def probe_tcp(
    runner: CommandRunner, node: Node, host: str, port: int, count: int = 4
) -> ReachResult:
    """Open ``count`` TCP connections from ``node`` to ``host:port`` and time them there."""
    command = shlex.join(["python3", "-c", _PROBE, host, str(port), str(count)])
    result = runner.run(command, timeout=30)
    words = result.stdout.split()
    if result.exit_status != 0 or not words or words[0] != "ok":
        detail = (result.stdout + result.stderr).strip().splitlines()
        reason = detail[-1] if detail else f"exit status {result.exit_status}"
        raise SwarmscopeError(f"node {node.name}: cannot reach {host}:{port}: {reason}")
    try:
        times = [float(word) for word in words[1:]]
    except ValueError:
        raise SwarmscopeError(
            f"node {node.name}: unreadable output of the reachability probe: {result.stdout!r}"
        ) from None
    if not times:
        raise SwarmscopeError(f"node {node.name}: the reachability probe printed no times")
    later = times[1:] or times
    return ReachResult(times[0], statistics.median(later))


_AGENT_USAGE = """
import os, sys
names = set(sys.argv[1:])
mine = os.readlink("/proc/self/ns/net")
tick, page = os.sysconf("SC_CLK_TCK"), os.sysconf("SC_PAGE_SIZE")
count, rss, cpu = 0, 0, 0.0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        # The lab runs one agent per network namespace on a shared PID namespace:
        # only processes in this node's namespace are this node's agent.
        if os.readlink("/proc/%s/ns/net" % pid) != mine:
            continue
        with open("/proc/%s/comm" % pid) as handle:
            if handle.read().strip() not in names:
                continue
        with open("/proc/%s/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/%s/statm" % pid) as handle:
            resident = int(handle.read().split()[1])
    except OSError:
        continue
    count += 1
    cpu += (int(fields[11]) + int(fields[12])) / tick
    rss += resident * page
print(count, rss, "%.3f" % cpu)
"""


@dataclass(frozen=True)
class AgentUsage:
    processes: int
    resident_bytes: int
    cpu_seconds: float  # user + system since the processes started


def agent_usage(runner: CommandRunner, node: Node, names: tuple[str, ...]) -> AgentUsage:
    """Resident memory and CPU time of the agent's processes on ``node`` (root: other
    processes' namespaces are only readable by root)."""
    command = as_root(node, shlex.join(["python3", "-c", _AGENT_USAGE, *names]))
    result = runner.run(command, timeout=30)
    words = result.stdout.split()
    try:
        if result.exit_status != 0 or len(words) != 3:
            raise ValueError
        usage = AgentUsage(int(words[0]), int(words[1]), float(words[2]))
    except ValueError:
        detail = (result.stderr or result.stdout).strip().splitlines()
        reason = detail[-1] if detail else f"exit status {result.exit_status}"
        raise SwarmscopeError(
            f"node {node.name}: cannot read the agent's usage ({', '.join(names)}): {reason}"
        ) from None
    if usage.processes == 0:
        raise SwarmscopeError(
            f"node {node.name}: no agent process ({', '.join(names)}) runs in its network namespace"
        )
    return usage
