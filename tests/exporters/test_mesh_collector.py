"""The mesh collector's output: names, labels and types Grafana and the alert rules query."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from drivers.thresholds import load_thresholds
from exporters.collectors.mesh import MeshCollector
from exporters.exposition import render
from exporters.mesh.prober import RTT_BUCKETS, PeerSnapshot


def _peer(name: str, replies: int, since: float | None, lost: int = 0) -> PeerSnapshot:
    buckets = [0] * (len(RTT_BUCKETS) + 1)
    buckets[2] = replies  # all in (0.0002, 0.0003]
    return PeerSnapshot(
        name=name,
        address="10.0.0.2",
        port=9878,
        probes=replies + lost,
        lost=lost,
        replies=replies,
        rtt_sum=replies * 0.00025,
        buckets=tuple(buckets),
        last_rtt=0.00025 if replies else None,
        seconds_since_reply=since,
    )


def _samples(collector: MeshCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(collector.collect()).decode()
    result = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            result[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return result


def test_exports_rtt_histogram_counters_and_peers_seen() -> None:
    """Each pair gets a histogram and counters; peers seen counts recent answers only."""
    peers = [_peer("rpi-2", 60, 0.5), _peer("rpi-3", 10, 30.0, lost=50), _peer("rpi-4", 0, None)]
    collector = MeshCollector("rpi-1", lambda: peers, seen_within=3.0, reload_errors=lambda: 2)
    samples = _samples(collector)
    pair = (("destination", "rpi-2"), ("source", "rpi-1"))

    def bucket(le: str) -> float:
        return samples[("swarmlet_mesh_rtt_seconds_bucket", (pair[0], ("le", le), pair[1]))]

    assert (bucket("0.0002"), bucket("0.0003"), bucket("+Inf")) == (0, 60, 60)
    assert samples[("swarmlet_mesh_rtt_seconds_count", pair)] == 60
    assert samples[("swarmlet_mesh_rtt_seconds_sum", pair)] == 60 * 0.00025
    lossy = (("destination", "rpi-3"), ("source", "rpi-1"))
    assert samples[("swarmlet_mesh_probes_total", lossy)] == 60
    assert samples[("swarmlet_mesh_lost_total", lossy)] == 50
    assert samples[("swarmlet_mesh_peer_up", pair)] == 1
    assert samples[("swarmlet_mesh_peer_up", lossy)] == 0  # answered, but 30 s ago
    assert samples[("swarmlet_mesh_peer_up", (("destination", "rpi-4"), ("source", "rpi-1")))] == 0
    assert samples[("swarmlet_mesh_peers_seen", (("source", "rpi-1"),))] == 1
    assert samples[("swarmlet_mesh_peers_configured", (("source", "rpi-1"),))] == 3
    assert samples[("swarmlet_mesh_peers_file_errors_total", (("source", "rpi-1"),))] == 2


def test_types_are_what_prometheus_practice_asks() -> None:
    """The RTT is a histogram in seconds, probes and losses are counters ending in _total."""
    collector = MeshCollector("rpi-1", lambda: [_peer("rpi-2", 1, 0.1)])
    text = render(collector.collect()).decode()
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types["swarmlet_mesh_rtt_seconds"] == "histogram"
    assert types["swarmlet_mesh_probes"] == "counter"
    assert types["swarmlet_mesh_lost"] == "counter"
    assert types["swarmlet_mesh_peers_seen"] == "gauge"


def test_buckets_start_near_100us_and_reach_3g_round_trips() -> None:
    """Sub-millisecond LAN links and multi-second 3G links both land in real buckets."""
    assert RTT_BUCKETS[0] == 0.0001
    assert RTT_BUCKETS[-1] >= 2.0
    # A bucket boundary on the threshold's target and acceptable values, so histogram
    # queries can tell "met" from "acceptable" exactly.
    threshold = load_thresholds()["coordination_latency"]
    assert threshold.target in RTT_BUCKETS
    assert threshold.acceptable in RTT_BUCKETS
