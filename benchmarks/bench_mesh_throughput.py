"""Can the Locust message driver fill a Pi's gigabit link with 1 KB messages? Link utilisation.

Builds a 2-node lab of its own (gpu-primary, rpi-1) with the gigabit profile: rpi-1's link
is rate-limited to 1 Gbit/s each way by tbf (inbound through ifb), like a Pi 4's NIC. From
gpu-primary's namespace it sends to rpi-1's mesh endpoint (its exporter's TCP streams
process), for each sender:

- reference: plain Python, 1 MiB bulk writes (no Locust): what the link gives at best;
- Locust, one user in one worker process, 1 KB messages, 100 per batch and event, 4 batches
  in flight (the driver's defaults);
- Locust, 1 KB messages one at a time, each waiting for its acknowledgement (one event per
  message): why the driver batches.

Link utilisation is what crossed rpi-1's shaped inbound link (bytes through its ifb device,
frame sizes as tbf counts them) over a steady window, against 1 Gbit/s; the ratio to the
reference is printed too. Goal: the Locust driver at >= 90 % utilisation. The sender's CPU
over the window is printed (100 % = one core).

Run with ``make bench-mesh-throughput`` (root; builds and removes its lab, about a minute).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from drivers import lab  # noqa: E402
from drivers.lab.system import in_netns  # noqa: E402
from exporters.mesh.peers import Mesh, Peer, dumps  # noqa: E402

LINK_BITS_PER_SECOND = 1e9
GOAL = 0.90
WARMUP_SECONDS = 4.0  # Locust's start-up, then a second of sending before the window opens
WINDOW_SECONDS = 6.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Result:
    label: str
    utilisation: float
    cpu: float


def link_bytes(netns: str) -> int:
    """Bytes through rpi-1's shaped inbound path: the ifb's transmit counter (eth0 rx if none)."""
    text = subprocess.run(
        in_netns(netns, ["cat", "/proc/net/dev"]), capture_output=True, text=True, check=True
    ).stdout
    counters = {}
    for line in text.splitlines()[2:]:
        name, _, fields = line.partition(":")
        values = fields.split()
        counters[name.strip()] = (int(values[0]), int(values[8]))  # rx bytes, tx bytes
    if "ifb-eth0" in counters:
        return counters["ifb-eth0"][1]
    return counters["eth0"][0]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(
    label: str, argv: list[str], sender_ns: str, receiver_ns: str, env: dict[str, str]
) -> Result:
    with tempfile.TemporaryDirectory() as work:
        process = subprocess.Popen(
            in_netns(sender_ns, argv),
            cwd=work,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(WARMUP_SECONDS)
            bytes_before, cpu_before, started = (
                link_bytes(receiver_ns),
                cpu_seconds(process.pid),
                time.monotonic(),
            )
            time.sleep(WINDOW_SECONDS)
            bytes_after, cpu_after, ended = (
                link_bytes(receiver_ns),
                cpu_seconds(process.pid),
                time.monotonic(),
            )
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{label}: sender exited {process.returncode}: {stderr[-500:]}")
    seconds = ended - started
    utilisation = (bytes_after - bytes_before) * 8 / seconds / LINK_BITS_PER_SECOND
    return Result(label, utilisation, (cpu_after - cpu_before) / seconds)


def reference_sender(address: str, port: int, seconds: float) -> int:
    """Plain Python bulk writes for ``seconds`` (run inside the sender's namespace)."""
    from drivers.load.client import MessageClient  # noqa: PLC0415

    class Quiet:
        def fire(self, **kwargs: object) -> None:
            if kwargs.get("exception"):
                raise RuntimeError(str(kwargs["exception"]))

    client = MessageClient("reference", Quiet())
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        client.bulk(Peer("rpi-1", address, port), 64 * 2**20, chunk_bytes=2**20)
    client.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-sender", nargs=3, metavar=("ADDRESS", "PORT", "SECONDS"))
    args = parser.parse_args(argv)
    if args.reference_sender:
        address, port, seconds = args.reference_sender
        return reference_sender(address, int(port), float(seconds))
    if os.geteuid() != 0:
        print("bench_mesh_throughput: needs root (it builds a lab)", file=sys.stderr)
        return 2
    name = f"bench-tput-{os.getpid()}"
    print(f"building lab {name} (2 nodes, gigabit links)...", file=sys.stderr)
    result = lab.up(lab.UpOptions(name=name, nodes=2, link="gigabit"))
    try:
        spec = result.state.spec
        inventory = result.inventory
        gpu, rpi = inventory.node("gpu-primary"), inventory.node("rpi-1")
        mesh = Mesh(
            inventory.name,
            (
                Peer(gpu.name, gpu.address, gpu.mesh_port, "gpu"),
                Peer(rpi.name, rpi.address, rpi.mesh_port),
            ),
        )
        sender_ns, receiver_ns = spec.node_netns("gpu-primary"), spec.node_netns("rpi-1")
        run_time = f"{WARMUP_SECONDS + WINDOW_SECONDS + 2:g}s"
        locust = [sys.executable, "-m", "drivers.load.run_locust", "messages", "--headless"]
        locust += ["-u", "1", "-r", "1", "--run-time", run_time, "--only-summary"]
        locust += ["--mesh-peers-document", dumps(mesh), "MessageStreamUser"]
        env = {"SWARMSCOPE_NODE": "gpu-primary", "PYTHONPATH": str(ROOT)}
        reference_argv = [sys.executable, str(Path(__file__).resolve()), "--reference-sender"]
        reference_argv += [
            rpi.address,
            str(rpi.mesh_port),
            str(WARMUP_SECONDS + WINDOW_SECONDS + 1),
        ]
        print(
            f"gpu-primary -> rpi-1 (tbf 1 Gbit/s); window {WINDOW_SECONDS:g} s after "
            f"{WARMUP_SECONDS:g} s; load average {os.getloadavg()[0]:.2f} "
            f"on {os.cpu_count()} CPUs\n"
        )
        rows = [
            measure(
                "reference: plain Python, 1 MiB writes", reference_argv, sender_ns, receiver_ns, env
            ),
            measure(
                "Locust: 1 KB x 100 per event, 4 in flight",
                [*locust, "--message-size", "1024", "--batch-messages", "100", "--window", "4"],
                sender_ns,
                receiver_ns,
                env,
            ),
            measure(
                "Locust: 1 KB, one event per message",
                [*locust, "--message-size", "1024", "--batch-messages", "1", "--window", "1"],
                sender_ns,
                receiver_ns,
                env,
            ),
        ]
        reference = rows[0].utilisation
        print(f"{'sender':<42} {'link use':>9} {'vs ref':>7} {'sender CPU':>11}")
        for row in rows:
            print(
                f"{row.label:<42} {row.utilisation:>9.1%} {row.utilisation / reference:>7.2f} "
                f"{row.cpu:>11.0%}"
            )
        driver = rows[1].utilisation
        verdict = "met" if driver >= GOAL else "missed"
        print(f"\ngoal: the Locust driver at >= {GOAL:.0%} of the link: {verdict} ({driver:.1%})")
    finally:
        print(f"removing lab {name}...", file=sys.stderr)
        lab.down(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
