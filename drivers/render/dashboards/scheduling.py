"""Scheduling and placement: the latency distribution and where work landed, GPU vs Pi."""

from __future__ import annotations

from drivers.render.grafana_model import (
    Dashboard,
    Query,
    Row,
    alarm_steps,
    bargauge,
    stat,
)
from drivers.thresholds import Threshold

UID = "swarmscope-scheduling"
LATENCY = "swarmscope_scheduling_latency_seconds"
QUANTILES = (0.5, 0.95, 0.99)


def build(thresholds: dict[str, Threshold]) -> Dashboard:
    del thresholds  # the plan sets no threshold on scheduling latency itself
    buckets = f"sum by (le) ({LATENCY}_bucket)"
    latency = Row(
        "Scheduling latency (created → running, orchestrator timestamps)",
        [
            stat(
                "Latency quantiles",
                [
                    Query(f"histogram_quantile({q}, {buckets})", f"p{q * 100:g}", instant=True)
                    for q in QUANTILES
                ],
                "s",
                width=12,
            ),
            stat(
                "Workloads timed",
                [Query(f"sum({LATENCY}_count)", "workloads", instant=True)],
                width=6,
            ),
            stat(
                "Mean latency",
                [Query(f"sum({LATENCY}_sum) / sum({LATENCY}_count)", "mean", instant=True)],
                "s",
                width=6,
            ),
            bargauge(
                "p95 latency by node type (GPU vs Pi)",
                [
                    Query(
                        f"histogram_quantile(0.95, sum by (le, type) ({LATENCY}_bucket))",
                        "{{type}}",
                        instant=True,
                    )
                ],
                "s",
                width=24,
                height=5,
            ),
            bargauge(
                "Latency distribution (workloads per bucket)",
                [Query(buckets, "≤ {{le}} s", instant=True, format="heatmap")],
                "short",
                width=24,
                vertical=True,
            ),
        ],
    )
    placement = Row(
        "Where work landed",
        [
            bargauge(
                "Workloads per node",
                [Query("sum by (node) (swarmscope_placement_workloads)", "{{node}}", instant=True)],
                "short",
                width=8,
            ),
            bargauge(
                "GPU node vs Pi nodes",
                [Query("sum by (type) (swarmscope_placement_workloads)", "{{type}}", instant=True)],
                "short",
                width=8,
            ),
            stat(
                "Workloads on an unexpected node",
                [
                    Query(
                        "sum(swarmscope_placement_unexpected_workloads)", "workloads", instant=True
                    )
                ],
                steps=alarm_steps(),
                width=4,
            ),
            stat(
                "Migration time",
                [Query("max(swarmscope_migration_seconds)", "migration", instant=True)],
                "s",
                width=4,
            ),
        ],
    )
    return Dashboard(
        UID,
        "swarmscope / Scheduling and placement",
        "Scheduling latency of the last `swarmscope run scheduling` and where "
        "`swarmscope run placement` put each workload.",
        [latency, placement],
    )
