"""Cluster overview: which nodes report, the agent's footprint against its thresholds, alerts."""

from __future__ import annotations

from drivers.render.grafana_model import (
    Dashboard,
    Query,
    Row,
    Variable,
    alarm_steps,
    label_table,
    stat,
    state_timeline,
    threshold_panel,
    timeseries,
)
from drivers.thresholds import Threshold

UID = "swarmscope-overview"
UP_STATES = {0: ("down", "red"), 1: ("up", "green")}


def build(thresholds: dict[str, Threshold]) -> Dashboard:
    footprint = [t for t in thresholds.values() if t.scenario == "edge"]
    nodes = Row(
        "Nodes",
        [
            stat(
                "Nodes reporting",
                [Query('count(up{job="swarmlet"} == 1) or vector(0)', "nodes", instant=True)],
                description="Nodes whose swarmlet-exporter Prometheus scraped last time.",
            ),
            stat(
                "Nodes not reporting",
                [Query('count(up{job="swarmlet"} == 0) or vector(0)', "nodes", instant=True)],
                steps=alarm_steps(),
            ),
            stat(
                "Alerts firing",
                [
                    Query(
                        f'count(ALERTS{{alertstate="firing", severity="{severity}"}}) or vector(0)',
                        severity,
                        instant=True,
                    )
                    for severity in ("critical", "warning")
                ],
                steps=alarm_steps(),
                width=12,
            ),
            state_timeline(
                "Exporter reachable and agent running, per node",
                [
                    Query('max by (node) (up{job="swarmlet", node=~"$node"})', "{{node}} exporter"),
                    Query('max by (node) (swarmlet_agent_up{node=~"$node"})', "{{node}} agent"),
                ],
                UP_STATES,
            ),
        ],
    )
    agent = Row(
        "Agent footprint against thresholds.yaml",
        [threshold_panel(t) for t in footprint]
        + [
            timeseries(
                "Agent network traffic (sent + received)",
                [
                    Query(
                        "sum by (node) ("
                        + " + ".join(
                            f'rate(swarmlet_agent_network_{way}_bytes_total{{node=~"$node"}}'
                            "[$__rate_interval])"
                            for way in ("transmit", "receive")
                        )
                        + ")",
                        "{{node}}",
                    )
                ],
                "Bps",
            ),
            timeseries(
                "Agent restarts (last hour)",
                [
                    Query(
                        'sum by (node) (increase(swarmlet_agent_restarts_total{node=~"$node"}[1h]))',  # noqa: E501
                        "{{node}}",
                    )
                ],
                "short",
            ),
        ],
    )
    alerts = Row(
        "Alerts",
        [
            label_table(
                "Firing alerts",
                Query(
                    'ALERTS{alertstate="firing"}',
                    instant=True,
                    format="table",
                    may_be_empty="no alert fires",
                ),
                description="Every alert Prometheus fires now (prometheus/rules/*.yml).",
            )
        ],
    )
    return Dashboard(
        UID,
        "swarmscope / Cluster overview",
        "Nodes, the swarmlet agent's footprint per node against thresholds.yaml, and alerts.",
        [nodes, agent, alerts],
        (Variable("node", "Node", 'up{job="swarmlet"}'),),
    )
