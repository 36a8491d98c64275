"""The swarmscope Grafana dashboards, one module each; every one is built from thresholds.yaml."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from drivers.render.dashboards.edge import build as edge
from drivers.render.dashboards.failure import build as failure
from drivers.render.dashboards.join import build as join
from drivers.render.dashboards.locust import build as locust
from drivers.render.dashboards.mesh import build as mesh
from drivers.render.dashboards.overview import build as overview
from drivers.render.dashboards.scheduling import build as scheduling
from drivers.render.grafana_model import Dashboard
from drivers.thresholds import Threshold

DASHBOARDS_DIR = PurePosixPath("grafana/dashboards")
BUILDERS = (overview, join, scheduling, mesh, edge, failure, locust)


def build_all(thresholds: dict[str, Threshold]) -> list[Dashboard]:
    return [build(thresholds) for build in BUILDERS]


def all_dashboards(thresholds: dict[str, Threshold]) -> list[dict[str, Any]]:
    return [board.to_json() for board in build_all(thresholds)]


def empty_allowed(thresholds: dict[str, Threshold]) -> dict[str, str]:
    """Every dashboard query that may return nothing, with the reason (for the query check)."""
    allowed: dict[str, str] = {}
    for board in build_all(thresholds):
        allowed |= board.empty_allowed()
    return allowed
