"""Mesh RTT accuracy: the exporters' probes against ``ping`` and against the injected delay.

Builds a 3-node lab of its own (gpu-primary, rpi-1, rpi-2, gigabit links), then for each
injected delay on rpi-1's link (0 = none, then 1, 5, 20, 50 ms; netem where the kernel has
it, else the lab's NFQUEUE delayer) runs, at the same moment from gpu-primary's namespace:

- the mesh survey (the exporter's prober, kernel timestamps) to rpi-1's exporter, and
- ``ping`` to rpi-1,

each ``--count`` times at ``--interval``, and prints median and p99 of both, the difference
probe - ping (goal: |p50 difference| <= 0.2 ms) and the probe's error against the injected
delay (measured median - undelayed median, against the injected value; goal: within 5 %).
Where ping misses the injected value by as much as the probe does, the delay mechanism is
what is off, not the probe: the "ping err" column shows it.

Run with ``make bench-mesh-accuracy`` (root; builds and removes its lab, about a minute).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drivers import lab  # noqa: E402
from drivers.lab.links import mechanism  # noqa: E402
from drivers.lab.system import in_netns  # noqa: E402
from exporters.mesh.peers import Mesh, Peer, dumps  # noqa: E402

DELAYS_MS = (0.0, 1.0, 5.0, 20.0, 50.0)
PING_GOAL_MS = 0.2
INJECTED_GOAL = 0.05


def percentile(ordered: Sequence[float], q: float) -> float:
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def survey(netns: str, mesh: Mesh, count: int, interval: float, out: list[float]) -> None:
    argv = [sys.executable, "-m", "exporters.mesh.survey", "--peers-document", dumps(mesh)]
    argv += ["--node", "gpu-primary", "--count", str(count), "--interval", str(interval)]
    result = subprocess.run(
        in_netns(netns, argv), capture_output=True, text=True, check=True, timeout=120, cwd=ROOT
    )
    document = json.loads(result.stdout)
    out.extend(document["peers"]["rpi-1"]["rtt_seconds"])
    if not document["kernel_timestamps"]:
        print("  (no kernel timestamps: user-space times)", file=sys.stderr)


def ping(netns: str, address: str, count: int, interval: float, out: list[float]) -> None:
    argv = ["ping", "-n", "-c", str(count), "-i", str(interval), "-W", "2", address]
    result = subprocess.run(
        in_netns(netns, argv), capture_output=True, text=True, check=False, timeout=120
    )
    out.extend(float(m) / 1000 for m in re.findall(r"time=([0-9.]+) ms", result.stdout))


def measure(
    netns: str, mesh: Mesh, address: str, count: int, interval: float
) -> tuple[list[float], list[float]]:
    probes: list[float] = []
    pings: list[float] = []
    threads = [
        threading.Thread(target=survey, args=(netns, mesh, count, interval, probes)),
        threading.Thread(target=ping, args=(netns, address, count, interval, pings)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(probes), sorted(pings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="probes and pings per delay")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between them")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_mesh_accuracy: needs root (it builds a lab)", file=sys.stderr)
        return 2
    name = f"bench-mesh-{os.getpid()}"
    print(f"building lab {name} (3 nodes)...", file=sys.stderr)
    result = lab.up(lab.UpOptions(name=name, nodes=3))
    try:
        state = result.state
        inventory = result.inventory
        gpu, rpi = inventory.node("gpu-primary"), inventory.node("rpi-1")
        mesh = Mesh(
            inventory.name,
            (Peer(gpu.name, gpu.address, gpu.mesh_port, "gpu"), Peer(rpi.name, rpi.address)),
        )
        netns = state.spec.node_netns("gpu-primary")
        print(
            f"delay mechanism: {mechanism(state)}; {args.count} probes and pings per row, "
            f"{args.interval * 1e3:g} ms apart, gpu-primary -> rpi-1; "
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n"
        )
        header = (
            f"{'injected':>9} | {'probe p50':>9} {'p99':>8} | {'ping p50':>9} {'p99':>8} | "
            f"{'p50 diff':>9} | {'probe err':>9} {'ping err':>9}"
        )
        print(header)
        print("-" * len(header))
        base_probe = base_ping = 0.0
        verdicts = []
        for delay in DELAYS_MS:
            lab.set_node_delay(state, "rpi-1", delay)
            probes, pings = measure(netns, mesh, rpi.address, args.count, args.interval)
            if not probes or not pings:
                print(f"{delay:>7g}ms | no samples (probes {len(probes)}, pings {len(pings)})")
                verdicts.append(False)
                continue
            p50, p99 = statistics.median(probes), percentile(probes, 0.99)
            q50, q99 = statistics.median(pings), percentile(pings, 0.99)
            diff_ms = (p50 - q50) * 1e3
            if delay == 0:
                base_probe, base_ping = p50, q50
                errors = f"{'(base)':>9} {'(base)':>9}"
                ok = abs(diff_ms) <= PING_GOAL_MS
            else:
                probe_error = ((p50 - base_probe) * 1e3 - delay) / delay
                ping_error = ((q50 - base_ping) * 1e3 - delay) / delay
                errors = f"{probe_error:>+9.1%} {ping_error:>+9.1%}"
                ok = abs(diff_ms) <= PING_GOAL_MS and abs(probe_error) <= INJECTED_GOAL
            verdicts.append(ok)
            print(
                f"{delay:>7g}ms | {p50 * 1e3:>7.3f}ms {p99 * 1e3:>6.3f}ms | {q50 * 1e3:>7.3f}ms "
                f"{q99 * 1e3:>6.3f}ms | {diff_ms:>+7.3f}ms | {errors}"
            )
        lab.set_node_delay(state, "rpi-1", 0.0)
        print(
            f"\ngoals: |probe p50 - ping p50| <= {PING_GOAL_MS} ms; probe within "
            f"{INJECTED_GOAL:.0%} of the injected delay: {sum(verdicts)}/{len(verdicts)} rows met"
        )
    finally:
        print(f"removing lab {name}...", file=sys.stderr)
        lab.down(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
