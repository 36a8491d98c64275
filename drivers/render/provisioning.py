"""Grafana provisioning: the Prometheus datasource and the provider that loads our dashboards.

Grafana reads ``provisioning/datasources/*.yml`` and ``provisioning/dashboards/*.yml`` at
start. The compose stack mounts ``grafana/provisioning`` and ``grafana/dashboards`` at the
paths below; the datasource points at the compose service ``prometheus``. Its scrape
interval is taken from prometheus/prometheus.yml so Grafana's ``$__rate_interval`` covers at
least four scrapes, as Grafana recommends.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from drivers.render.output import GeneratedFile, yaml_document

DATASOURCES_DIR = PurePosixPath("grafana/provisioning/datasources")
PROVIDERS_DIR = PurePosixPath("grafana/provisioning/dashboards")
DATASOURCE_UID = "swarmscope-prometheus"
DATASOURCE_NAME = "Prometheus (swarmscope)"
# Inside the Grafana container of compose/docker-compose.yml.
PROMETHEUS_URL = "http://prometheus:9090"
DASHBOARDS_MOUNT = "/etc/grafana/dashboards/swarmscope"
FOLDER_TITLE = "swarmscope"
FOLDER_UID = "swarmscope"


def datasource_document(scrape_interval: str) -> dict[str, object]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": DATASOURCE_NAME,
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": PROMETHEUS_URL,
                "isDefault": True,
                "editable": False,
                "jsonData": {"timeInterval": scrape_interval, "httpMethod": "POST"},
            }
        ],
    }


def provider_document() -> dict[str, object]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "swarmscope",
                "orgId": 1,
                "folder": FOLDER_TITLE,
                "folderUid": FOLDER_UID,
                "type": "file",
                "disableDeletion": False,
                # The files are generated: edits in the UI would be lost at the next render.
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": DASHBOARDS_MOUNT, "foldersFromFilesStructure": False},
            }
        ],
    }


def provisioning_files(scrape_interval: str) -> list[GeneratedFile]:
    source = "prometheus/prometheus.yml and drivers/render/provisioning.py"
    return [
        GeneratedFile(
            DATASOURCES_DIR / "swarmscope.yml",
            yaml_document(datasource_document(scrape_interval), source),
        ),
        GeneratedFile(
            PROVIDERS_DIR / "swarmscope.yml",
            yaml_document(provider_document(), "drivers/render/provisioning.py"),
        ),
    ]
