"""Figures for the README: `lab up`/`lab down` time and the lab's memory at two sizes, and
each link profile measured (ping round trip, TCP throughput each way).

``python -m drivers.lab.bench [--sizes 6,20] [--profiles gigabit,wifi,4g,3g]`` (as root;
`make bench-lab`). It builds and removes its own labs (``bench-N``) and prints tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from drivers.lab import build, links, measure, profiles, teardown
from drivers.lab.inspection import lab_pids, pss_bytes
from drivers.lab.system import LabError


def _size_row(nodes: int) -> str:
    name = f"bench-{nodes}"
    teardown.down(name)
    started = time.monotonic()
    result = build.up(build.UpOptions(name=name, nodes=nodes))
    up_seconds = time.monotonic() - started
    try:
        time.sleep(5)  # let start-up transients (first scrapes, image import) settle
        pss = pss_bytes(lab_pids(result.state))
        processes = len(lab_pids(result.state))
    finally:
        started = time.monotonic()
        teardown.down(name)
        down_seconds = time.monotonic() - started
    swarm = result.state.timings.get("swarm_ready_seconds", 0.0)
    return (
        f"| {nodes} | {up_seconds:.1f} s | {swarm:.1f} s | {down_seconds:.1f} s "
        f"| {processes} | {pss / 2**20:.0f} MiB | {pss / 2**20 / nodes:.0f} MiB |"
    )


def _profile_rows(names: list[str], pings: int, seconds: float) -> list[str]:
    name = "bench-links"
    teardown.down(name)
    result = build.up(build.UpOptions(name=name, nodes=3))
    rows = []
    try:
        state = result.state
        how = links.mechanism(state)
        pi, other = state.spec.node("rpi-1"), state.spec.node("rpi-2")
        for profile in names:
            links.set_link(state, profile)
            m = measure.measure(state, pi.name, seconds, pings)
            pi_to_pi = measure.ping_between(state, pi, other, count=pings)
            settings = profiles.PROFILES[profile].settings
            rows.append(
                f"| {profile} | {settings.download_mbit:g} / {settings.upload_mbit:g} Mbit/s "
                f"| {settings.delay_ms:g} ± {settings.jitter_ms:g} ms "
                f"| {settings.loss_percent:g} % "
                f"| {m.ping_avg_ms:.2f} ± {m.ping_mdev_ms:.2f} ms | {pi_to_pi:.2f} ms "
                f"| {m.ping_loss_percent:.1f} % | {m.download_mbit:.1f} / {m.upload_mbit:.1f} "
                f"| {how} |"
            )
    finally:
        teardown.down(name)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="6,20", help="lab sizes to time (default 6,20)")
    parser.add_argument("--profiles", default=",".join(profiles.PROFILES))
    parser.add_argument("--pings", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=6.0, help="per iperf3 direction")
    args = parser.parse_args(argv)
    try:
        load = os.getloadavg()[0]
        print(f"# host: {os.cpu_count()} CPUs, load average {load:.1f} at start\n")
        if args.sizes:
            print("| nodes | lab up | swarm Ready | lab down | processes | PSS | per node |")
            print("|---|---|---|---|---|---|---|")
            for size in (int(s) for s in args.sizes.split(",")):
                print(_size_row(size), flush=True)
            print()
        if args.profiles:
            print(
                "| profile | rate down / up | delay ± jitter | loss | ping host→Pi "
                "| ping Pi→Pi | ping loss | TCP down / up Mbit/s | delay by |"
            )
            print("|---|---|---|---|---|---|---|---|---|")
            for row in _profile_rows(args.profiles.split(","), args.pings, args.seconds):
                print(row, flush=True)
    except LabError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
