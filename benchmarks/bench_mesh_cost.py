"""What the mesh costs a node: swarmlet-exporter's memory and CPU with 0, 5 and 20 peers.

Starts swarmlet-exporter on loopback three times (only the cheap thermal collector besides
the mesh, so the difference is the mesh's): without ``--mesh-peers``, then probing 5 and
20 peers once a second. The peers are real responders (the exporter's own UDP responder,
one thread per peer in a helper process), so every probe is answered. Prometheus is
imitated by a scrape every 5 s. After a warm-up, for ``--seconds`` it measures:

- RSS and PSS (``/proc/PID/smaps_rollup``) of the exporter and of its TCP streams process,
- CPU of both over the window (100 % = one core),
- the /metrics size and series count, and the scrape time.

Run with ``make bench-mesh-cost`` or ``python benchmarks/bench_mesh_cost.py``; every
process it starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 2**20
SCRAPE_INTERVAL = 5.0


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key] = int(rest.split()[0]) * 1024
    return values["Rss"], values["Pss"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def peer_farm(count: int) -> int:
    """Helper mode: answer probes on ``count`` UDP ports; print them; run until stdin closes."""
    from exporters.mesh.responder import Responder, bind_udp  # noqa: PLC0415

    responders = [Responder(bind_udp("127.0.0.1", 0)).start() for _ in range(count)]
    print(json.dumps([r.address[1] for r in responders]), flush=True)
    sys.stdin.read()
    for responder in responders:
        responder.stop()
    return 0


@dataclass(frozen=True)
class Row:
    label: str
    exporter: tuple[int, int]
    streams: tuple[int, int] | None
    cpu: float
    series: int
    metrics_bytes: int
    scrape_ms: float


def scrape(connection: http.client.HTTPConnection) -> tuple[bytes, float]:
    started = time.perf_counter()
    connection.request("GET", "/metrics")
    body = connection.getresponse().read()
    return body, (time.perf_counter() - started) * 1000


def measure(label: str, peers_file: Path | None, seconds: float, warmup: float) -> Row:
    port = free_port()
    argv = [str(Path(sys.executable).parent / "swarmlet-exporter"), "--listen", f"127.0.0.1:{port}"]
    argv += ["--node", "bench", "--collectors", "thermal", "--log-level", "warning"]
    if peers_file is not None:
        argv += ["--mesh-peers", str(peers_file)]
    exporter = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: the exporter did not start") from None
                time.sleep(0.05)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        time.sleep(warmup)
        pids = [exporter.pid, *children(exporter.pid)]
        cpu_before = sum(cpu_seconds(p) for p in pids)
        started = time.monotonic()
        times = []
        while time.monotonic() - started < seconds:
            body, ms = scrape(connection)
            times.append(ms)
            time.sleep(SCRAPE_INTERVAL)
        cpu = (sum(cpu_seconds(p) for p in pids) - cpu_before) / (time.monotonic() - started)
        streams = memory(pids[1]) if len(pids) > 1 else None
        series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
        row = Row(
            label,
            memory(exporter.pid),
            streams,
            cpu,
            series,
            len(body),
            sorted(times)[len(times) // 2],
        )
        connection.close()
        return row
    finally:
        exporter.terminate()
        exporter.wait(timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window per set-up")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--peer-farm", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_farm is not None:
        return peer_farm(args.peer_farm)
    farm = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--peer-farm", "20"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert farm.stdout is not None
        ports = json.loads(farm.stdout.readline())
        rows = []
        with tempfile.TemporaryDirectory() as work:
            rows.append(measure("no mesh", None, args.seconds, args.warmup))
            for count in (5, 20):
                nodes = [
                    {"name": "bench", "address": "127.0.0.1", "port": free_port(socket.SOCK_DGRAM)}
                ]
                nodes += [
                    {"name": f"peer-{i}", "address": "127.0.0.1", "port": p}
                    for i, p in enumerate(ports[:count])
                ]
                path = Path(work) / f"peers-{count}.json"
                path.write_text(json.dumps({"version": 1, "nodes": nodes}))
                rows.append(
                    measure(f"{count} peers, 1 probe/s each", path, args.seconds, args.warmup)
                )
    finally:
        if farm.stdin is not None:
            farm.stdin.close()
        farm.wait(timeout=10)
    print(
        f"swarmlet-exporter (thermal collector + mesh) on loopback, scraped every "
        f"{SCRAPE_INTERVAL:g} s, {args.seconds:g} s window; load average "
        f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs\n"
    )
    print(
        f"{'set-up':<24} {'exporter RSS/PSS':>17} {'streams RSS/PSS':>16} {'total PSS':>10} "
        f"{'CPU':>6} {'series':>7} {'/metrics':>9} {'scrape':>8}"
    )
    base = rows[0].exporter[1]
    for row in rows:
        streams = row.streams or (0, 0)
        total = row.exporter[1] + streams[1]
        print(
            f"{row.label:<24} {row.exporter[0] / MIB:>7.1f}/{row.exporter[1] / MIB:>4.1f} MiB "
            f"{streams[0] / MIB:>6.1f}/{streams[1] / MIB:>4.1f} MiB {total / MIB:>6.1f} MiB "
            f"{row.cpu:>6.2%} {row.series:>7} {row.metrics_bytes / 1024:>6.1f} KB "
            f"{row.scrape_ms:>5.1f} ms"
        )
    last = rows[-1]
    added = last.exporter[1] + (last.streams or (0, 0))[1] - base
    print(f"\nthe mesh with 20 peers adds {added / MIB:.1f} MiB PSS to the exporter")
    return 0


if __name__ == "__main__":
    sys.exit(main())
