"""Failure and recovery: node status over time with fault windows, detection and recovery."""

from __future__ import annotations

from drivers.render.grafana_model import (
    Dashboard,
    Query,
    Row,
    label_table,
    state_timeline,
    threshold_panel,
    timeseries,
)
from drivers.thresholds import Threshold

UID = "swarmscope-failure"
UP_STATES = {0: ("down", "red"), 1: ("up", "green")}


def build(thresholds: dict[str, Threshold]) -> Dashboard:
    status = Row(
        "Node status (fault windows are drawn as annotations)",
        [
            state_timeline(
                "Exporter reachable and agent running, per node",
                [
                    Query('max by (node) (up{job="swarmlet"})', "{{node}} exporter"),
                    Query("max by (node) (swarmlet_agent_up)", "{{node}} agent"),
                ],
                UP_STATES,
                height=10,
            ),
            timeseries(
                "Faults applied (1 while applied)",
                [
                    Query(
                        "max by (fault, target) (swarmscope_fault_active)",
                        "{{fault}} on {{target}}",
                    )
                ],
                "short",
                step_line=True,
            ),
            label_table(
                "Faults applied now",
                Query(
                    "max by (fault, target) (swarmscope_fault_active) == 1",
                    instant=True,
                    format="table",
                    may_be_empty="no fault is applied right now",
                ),
                width=12,
            ),
        ],
    )
    judged = Row(
        "Detection and recovery against thresholds.yaml",
        [threshold_panel(t, "bargauge") for t in thresholds.values() if t.scenario == "failure"],
    )
    return Dashboard(
        UID,
        "swarmscope / Failure and recovery",
        "Nodes going down and coming back while faults are applied, and how fast the cluster "
        "noticed and healed.",
        [status, judged],
    )
