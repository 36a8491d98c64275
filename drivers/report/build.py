"""`swarmscope report RUN_DIR`: figures + Prometheus over the run window → plots, md, html, json.

The report is rebuilt from what the run directory holds; time series are fetched from
Prometheus once and stored in ``samples/timeseries.json`` so a report can be rebuilt after
the lab (and its Prometheus) is gone.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.monitoring.prometheus_api import PrometheusAPI, PrometheusError
from drivers.report import plots
from drivers.report.recommendations import recommendations
from drivers.report.table import Row, build_rows, numeric_leaves, overall_verdict
from drivers.results import RunDirectory
from drivers.thresholds import Threshold, Verdict, load_thresholds

log = logging.getLogger(__name__)
TIMESERIES_FILE = "samples/timeseries.json"

# name -> (PromQL, label that names the series); fetched over the run window for the plots.
TIMESERIES_QUERIES: dict[str, tuple[str, str]] = {
    "agent_cpu": ("max by (node) (rate(swarmlet_agent_cpu_seconds_total[30s]))", "node"),
    "agent_memory": ("max by (node) (swarmlet_agent_resident_memory_bytes)", "node"),
    "node_network": (
        'sum by (node) (rate(node_network_receive_bytes_total{device!="lo"}[30s]) '
        '+ rate(node_network_transmit_bytes_total{device!="lo"}[30s]))',
        "node",
    ),
    "node_memory_available": ("max by (node) (node_memory_MemAvailable_bytes)", "node"),
    "temperature": ("max by (node) (swarmlet_node_temperature_celsius)", "node"),
    "throttled": ("max by (node) (swarmlet_rpi_throttled)", "node"),
    "nodes_up": ('sum(up{job="swarmlet"})', ""),
}


@dataclass
class Report:
    run: RunDirectory
    rows: list[Row]
    verdict: Verdict | None
    advice: list[str]
    plots: dict[str, str] = field(default_factory=dict)  # title -> relative path
    missing: list[str] = field(default_factory=list)  # what is missing from this run, and why
    window: tuple[float, float] = (0.0, 0.0)


def run_window(run: RunDirectory) -> tuple[float, float]:
    records = run.scenarios().values()
    starts = [r.started_at for r in records if r.started_at]
    ends = [r.ended_at or time.time() for r in records]
    if not starts:
        return (0.0, 0.0)
    return (min(starts), max(ends))


def fetch_timeseries(
    run: RunDirectory, prometheus_url: str | None, window: tuple[float, float]
) -> dict[str, list[dict[str, Any]]]:
    """Time series for the plots, from the stored file or (once) from Prometheus."""
    stored = run.path / TIMESERIES_FILE
    if stored.exists():
        data: dict[str, list[dict[str, Any]]] = json.loads(stored.read_text())
        return data
    if not prometheus_url or window[1] <= window[0]:
        return {}
    api = PrometheusAPI(prometheus_url, timeout=10)
    start, end = window[0] - 30, window[1] + 30
    step = max(2.0, (end - start) / 600)
    result: dict[str, list[dict[str, Any]]] = {}
    try:
        for name, (promql, label) in TIMESERIES_QUERIES.items():
            series = api.query_range(promql, start, end, step)
            result[name] = [
                {"label": s.labels.get(label, name) if label else name, "points": s.points}
                for s in series
            ]
    except PrometheusError as exc:
        log.warning("no time series for the plots: %s", exc)
        return {}
    finally:
        api.close()
    run.write_json(TIMESERIES_FILE, result)
    return result


def _series(data: Mapping[str, list[dict[str, Any]]], name: str) -> list[plots.TimeSeries]:
    return [
        plots.TimeSeries(s["label"], [tuple(p) for p in s["points"]]) for s in data.get(name, [])
    ]


def fault_windows(run: RunDirectory) -> list[plots.FaultWindow]:
    """Fault windows from faults.json, tolerant of older field names."""
    path = run.path / "faults.json"
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("%s is not valid JSON; fault windows are not shaded", path)
        return []
    items = raw.get("faults", []) if isinstance(raw, dict) else raw
    windows = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        start = item.get("applied_at", item.get("start", item.get("started_at")))
        end = item.get("reverted_at", item.get("end", item.get("ended_at")))
        if isinstance(start, int | float):
            end = end if isinstance(end, int | float) else start + float(item.get("duration", 0))
            windows.append(
                plots.FaultWindow(
                    str(item.get("kind", item.get("fault", "fault"))),
                    str(item.get("target", "")),
                    float(start),
                    float(end),
                )
            )
    return windows


def _per_node(figure: Any) -> dict[str, float]:
    return dict(numeric_leaves(figure))


def _pair_matrix(figure: Any) -> dict[tuple[str, str], float]:
    matrix = {}
    for path, value in numeric_leaves(figure):
        for separator in ("->", "→", "."):
            if separator in path:
                source, _, destination = path.partition(separator)
                # "a.b.mean" style nesting: keep the first two levels as the pair
                destination = destination.split(".")[0]
                matrix[(source, destination)] = value
                break
    return matrix


def _latency_samples(run: RunDirectory) -> dict[str, list[float]]:
    """Scheduling latencies from samples/scheduling*.csv, grouped by workload type."""
    groups: dict[str, list[float]] = {}
    for path in sorted((run.path / "samples").glob("scheduling*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            latency = next((c for c in columns if "latency" in c), None)
            kind = next((c for c in columns if c in ("type", "kind", "class", "gpu")), None)
            if latency is None:
                continue
            for row in reader:
                try:
                    value = float(row[latency])
                except (TypeError, ValueError):
                    continue
                groups.setdefault(str(row[kind]) if kind else "all", []).append(value)
    return groups


def draw(
    run: RunDirectory,
    thresholds: Mapping[str, Threshold],
    series: Mapping[str, list[dict[str, Any]]],
    report: Report,
) -> None:
    plot_dir = run.path / "plots"
    records = run.scenarios()
    faults = fault_windows(run)

    def keep(title: str, path: Path | None, why_missing: str) -> None:
        if path is None:
            report.missing.append(f"plot '{title}': {why_missing}")
        else:
            report.plots[title] = str(path.relative_to(run.path))

    join = records.get("join")
    if join is not None:
        phases = {
            key.removeprefix("join_"): _per_node(join.figures.get(key))
            for key in (
                "join_hardware_profiling",
                "join_network_discovery",
                "join_certificate_exchange",
                "join_registration",  # Docker Swarm's wait until the manager says Ready
            )
        }
        keep(
            "Join time breakdown",
            plots.join_phases(
                plot_dir / "join_phases.png",
                {k: v for k, v in phases.items() if v},
                _per_node(join.figures.get("join_total")),
                thresholds.get("join_total"),
            ),
            "the join scenario recorded no per-node phases",
        )
    keep(
        "Agent CPU, memory and node network over time",
        plots.over_time(
            plot_dir / "resources.png",
            "Agent cost and node traffic (fault windows shaded; agent thresholds are the Pis')",
            [
                (
                    "agent CPU (% of a core)",
                    _series(series, "agent_cpu"),
                    thresholds.get("agent_cpu"),
                    100.0,
                ),
                (
                    "agent memory (MB)",
                    _series(series, "agent_memory"),
                    thresholds.get("memory_footprint"),
                    1e-6,
                ),
                ("node traffic (MB/s)", _series(series, "node_network"), None, 1e-6),
            ],
            faults,
        ),
        "Prometheus had no agent or node series for the run window",
    )
    keep(
        "Temperature and throttling",
        plots.over_time(
            plot_dir / "thermal.png",
            "Temperature and throttling (fault windows shaded)",
            [
                ("temperature (°C)", _series(series, "temperature"), None, 1.0),
                ("throttled now (0/1)", _series(series, "throttled"), None, 1.0),
            ],
            faults,
        ),
        "no thermal sensors or vcgencmd on these nodes (a VM or the lab)",
    )
    mesh = records.get("mesh")
    if mesh is not None:
        keep(
            "Mesh latency heatmap",
            plots.latency_heatmap(
                plot_dir / "mesh_heatmap.png",
                _pair_matrix(mesh.figures.get("coordination_latency")),
                thresholds.get("coordination_latency"),
            ),
            "the mesh scenario recorded no pair matrix",
        )
    if "scheduling" in records:
        keep(
            "Scheduling latency distribution",
            plots.latency_distribution(
                plot_dir / "scheduling_latency.png",
                "Scheduling latency (created → running)",
                _latency_samples(run),
            ),
            "no samples/scheduling*.csv with a latency column",
        )


def build_report(
    run_dir: Path, prometheus_url: str | None = None, thresholds_path: Path | None = None
) -> Report:
    run = RunDirectory.open(run_dir)
    thresholds = load_thresholds(thresholds_path) if thresholds_path else load_thresholds()
    records = run.scenarios()
    rows = build_rows(thresholds, records)
    report = Report(run, rows, overall_verdict(rows), recommendations(rows), window=run_window(run))
    for name, record in records.items():
        if record.status != "ok":
            report.missing.append(
                f"scenario '{name}' ended '{record.status}'"
                + (f": {record.error}" if record.error else "")
            )
    series = fetch_timeseries(run, prometheus_url, report.window)
    draw(run, thresholds, series, report)
    run.set_section(
        "report",
        {
            "generated_at": time.time(),
            "verdict": report.verdict.label if report.verdict is not None else "nothing judged",
            "rows": [
                {
                    "key": r.threshold.key,
                    "title": r.threshold.title,
                    "state": r.state.value,
                    "target": r.threshold.target,
                    "acceptable": r.threshold.acceptable,
                    "unit": r.threshold.unit,
                    "current": r.current,
                    "worst_at": r.worst_at,
                    "verdict": r.verdict_text,
                }
                for r in rows
            ],
            "recommendations": report.advice,
            "missing": report.missing,
            "plots": report.plots,
        },
    )
    return report
