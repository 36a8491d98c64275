"""One-shot mesh survey: probe every peer N times now and print every sample as JSON.

`swarmscope run mesh` starts this on every node at once (over SSH) for the discovery time
and the exact latency matrix; it uses the exporter's own prober, so the figures are the
same measurement Grafana shows continuously, only with every raw sample kept. Peers answer
through the responders of their running exporters.

    python -m exporters.mesh.survey --peers /etc/swarmscope/mesh-peers.json --node rpi-1 \\
        --count 200 --interval 0.01

(``--peers-document JSON`` gives the peers inline, so nothing need be copied to the node.)

prints ``{"node": ..., "started_at_ns": ..., "kernel_timestamps": true, "peers": {NAME:
{"first_reply_ns": ..., "sent": N, "lost": N, "rtt_seconds": [...]}}}``.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporters.mesh.peers import Mesh, PeersFileError, loads, read
from exporters.mesh.prober import Prober


@dataclass
class _PeerRecord:
    first_reply_ns: int | None = None
    sent: int = 0
    lost: int = 0
    rtt_seconds: list[float] = field(default_factory=list)


def survey(
    mesh: Mesh,
    node: str,
    *,
    count: int,
    interval: float,
    timeout: float,
    deadline: float,
) -> dict[str, Any]:
    peers = mesh.peers_of(node)
    records = {peer.name: _PeerRecord() for peer in peers}
    lock = threading.Lock()

    def on_sample(peer: str, rtt: float | None, at_ns: int) -> None:
        with lock:
            record = records[peer]
            if rtt is None:
                record.lost += 1
                return
            record.rtt_seconds.append(rtt)
            if record.first_reply_ns is None:
                record.first_reply_ns = at_ns

    prober = Prober(
        node,
        peers,
        interval=interval,
        timeout=timeout,
        first_probe_within=0.0,
        max_probes=count,
        on_sample=on_sample,
    )
    prober.start()
    finished = prober.wait(deadline)
    prober.stop()
    sent = {s.name: s.probes for s in prober.snapshot()}
    with lock:
        return {
            "node": node,
            "started_at_ns": prober.started_ns,
            "finished": finished,
            "kernel_timestamps": prober.kernel_timestamps,
            "peers": {
                name: {
                    "first_reply_ns": r.first_reply_ns,
                    "sent": sent.get(name, 0),
                    "lost": r.lost,
                    "rtt_seconds": r.rtt_seconds,
                }
                for name, r in records.items()
            },
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exporters.mesh.survey",
        description="Probe every peer of the peers file COUNT times and print the samples.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--peers", type=Path, help="the mesh peers file (JSON)")
    source.add_argument("--peers-document", help="the peers file's content, inline")
    parser.add_argument("--node", default=socket.gethostname(), help="this node's name")
    parser.add_argument("--count", type=int, default=100, help="probes per peer")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between probes")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds before a probe is lost")
    args = parser.parse_args(argv)
    if args.count < 1 or args.interval <= 0 or args.timeout <= 0:
        print("survey: error: --count, --interval and --timeout must be positive", file=sys.stderr)
        return 2
    # Bounded: every probe sent and answered or timed out, plus a margin.
    deadline = args.count * args.interval * 1.2 + args.timeout + 5.0
    try:
        mesh = (
            loads(args.peers_document, "--peers-document")
            if args.peers_document
            else read(args.peers)
        )
        result = survey(
            mesh,
            args.node,
            count=args.count,
            interval=args.interval,
            timeout=args.timeout,
            deadline=deadline,
        )
    except PeersFileError as exc:
        print(f"survey: error: {exc}", file=sys.stderr)
        return 2
    result["ended_at_ns"] = time.time_ns()
    json.dump(result, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
