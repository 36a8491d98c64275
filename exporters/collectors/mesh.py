"""Mesh collector: the round-trip histogram and probe counters of every peer this node probes.

    # TYPE swarmlet_mesh_rtt_seconds histogram
    swarmlet_mesh_rtt_seconds_bucket{source="rpi-1",destination="rpi-2",le="0.0003"} 57.0
    swarmlet_mesh_probes_total{source="rpi-1",destination="rpi-2"} 60.0
    swarmlet_mesh_lost_total{source="rpi-1",destination="rpi-2"} 1.0
    swarmlet_mesh_peer_up{source="rpi-1",destination="rpi-2"} 1.0
    swarmlet_mesh_peers_seen{source="rpi-1"} 4.0
    swarmlet_mesh_peers_configured{source="rpi-1"} 5.0

The prober thread does the measuring; a scrape only copies its counters. A peer counts as
seen when it answered within the last three probe intervals (at least ``seen_within``
seconds), so one lost probe does not flap it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from exporters.exposition import MetricFamily, counter, gauge
from exporters.mesh.prober import PeerSnapshot

Snapshot = Callable[[], Sequence[PeerSnapshot]]


class MeshCollector:
    name = "mesh"

    def __init__(
        self,
        source: str,
        snapshot: Snapshot,
        *,
        seen_within: float = 3.0,
        reload_errors: Callable[[], int] = lambda: 0,
    ) -> None:
        self.source = source
        self.snapshot = snapshot
        self.seen_within = seen_within
        self.reload_errors = reload_errors

    def collect(self) -> Iterable[MetricFamily]:
        peers = sorted(self.snapshot(), key=lambda p: p.name)
        pair = ["source", "destination"]
        rtt = MetricFamily(
            "swarmlet_mesh_rtt_seconds",
            "Round-trip time of mesh probes from source to destination (kernel send stamps, "
            "the responder's own holding time subtracted).",
            "histogram",
            pair,
        )
        probes = counter("swarmlet_mesh_probes_total", "Mesh probes sent.", pair)
        lost = counter(
            "swarmlet_mesh_lost_total", "Mesh probes without a reply within the timeout.", pair
        )
        up = gauge(
            "swarmlet_mesh_peer_up",
            "1 if the destination answered a probe recently, else 0.",
            pair,
        )
        seen = gauge(
            "swarmlet_mesh_peers_seen", "Peers that answered a probe recently.", ["source"]
        )
        configured = gauge(
            "swarmlet_mesh_peers_configured", "Peers listed in the peers file.", ["source"]
        )
        reload_errors = counter(
            "swarmlet_mesh_peers_file_errors_total",
            "Times the changed peers file could not be read (the previous peers were kept).",
            ["source"],
        )
        seen_count = 0
        for peer in peers:
            labels = [self.source, peer.name]
            rtt.add_histogram(labels, peer.cumulative_buckets(), peer.rtt_sum)
            probes.add(labels, peer.probes)
            lost.add(labels, peer.lost)
            is_up = peer.seconds_since_reply is not None and (
                peer.seconds_since_reply <= self.seen_within
            )
            seen_count += is_up
            up.add(labels, 1.0 if is_up else 0.0)
        seen.add([self.source], seen_count)
        configured.add([self.source], len(peers))
        reload_errors.add([self.source], self.reload_errors())
        return [rtt, probes, lost, up, seen, configured, reload_errors]
