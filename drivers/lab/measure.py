"""Measure a lab node's link as a user would see it: ping round trip and TCP throughput.

Both run from this host (the wired side: its link into the lab is not shaped) to the node:
``ping`` for the round trip and loss, ``iperf3`` for TCP throughput into the node (download)
and out of it (upload, ``-R``). Traffic goes only to the lab's own namespaces, and every run
is bounded in time. (Not from the control namespace: TCP sent from there is held by the
delayer in its sender's namespace, where TCP's small-queue budget throttles it.)
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from dataclasses import dataclass

from drivers.lab.spec import NodeSpec
from drivers.lab.state import LabState
from drivers.lab.system import LabError, in_netns, run, which

IPERF_PORT = 5201


@dataclass(frozen=True)
class LinkMeasurement:
    node: str
    ping_avg_ms: float
    ping_mdev_ms: float
    ping_loss_percent: float
    download_mbit: float
    upload_mbit: float


def _parse_ping(output: str, where: str) -> tuple[float, float, float]:
    loss = re.search(r"([0-9.]+)% packet loss", output)
    rtt = re.search(r"= ([0-9.]+)/([0-9.]+)/([0-9.]+)/([0-9.]+) ms", output)
    if loss is None or rtt is None:
        raise LabError(f"{where}: ping gave no round trip: {output.strip()[-200:]}")
    return float(rtt.group(2)), float(rtt.group(4)), float(loss.group(1))


def _ping_argv(address: str, count: int, interval: float) -> list[str]:
    return ["ping", "-q", "-n", "-c", str(count), "-i", str(interval), "-W", "2", address]


def ping(
    state: LabState, node: NodeSpec, count: int = 20, interval: float = 0.2
) -> tuple[float, float, float]:
    """(average ms, mdev ms, loss %) of ``count`` pings from this host (wired)."""
    result = run(
        _ping_argv(node.address, count, interval), check=False, timeout=count * interval + 30
    )
    return _parse_ping(result.stdout, f"node {node.name}")


def ping_between(
    state: LabState, source: NodeSpec, destination: NodeSpec, count: int = 20
) -> float:
    """Average round trip in ms from one node to another (both links' delays add up)."""
    argv = in_netns(
        state.spec.node_netns(source.name), _ping_argv(destination.address, count, 0.05)
    )
    result = run(argv, check=False, timeout=count * 0.05 + 30)
    return _parse_ping(result.stdout, f"{source.name} -> {destination.name}")[0]


def tcp_mbit(state: LabState, node: NodeSpec, seconds: float, upload: bool = False) -> float:
    """TCP throughput in Mbit/s into the node (download) or out of it (upload)."""
    spec = state.spec
    iperf3 = which("iperf3")
    if iperf3 is None:
        raise LabError("iperf3 is missing: install Debian package iperf3")
    server = subprocess.Popen(
        in_netns(
            spec.node_netns(node.name),
            [iperf3, "-s", "-1", "-B", node.address, "-p", str(IPERF_PORT)],
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        argv = [iperf3, "-c", node.address, "-p", str(IPERF_PORT), "-J"]
        argv += ["-t", f"{seconds:g}", "-O", "1", "--connect-timeout", "3000"]
        if upload:
            argv.append("-R")
        for _attempt in range(50):  # until the server listens
            result = run(argv, check=False, timeout=seconds + 30)
            try:
                data = json.loads(result.stdout)
                error = str(data.get("error", ""))
                if not error:
                    return float(data["end"]["sum_received"]["bits_per_second"]) / 1e6
            except (ValueError, KeyError, TypeError):
                error = (result.stdout + result.stderr).strip()[-300:]
            if "refused" not in error and "busy" not in error:
                raise LabError(f"node {node.name}: iperf3 failed: {error}")
            time.sleep(0.1)
        raise LabError(f"node {node.name}: iperf3 server did not start")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def measure(
    state: LabState, node_name: str, seconds: float = 4.0, pings: int = 20
) -> LinkMeasurement:
    node = state.spec.node(node_name)
    avg, mdev, loss = ping(state, node, count=pings, interval=0.05)
    download = tcp_mbit(state, node, seconds)
    upload = tcp_mbit(state, node, seconds, upload=True)
    return LinkMeasurement(node.name, avg, mdev, loss, download, upload)
