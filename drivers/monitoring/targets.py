"""Prometheus file_sd target files written from an inventory, so node addresses are typed once.

`prometheus/prometheus.yml` reads ``targets/*.json`` beside it; the lab, the compose stack
and a hand-run Prometheus all feed it through this one writer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drivers.inventory import Inventory

# file name -> the prometheus.yml job that reads it
TARGET_FILES = {
    "swarmlet": "swarmlet.json",
    "node": "node.json",
    "pushgateway": "pushgateway.json",
    "alertmanager": "alertmanager.json",
}


def _host_port(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def target_groups(inventory: Inventory) -> dict[str, list[dict[str, Any]]]:
    """Target groups per job; every node target carries the `node`, `type` and `cluster` labels."""

    def node_group(port_of: str) -> list[dict[str, Any]]:
        return [
            {
                "targets": [f"{node.address}:{getattr(node, port_of)}"],
                "labels": {
                    "node": node.name,
                    "type": node.type,
                    "role": node.role,
                    "cluster": inventory.name,
                },
            }
            for node in inventory.nodes
        ]

    groups: dict[str, list[dict[str, Any]]] = {
        "swarmlet": node_group("exporter_port"),
        "node": node_group("node_exporter_port"),
        "pushgateway": [
            {
                "targets": [_host_port(inventory.pushgateway_url)],
                "labels": {"cluster": inventory.name},
            }
        ],
        "alertmanager": [],
    }
    if inventory.alertmanager_url:
        groups["alertmanager"] = [{"targets": [_host_port(inventory.alertmanager_url)]}]
    return groups


def write_targets(inventory: Inventory, directory: Path) -> list[Path]:
    """Write one file_sd JSON file per job atomically (Prometheus re-reads them on change)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for job, groups in target_groups(inventory).items():
        path = directory / TARGET_FILES[job]
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(groups, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written
