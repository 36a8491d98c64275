"""Edge: temperature, Raspberry Pi throttling, CPU clock and memory pressure per node."""

from __future__ import annotations

from drivers.render.grafana_model import (
    Dashboard,
    Query,
    Row,
    Variable,
    matrix_table,
    state_timeline,
    threshold_panel,
    timeseries,
)
from drivers.thresholds import Threshold

UID = "swarmscope-edge"
NODE = 'node=~"$node"'
PI_ONLY = "only a Raspberry Pi's firmware reports throttling (vcgencmd)"
NO_SENSORS = "virtual machines, and so the lab, have no thermal zones or cpufreq"
FLAG_STATES = {0: ("ok", "green"), 1: ("active", "red")}


def build(thresholds: dict[str, Threshold]) -> Dashboard:
    thermal = Row(
        "Temperature and throttling",
        [
            timeseries(
                "Temperature",
                [
                    Query(
                        f"max by (node, sensor) (swarmlet_node_temperature_celsius{{{NODE}}})",
                        "{{node}} {{sensor}}",
                        may_be_empty=NO_SENSORS,
                    )
                ],
                "celsius",
            ),
            timeseries(
                "CPU clock (mean of the node's CPUs)",
                [
                    Query(
                        f"avg by (node) (swarmlet_cpu_frequency_hertz{{{NODE}}})",
                        "{{node}}",
                        may_be_empty=NO_SENSORS,
                    )
                ],
                "hertz",
            ),
            state_timeline(
                "Throttling now (firmware flags)",
                [
                    Query(
                        f"max by (node, condition) (swarmlet_rpi_throttled{{{NODE}}})",
                        "{{node}} {{condition}}",
                        may_be_empty=PI_ONLY,
                    )
                ],
                FLAG_STATES,
            ),
            matrix_table(
                "Throttling since boot, per node and condition (1: it happened)",
                Query(
                    f"max by (node, condition) (swarmlet_rpi_throttled_since_boot{{{NODE}}})",
                    instant=True,
                    format="table",
                    may_be_empty=PI_ONLY,
                ),
                rows="node",
                columns="condition",
                width=24,
            ),
        ],
    )
    memory = Row(
        "Memory pressure (node_exporter)",
        [
            timeseries(
                "Memory in use",
                [
                    Query(
                        f"1 - max by (node) (node_memory_MemAvailable_bytes{{{NODE}}}) "
                        f"/ max by (node) (node_memory_MemTotal_bytes{{{NODE}}})",
                        "{{node}}",
                    )
                ],
                "percentunit",
                width=8,
            ),
            timeseries(
                "Time some task waited for memory (PSI)",
                [
                    Query(
                        "max by (node) (rate(node_pressure_memory_waiting_seconds_total"
                        f"{{{NODE}}}[$__rate_interval]))",
                        "{{node}}",
                        may_be_empty="the kernel has no pressure stall information",
                    )
                ],
                "percentunit",
                width=8,
            ),
            timeseries(
                "Major page faults",
                [
                    Query(
                        f"max by (node) (rate(node_vmstat_pgmajfault{{{NODE}}}[$__rate_interval]))",
                        "{{node}}",
                    )
                ],
                "ops",
                width=8,
            ),
        ],
    )
    agent = Row(
        "The agent under pressure",
        [threshold_panel(t) for t in thresholds.values() if t.scenario == "edge"],
    )
    return Dashboard(
        UID,
        "swarmscope / Edge",
        "What the Pis go through: temperature, firmware throttling, clock, memory pressure, and "
        "the agent's footprint meanwhile.",
        [thermal, memory, agent],
        (Variable("node", "Node", 'up{job="swarmlet"}'),),
    )
