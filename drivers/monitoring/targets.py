"""Prometheus file_sd target files written from an inventory, so node addresses are typed once.

`prometheus/prometheus.yml` reads ``targets/*.json`` beside it; the lab, the compose stack
and a hand-run Prometheus all feed it through this one writer. For the compose stack
(``compose=True``) the Pushgateway, Alertmanager and Locust master are the compose
services, reached by service name on the compose network; the nodes are reached at their
inventory addresses either way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drivers.inventory import Inventory

# job -> the file prometheus.yml reads it from
TARGET_FILES = {
    "swarmlet": "swarmlet.json",
    "node": "node.json",
    "pushgateway": "pushgateway.json",
    "alertmanager": "alertmanager.json",
    "locust": "locust.json",
}
# Service name and container port in compose/docker-compose.yml.
COMPOSE_SERVICES = {
    "pushgateway": "pushgateway:9091",
    "alertmanager": "alertmanager:9093",
    "locust": "locust:8089",
}


def _host_port(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


def target_groups(
    inventory: Inventory, *, compose: bool = False, locust: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Target groups per job; every node target carries the `node`, `type` and `cluster` labels.

    ``locust`` is the Locust master's web address (HOST:PORT) when one runs; with ``compose``
    it defaults to the compose service.
    """

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

    cluster = {"cluster": inventory.name}
    pushgateway = (
        COMPOSE_SERVICES["pushgateway"] if compose else _host_port(inventory.pushgateway_url)
    )
    alertmanager = (
        COMPOSE_SERVICES["alertmanager"]
        if compose
        else (_host_port(inventory.alertmanager_url) if inventory.alertmanager_url else None)
    )
    locust_master = locust or (COMPOSE_SERVICES["locust"] if compose else None)
    return {
        "swarmlet": node_group("exporter_port"),
        "node": node_group("node_exporter_port"),
        "pushgateway": [{"targets": [pushgateway], "labels": cluster}],
        "alertmanager": [{"targets": [alertmanager]}] if alertmanager else [],
        "locust": [{"targets": [locust_master], "labels": cluster}] if locust_master else [],
    }


def write_targets(
    inventory: Inventory, directory: Path, *, compose: bool = False, locust: str | None = None
) -> list[Path]:
    """Write one file_sd JSON file per job atomically (Prometheus re-reads them on change)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for job, groups in target_groups(inventory, compose=compose, locust=locust).items():
        path = directory / TARGET_FILES[job]
        write_target_file(path, groups)
        written.append(path)
    return written


def write_target_file(path: Path, groups: list[dict[str, Any]]) -> None:
    """One file_sd file, through a temporary file and a rename: Prometheus watches the
    directory and must never read a half-written file."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(groups, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
