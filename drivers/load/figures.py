"""Figures from a Locust run summary (``summary.py``): bandwidth per pair, stress throughput."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drivers.load.client import BULK


def bandwidth_by_pair(summary: Mapping[str, Any]) -> dict[str, float]:
    """Bytes per second of the bulk streams of each source->destination pair."""
    figures = {}
    for entry in summary.get("stats", []):
        if entry["request_type"] == BULK and entry["bytes_per_busy_second"]:
            figures[entry["name"]] = float(entry["bytes_per_busy_second"])
    return figures


def stress_throughput(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The seed's stress figure from the nodes' own reports.

    ``throughput`` is the seed's formula: messages x message size over the time from the
    first node starting to the last node finishing (so a slow node counts);
    ``delivered_bytes_per_second`` counts each broadcast copy.
    """
    reports = list(summary.get("node_reports", []))
    if not reports:
        return {}
    started = min(float(r["started_at"]) for r in reports)
    ended = max(float(r["ended_at"]) for r in reports)
    seconds = max(ended - started, 1e-9)
    messages = sum(int(r["messages"]) for r in reports)
    deliveries = sum(int(r["deliveries"]) for r in reports)
    size = int(reports[0]["message_bytes"])
    return {
        "messages": messages,
        "message_bytes": size,
        "seconds": seconds,
        "throughput_bytes_per_second": messages * size / seconds,
        "delivered_bytes_per_second": deliveries * size / seconds,
        "per_node_bytes_per_second": {
            str(r["node"]): int(r["deliveries"]) * size / max(float(r["seconds"]), 1e-9)
            for r in reports
        },
    }
