"""Count a node's traffic by port class with iptables accounting rules in its own namespace.

One chain, jumped to first from INPUT and OUTPUT, holds one rule without a target per class
(``tcp/2377``, ``udp/7946``, ``ssh``) and a last rule counting everything: packets fall
through every rule, so each counter is the bytes (in + out) of its class and ``total`` is all
of the node's traffic. Loopback is skipped. Rules live in the node's network namespace (the
lab's node, or a Pi), never in the control host's, and ``remove`` takes them out again.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from drivers.cluster.nodeprobe import CommandRunner, as_root
from drivers.errors import SwarmscopeError
from drivers.inventory import Node

CHAIN = "SWARMSCOPE-ACCT"
_TAG = "swarmscope:"
_PORT_CLASS = re.compile(r"^(tcp|udp)/([0-9]{1,5})$")
_COUNTER_LINE = re.compile(
    r"^\s*(?P<packets>[0-9]+)\s+(?P<bytes>[0-9]+)\s.*/\* swarmscope:(?P<key>\S+) \*/"
)


@dataclass(frozen=True)
class TrafficCounters:
    """Bytes per class at one moment, in + out, loopback excluded."""

    total: int
    classes: dict[str, int] = field(default_factory=dict)  # "tcp/2377" -> bytes, "ssh" -> bytes
    at: float = 0.0

    def since(self, earlier: TrafficCounters) -> TrafficCounters:
        return TrafficCounters(
            total=self.total - earlier.total,
            classes={k: v - earlier.classes.get(k, 0) for k, v in self.classes.items()},
            at=self.at - earlier.at,
        )

    def sum_of(self, classes: tuple[str, ...]) -> int:
        return sum(self.classes.get(name, 0) for name in classes)

    @property
    def without_ssh(self) -> int:
        """All traffic but the SSH sessions (ours, reading these counters, among them)."""
        return self.total - self.classes.get("ssh", 0)


def _check_port_class(text: str) -> tuple[str, int]:
    match = _PORT_CLASS.match(text)
    if not match or not 1 <= int(match[2]) <= 65535:
        raise SwarmscopeError(f"{text!r} is not a port class like tcp/2377", exit_code=2)
    return match[1], int(match[2])


def _remove_script() -> str:
    # -D fails once the jump is gone: repeat until then (a crashed run may have added two).
    return (
        f"while iptables -w -D INPUT -j {CHAIN} 2>/dev/null; do :; done; "
        f"while iptables -w -D OUTPUT -j {CHAIN} 2>/dev/null; do :; done; "
        f"iptables -w -F {CHAIN} 2>/dev/null; iptables -w -X {CHAIN} 2>/dev/null; true"
    )


def install(runner: CommandRunner, node: Node, port_classes: tuple[str, ...]) -> None:
    """(Re)create the accounting chain on ``node`` counting ``port_classes`` and SSH."""
    rules = [f"iptables -w -N {CHAIN}", f"iptables -w -A {CHAIN} -i lo -j RETURN"]
    rules.append(f"iptables -w -A {CHAIN} -o lo -j RETURN")
    for text in dict.fromkeys(port_classes):
        protocol, port = _check_port_class(text)
        rules.append(
            f"iptables -w -A {CHAIN} -p {protocol} -m multiport --ports {port} "
            f"-m comment --comment {_TAG}{text}"
        )
    rules.append(
        f"iptables -w -A {CHAIN} -p tcp -m multiport --ports {node.ssh.port} "
        f"-m comment --comment {_TAG}ssh"
    )
    rules.append(f"iptables -w -A {CHAIN} -m comment --comment {_TAG}total")
    rules.append(f"iptables -w -I INPUT 1 -j {CHAIN}")
    rules.append(f"iptables -w -I OUTPUT 1 -j {CHAIN}")
    script = _remove_script() + "; set -e; " + "; ".join(rules)
    result = runner.run(as_root(node, script), timeout=30)
    if not result.ok:
        runner.run(as_root(node, _remove_script()), timeout=30)
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise SwarmscopeError(
            f"node {node.name}: cannot add traffic accounting rules: "
            f"{detail[-1] if detail else f'exit status {result.exit_status}'}"
        )


def read(runner: CommandRunner, node: Node) -> TrafficCounters:
    result = runner.run(as_root(node, f"iptables -w -nvxL {CHAIN}"), timeout=30)
    if not result.ok:
        raise SwarmscopeError(
            f"node {node.name}: traffic accounting chain {CHAIN} is missing "
            "(removed by someone else, or never installed)"
        )
    return parse_counters(result.stdout, node.name)


def parse_counters(text: str, node_name: str, at: float | None = None) -> TrafficCounters:
    """Counters from ``iptables -nvxL CHAIN`` output; garbled output is an error naming the node."""
    classes: dict[str, int] = {}
    for line in text.splitlines():
        match = _COUNTER_LINE.match(line)
        if match:
            classes[match["key"]] = int(match["bytes"])
    total = classes.pop("total", None)
    if total is None:
        raise SwarmscopeError(
            f"node {node_name}: no 'total' counter in the {CHAIN} chain; output was: "
            f"{text.strip()[:200]!r}"
        )
    return TrafficCounters(total=total, classes=classes, at=time.time() if at is None else at)


def remove(runner: CommandRunner, node: Node) -> None:
    """Take the chain out; harmless when it is already gone."""
    runner.run(as_root(node, _remove_script()), timeout=30, check=True)
