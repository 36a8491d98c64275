"""swarmlet-exporter against Debian's prometheus-node-exporter: resident memory and scrape time.

Starts both on free loopback ports, warms them up, scrapes each 50 times (alternating, over
one kept-alive connection each, as Prometheus does), and prints the median /metrics response
time, RSS and PSS (from /proc/PID/smaps_rollup) of each, and the ratios
swarmlet-exporter / node_exporter against the goals (memory <= 1.0, scrape time <= 0.5).

swarmlet-exporter runs in two set-ups:

- "this machine": the real /sys and /proc; the agent is a real process (a ``sleep`` this
  script starts, found through a pid file); join phases from a log file holding the seed's
  lines. This VM has no thermal sensors, no cpufreq and no vcgencmd, so those collectors run
  and find nothing, as on any VM.
- "Pi 5 fixtures": the Pi 5 sysfs tree of the tests and the vcgencmd stand-in (a shell script
  replaying recorded outputs), so every collector has work to do, including four vcgencmd
  processes per scrape as on a real Pi.

Run with ``make bench-exporter`` or ``python benchmarks/bench_exporter.py``. Both exporters
and the stand-in agent are stopped by PID at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "exporters" / "fixtures"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
MEMORY_GOAL = 1.0
SCRAPE_GOAL = 0.5

JOIN_LOG = """2026-03-14T08:00:00.000Z swarmlet starting
2026-03-14T08:00:02.500Z Hardware profile: 4 cores, 3.7 GiB RAM
2026-03-14T08:00:03.750Z Network latency: 1.8ms to 192.168.1.100
2026-03-14T08:00:04.500Z Successfully joined cluster edge-lab
"""


@dataclass
class Target:
    label: str
    argv: list[str]
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    connection: http.client.HTTPConnection | None = None

    def scrape(self) -> float:
        """Seconds for one GET /metrics with the body read, on the kept-alive connection."""
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        started = time.perf_counter()
        self.connection.request("GET", "/metrics")
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200 or not body:
            raise RuntimeError(f"{self.label}: /metrics answered {response.status}")
        return elapsed

    def memory_kib(self) -> tuple[int, int, int]:
        """(RSS, PSS, USS) in KiB from smaps_rollup; USS = private clean + private dirty."""
        assert self.process is not None
        values = {}
        with open(f"/proc/{self.process.pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                    values[key] = int(rest.split()[0])
        return values["Rss"], values["Pss"], values["Private_Clean"] + values["Private_Dirty"]


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(target: Target, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert target.process is not None
        if target.process.poll() is not None:
            raise RuntimeError(f"{target.label} exited with {target.process.returncode}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", target.port), 0.5),
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{target.label} did not listen on 127.0.0.1:{target.port}")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def started(targets: Sequence[Target]) -> Iterator[None]:
    try:
        for target in targets:
            target.process = subprocess.Popen(
                target.argv,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, **target.env},
            )
        for target in targets:
            wait_for_port(target)
        yield
    finally:
        for target in targets:
            if target.connection is not None:
                target.connection.close()
            stop(target.process)


def exporter_command() -> list[str]:
    installed = Path(sys.executable).parent / "swarmlet-exporter"
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "exporters"]


def build_targets(workdir: Path, agent_pid: int) -> list[Target]:
    pidfile = workdir / "swarmlet.pid"
    pidfile.write_text(f"{agent_pid}\n")
    log = workdir / "agent.log"
    log.write_text(JOIN_LOG)
    agent = ["--agent-pidfile", str(pidfile), "--agent-log", str(log)]
    port = free_port()
    targets = [
        Target(
            "node_exporter",
            [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"],
            port,
            {},
        )
    ]
    port = free_port()
    targets.append(
        Target(
            "swarmlet-exporter (this machine)",
            [*exporter_command(), "--listen", f"127.0.0.1:{port}", *agent],
            port,
            {},
        )
    )
    port = free_port()
    targets.append(
        Target(
            "swarmlet-exporter (Pi 5 fixtures)",
            [
                *exporter_command(), "--listen", f"127.0.0.1:{port}", *agent,
                "--sysfs", str(FIXTURES / "pi5" / "sys"),
                "--vcgencmd", str(FIXTURES / "bin" / "vcgencmd"),
            ],
            port,
            {"SWX_VCGENCMD_FIXTURES": str(FIXTURES / "pi5" / "vcgencmd")},
        )
    )  # fmt: skip
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scrapes", type=int, default=50, help="timed scrapes of each")
    parser.add_argument("--warmup", type=int, default=10, help="untimed scrapes first")
    args = parser.parse_args(argv)
    if not os.path.exists(NODE_EXPORTER):
        print(
            f"bench_exporter: {NODE_EXPORTER} is missing (make setup installs it)", file=sys.stderr
        )
        return 2
    sleep = shutil.which("sleep") or "/bin/sleep"
    agent = subprocess.Popen([sleep, "3600"])
    try:
        with tempfile.TemporaryDirectory(prefix="bench-exporter-") as tmp:
            targets = build_targets(Path(tmp), agent.pid)
            with started(targets):
                for _ in range(args.warmup):
                    for target in targets:
                        target.scrape()
                times: dict[str, list[float]] = {t.label: [] for t in targets}
                for _ in range(args.scrapes):
                    for target in targets:  # alternate, so noise hits all alike
                        times[target.label].append(target.scrape())
                memory = {t.label: t.memory_kib() for t in targets}
    finally:
        stop(agent)
    report(targets, times, memory, args.scrapes)
    return 0


def report(
    targets: Sequence[Target],
    times: dict[str, list[float]],
    memory: dict[str, tuple[int, int, int]],
    scrapes: int,
) -> None:
    reference = targets[0].label
    median = {label: statistics.median(values) for label, values in times.items()}
    header = f"median of {scrapes} scrapes"
    print(f"{'':34} {'RSS MiB':>8} {'PSS MiB':>8} {'USS MiB':>8} {header:>22}")
    for target in targets:
        rss, pss, uss = memory[target.label]
        print(
            f"{target.label:34} {rss / 1024:8.1f} {pss / 1024:8.1f} {uss / 1024:8.1f} "
            f"{median[target.label] * 1000:19.2f} ms"
        )
    print()
    ref_rss, ref_pss, ref_uss = memory[reference]
    for target in targets[1:]:
        rss, pss, uss = memory[target.label]
        rss_ratio = rss / ref_rss
        scrape_ratio = median[target.label] / median[reference]
        print(f"{target.label} / node_exporter:")
        print(
            f"  memory RSS {rss_ratio:.2f}, PSS {pss / ref_pss:.2f}, USS {uss / ref_uss:.2f}"
            f"  (goal RSS <= {MEMORY_GOAL}: {'met' if rss_ratio <= MEMORY_GOAL else 'MISSED'})"
        )
        print(f"  scrape time {scrape_ratio:.2f}  (goal <= {SCRAPE_GOAL}: "
              f"{'met' if scrape_ratio <= SCRAPE_GOAL else 'MISSED'})")  # fmt: skip
    print()
    print(
        "RSS is the figure that holds on a Pi, where each exporter runs once. PSS and USS\n"
        "depend on what else runs here: other node_exporter and Python processes on this\n"
        "machine share (and so split) the binaries' and libraries' pages."
    )


if __name__ == "__main__":
    sys.exit(main())
