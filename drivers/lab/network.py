"""The lab's network: a control namespace holding the bridge, one namespace per node, one host link.

::

    host (root namespace)            control namespace swarmscope.LAB        node namespaces
    sscopeXXXXXXXX  .1  <-- veth -->  uplink ─┐                               swarmscope.LAB.rpi-1
                                              br0 .2 (Prometheus, ...)  ─ p1 <-veth-> eth0 .11
                                                                        ─ p2 <-veth-> eth0 .12

The bridge lives in its own namespace, not the host's: bridged traffic between nodes then
passes only that namespace's (empty) iptables, whatever the host's FORWARD policy or
br_netfilter settings are, and the host gains one interface and one route, nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import time
from collections.abc import Iterator
from pathlib import Path

from drivers.lab.spec import SUBNET_POOL, LabSpec, NodeSpec
from drivers.lab.system import LabError, run

NETNS_DIR = Path("/run/netns")
ALLOCATION_LOCK = ".allocation.lock"  # in the state root, beside the labs' directories


@contextlib.contextmanager
def allocation_lock(state_root: Path) -> Iterator[None]:
    """Serialise subnet choice and namespace creation between labs built at the same time."""
    state_root.mkdir(parents=True, exist_ok=True)
    with open(state_root / ALLOCATION_LOCK, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host already routes or has an address in."""
    networks: list[ipaddress.IPv4Network] = []
    routes = json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")
    for route in routes:
        destination = route.get("dst", "")
        if destination in ("default", "") or ":" in destination:
            continue
        with contextlib.suppress(ValueError):
            networks.append(ipaddress.IPv4Network(destination, strict=False))
    addresses = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    for link in addresses:
        for info in link.get("addr_info", []):
            with contextlib.suppress(ValueError, KeyError):
                networks.append(
                    ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
                )
    return networks


def check_subnet_free(subnet: ipaddress.IPv4Network) -> None:
    for network in host_networks():
        if network.prefixlen > 0 and network.overlaps(subnet):
            raise LabError(
                f"subnet {subnet} overlaps {network}, already in use on this host: "
                "choose another with --subnet"
            )


def free_subnet() -> ipaddress.IPv4Network:
    """The first /24 of the lab pool that nothing on the host uses yet."""
    used = [n for n in host_networks() if n.prefixlen > 0]
    for candidate in SUBNET_POOL.subnets(new_prefix=24):
        if not any(candidate.overlaps(n) for n in used):
            return candidate
    raise LabError(f"every /24 of {SUBNET_POOL} is in use on this host: pass --subnet")


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def netns_matching(control: str) -> list[str]:
    """The lab's control namespace and its node namespaces that exist now."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(
        entry.name
        for entry in NETNS_DIR.iterdir()
        if entry.name == control or entry.name.startswith(control + ".")
    )


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def create_control(spec: LabSpec) -> None:
    """The control namespace with the bridge, and the host's link into it."""
    ns = spec.control_netns
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "add", "br0", "type", "bridge"])
    # Forward at once rather than after 15 s of STP-less learning; no multicast snooping games.
    run(["ip", "-n", ns, "link", "set", "br0", "type", "bridge", "forward_delay", "0"])
    address = f"{spec.monitor_address}/{spec.prefix_length}"
    run(["ip", "-n", ns, "addr", "add", address, "dev", "br0"])
    run(["ip", "-n", ns, "link", "set", "br0", "up"])
    run(
        ["ip", "link", "add", spec.host_link, "type", "veth", "peer", "name", "uplink", "netns", ns]
    )
    run(["ip", "-n", ns, "link", "set", "uplink", "master", "br0", "up"])
    run(["ip", "addr", "add", f"{spec.host_address}/{spec.prefix_length}", "dev", spec.host_link])
    run(["ip", "link", "set", spec.host_link, "up"])


def create_node(spec: LabSpec, node: NodeSpec) -> None:
    """The node's namespace with eth0 on the bridge and its address."""
    ns = spec.node_netns(node.name)
    port = f"p{node.index}"
    run(["ip", "netns", "add", ns])
    run(
        [
            *("ip", "link", "add", port, "netns", spec.control_netns, "type", "veth"),
            *("peer", "name", "eth0", "netns", ns),
        ]
    )
    run(["ip", "-n", spec.control_netns, "link", "set", port, "master", "br0", "up"])
    run(["ip", "-n", ns, "addr", "add", f"{node.address}/{spec.prefix_length}", "dev", "eth0"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    # No default route on purpose: anything a node tries to reach outside the lab (a registry,
    # DNS) fails at once with "network unreachable" instead of timing out.
    run(["ip", "-n", ns, "link", "set", "lo", "up"])


def delete_netns(name: str) -> None:
    run(["ip", "netns", "del", name], check=False)


def delete_host_link(name: str, timeout: float = 10.0) -> bool:
    """Delete the host's end and wait: a deleted namespace frees its veths asynchronously."""
    deadline = time.monotonic() + timeout
    while link_exists(name):
        run(["ip", "link", "del", name], check=False)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_netns_gone(names: list[str], timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    left = [n for n in names if netns_exists(n)]
    while left and time.monotonic() < deadline:
        for name in left:
            delete_netns(name)
        time.sleep(0.05)
        left = [n for n in left if netns_exists(n)]
    return left


def create_uts(path: Path, hostname: str) -> None:
    """A persistent UTS namespace bound to ``path`` whose hostname is the node's name; every
    daemon of the node enters it, so `hostname` over SSH and in dockerd says ``rpi-1``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    run(["unshare", f"--uts={path}", "hostname", hostname])
