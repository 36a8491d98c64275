"""Mesh: the source-by-destination latency matrix, latency distribution, loss and bandwidth."""

from __future__ import annotations

from drivers.render.grafana_model import (
    Dashboard,
    Query,
    Row,
    Variable,
    bargauge,
    heatmap,
    matrix_table,
    stat,
    threshold_panel,
    threshold_steps,
    timeseries,
)
from drivers.thresholds import Threshold

UID = "swarmscope-mesh"
# The key of the threshold the mesh latency is judged by (its expr gives the mean per pair).
LATENCY_THRESHOLD = "coordination_latency"
PAIR = 'source=~"$source", destination=~"$destination"'


def build(thresholds: dict[str, Threshold]) -> Dashboard:
    latency = thresholds[LATENCY_THRESHOLD]
    rtt = "swarmlet_mesh_rtt_seconds"
    latency_row = Row(
        "Round-trip latency between nodes (exporters' mesh probes)",
        [
            matrix_table(
                "Mean RTT per source (rows) and destination (columns) "
                f"(target {latency.target_text}, "
                f"acceptable {latency.acceptable_text})",
                Query(latency.expr, instant=True, format="table"),
                rows="source",
                columns="destination",
                unit="s",
                steps=threshold_steps(latency),
                description=f"{latency.description} One row per probing node.",
            ),
            heatmap(
                "RTT distribution over time ($source → $destination)",
                Query(
                    f"sum by (le) (rate({rtt}_bucket{{{PAIR}}}[$__rate_interval]))",
                    "{{le}}",
                    format="heatmap",
                ),
                "s",
            ),
            threshold_panel(latency),
            timeseries(
                "p99 RTT per pair",
                [
                    Query(
                        "histogram_quantile(0.99, sum by (le, source, destination) "
                        f"(rate({rtt}_bucket{{{PAIR}}}[$__rate_interval])))",
                        "{{source}} → {{destination}}",
                    )
                ],
                "s",
            ),
        ],
    )
    probes = "swarmlet_mesh_probes_total"
    lost = "swarmlet_mesh_lost_total"
    loss_row = Row(
        "Loss and peers",
        [
            timeseries(
                "Probe loss per pair",
                [
                    Query(
                        f"sum by (source, destination) (rate({lost}{{{PAIR}}}[$__rate_interval]))"
                        " / sum by (source, destination) "
                        f"(rate({probes}{{{PAIR}}}[$__rate_interval]))",
                        "{{source}} → {{destination}}",
                    )
                ],
                "percentunit",
            ),
            matrix_table(
                "Probe loss over the last 5 minutes per source (rows) and destination (columns)",
                Query(
                    f"sum by (source, destination) (increase({lost}[5m])) / "
                    f"sum by (source, destination) (increase({probes}[5m]))",
                    instant=True,
                    format="table",
                ),
                rows="source",
                columns="destination",
                unit="percentunit",
            ),
            bargauge(
                "Peers answering, per node",
                [
                    Query("max by (source) (swarmlet_mesh_peers_seen)", "{{source}}", instant=True),
                ],
                "short",
                description="Peers that answered a probe recently, out of "
                "swarmlet_mesh_peers_configured.",
            ),
            stat(
                "Discovery time (every node sees every peer)",
                [Query("max(swarmscope_mesh_discovery_seconds)", "discovery", instant=True)],
                "s",
            ),
        ],
    )
    bandwidth_row = Row(
        "Bandwidth",
        [
            bargauge(
                "Bulk transfer bandwidth (last `swarmscope run mesh`)",
                [
                    Query(
                        "max by (source, destination) (swarmscope_mesh_bandwidth_bytes_per_second)",
                        "{{source}} → {{destination}}",
                        instant=True,
                    )
                ],
                "Bps",
                width=24,
            )
        ],
    )
    return Dashboard(
        UID,
        "swarmscope / Mesh",
        "Pairwise latency measured continuously by the exporters, loss, discovery and bandwidth.",
        [latency_row, loss_row, bandwidth_row],
        (
            Variable("source", "Source", probes),
            Variable("destination", "Destination", probes),
        ),
    )
