"""Join: each node's join time and its phases against their thresholds, and what joining cost."""

from __future__ import annotations

from drivers.render.grafana_model import Dashboard, Query, Row, matrix_table, threshold_panel
from drivers.thresholds import Threshold

UID = "swarmscope-join"
# Pushed by `swarmscope run join`, or read by the exporter from the agent's log.
PHASES_EXPR = "max by (node, phase) (swarmscope_join_phase_seconds or swarmlet_join_phase_seconds)"


def build(thresholds: dict[str, Threshold]) -> Dashboard:
    join = [t for t in thresholds.values() if t.scenario == "join"]
    timing = [t for t in join if t.unit == "seconds"]
    cost = [t for t in join if t.unit != "seconds"]
    phases = Row(
        "Join time and phases per node",
        [
            matrix_table(
                "Phase breakdown per node (seconds)",
                Query(PHASES_EXPR, instant=True, format="table"),
                rows="node",
                columns="phase",
                unit="s",
                width=24,
            )
        ]
        + [threshold_panel(t, "bargauge") for t in timing],
    )
    costs = Row("What joining cost", [threshold_panel(t, "bargauge") for t in cost])
    return Dashboard(
        UID,
        "swarmscope / Join",
        "How long each node took to join, phase by phase, and the traffic it cost.",
        [phases, costs],
    )
