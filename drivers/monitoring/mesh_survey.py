"""The mesh survey from the control node: run ``exporters.mesh.survey`` on every node at once.

Each node probes every other node's exporter (its UDP responder) over SSH-started surveys,
so the latency matrix comes from the nodes themselves, with every raw sample. From the
results: the discovery time and, per source -> destination pair, mean, p50, p99 and max.
"""

from __future__ import annotations

import json
import math
import shlex
import statistics
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from drivers.errors import SwarmscopeError
from drivers.inventory import Node
from drivers.remote import RemoteError, SshPool
from exporters.mesh.peers import Mesh, dumps


@dataclass(frozen=True)
class SurveySettings:
    count: int = 100
    interval: float = 0.02
    timeout: float = 2.0

    @property
    def seconds(self) -> float:
        """An upper bound of one survey's run, for the SSH command's timeout."""
        return self.count * self.interval * 1.2 + self.timeout + 30.0


@dataclass(frozen=True)
class PairStats:
    source: str
    destination: str
    sent: int
    lost: int
    samples: tuple[float, ...]  # seconds, in the order measured

    @property
    def pair(self) -> str:
        return f"{self.source}->{self.destination}"

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.samples)
        return {
            "sent": self.sent,
            "lost": self.lost,
            "replies": len(ordered),
            "mean": statistics.fmean(ordered) if ordered else None,
            "p50": percentile(ordered, 0.50) if ordered else None,
            "p99": percentile(ordered, 0.99) if ordered else None,
            "max": ordered[-1] if ordered else None,
        }


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values: a value that was really measured."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def survey_command(python: str, mesh: Mesh, node: str, settings: SurveySettings) -> str:
    argv = [python, "-m", "exporters.mesh.survey", "--peers-document", dumps(mesh)]
    argv += ["--node", node, "--count", str(settings.count)]
    argv += ["--interval", f"{settings.interval:g}", "--timeout", f"{settings.timeout:g}"]
    return shlex.join(argv)


def run_surveys(
    nodes: Sequence[Node], ssh: SshPool, python: str, mesh: Mesh, settings: SurveySettings
) -> dict[str, dict[str, Any]]:
    """Start the survey on every node at the same moment; each node's parsed result."""

    def one(node: Node) -> dict[str, Any]:
        result = ssh[node].run(
            survey_command(python, mesh, node.name, settings), timeout=settings.seconds
        )
        result.check()
        try:
            document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            raise SwarmscopeError(
                f"node {node.name}: the mesh survey printed no result: {result.stdout[-200:]!r}"
            ) from None
        return document

    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        futures = {node.name: pool.submit(one, node) for node in nodes}
        results, failures = {}, []
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except RemoteError as exc:
                failures.append(str(exc))
    if failures:
        raise SwarmscopeError("mesh survey failed: " + "; ".join(failures))
    return results


def pair_stats(results: Mapping[str, Mapping[str, Any]]) -> list[PairStats]:
    pairs = []
    for source, result in sorted(results.items()):
        for destination, record in sorted(result["peers"].items()):
            pairs.append(
                PairStats(
                    source=source,
                    destination=destination,
                    sent=int(record["sent"]),
                    lost=int(record["lost"]),
                    samples=tuple(float(v) for v in record["rtt_seconds"]),
                )
            )
    return pairs


@dataclass(frozen=True)
class Discovery:
    per_node: dict[str, float | None]  # seconds from the node's first probe to its last new peer
    missing: tuple[str, ...]  # pairs that never answered

    @property
    def seconds(self) -> float | None:
        """Until every node had seen every peer, each from its own start; None if one never did."""
        values = list(self.per_node.values())
        if not values or any(v is None for v in values):
            return None
        return max(v for v in values if v is not None)


def discovery(results: Mapping[str, Mapping[str, Any]]) -> Discovery:
    per_node: dict[str, float | None] = {}
    missing = []
    for node, result in sorted(results.items()):
        started = int(result["started_at_ns"])
        firsts = []
        for peer, record in sorted(result["peers"].items()):
            if record["first_reply_ns"] is None:
                missing.append(f"{node}->{peer}")
            else:
                firsts.append(int(record["first_reply_ns"]))
        complete = len(firsts) == len(result["peers"])
        per_node[node] = (max(firsts, default=started) - started) / 1e9 if complete else None
    return Discovery(per_node, tuple(missing))


def overall(pairs: Sequence[PairStats]) -> dict[str, Any]:
    """Every sample of every pair together: the mesh's own mean, p50, p99 and max."""
    everything = tuple(v for p in pairs for v in p.samples)
    sent, lost = sum(p.sent for p in pairs), sum(p.lost for p in pairs)
    return PairStats("all", "all", sent, lost, everything).summary()
