"""A real Prometheus + Pushgateway (+ Alertmanager) on loopback, configured from the repo's files.

Prometheus runs the repo's prometheus.yml and generated rules with its intervals cut to one
second, its targets written by drivers.monitoring.targets from a loopback inventory, so the
tests exercise the same files and the same target writer as the lab and the compose stack.
Every daemon gets a free port and a temporary directory and is stopped by PID at the end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from drivers.inventory import load_inventory
from drivers.monitoring.targets import write_targets
from tests.support.daemons import free_port, require_binary, running

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "prometheus"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Stack:
    prometheus: str
    pushgateway: str
    alertmanager: str | None
    directory: Path


def _inventory(path: Path, pushgateway: int, alertmanager: int | None, prometheus: int) -> Path:
    cluster: dict[str, Any] = {
        "name": "loopback",
        "backend": "dockerswarm",
        "prometheus_url": f"http://{HOST}:{prometheus}",
        "pushgateway_url": f"http://{HOST}:{pushgateway}",
    }
    if alertmanager:
        cluster["alertmanager_url"] = f"http://{HOST}:{alertmanager}"
    # The node's exporter ports answer nothing: its targets are simply down.
    node = {
        "name": "rpi-1",
        "address": HOST,
        "role": "manager",
        "type": "rpi",
        "exporter_port": free_port(),
        "node_exporter_port": free_port(),
    }
    document = {"version": 1, "cluster": cluster, "nodes": [node]}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """The repo's alertmanager.yml, receivers pointed at ``webhook_url``, waits cut to 1 s."""
    config: dict[str, Any] = yaml.safe_load(
        (PROMETHEUS_DIR / "alertmanager.yml").read_text(encoding="utf-8")
    )

    def shorten(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = "1s"
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook["url"] = f"{webhook_url}/{receiver['name']}"
    return config


def prometheus_config(self_port: int) -> dict[str, Any]:
    """The repo's prometheus.yml with one-second intervals and its self-scrape on its port."""
    config: dict[str, Any] = yaml.safe_load(
        (PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8")
    )
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    for job in config["scrape_configs"]:
        if job["job_name"] == "prometheus":
            job["static_configs"] = [{"targets": [f"{HOST}:{self_port}"]}]
    return config


def wait_until_targets(url: str, jobs: set[str], timeout: float = 20.0) -> None:
    """Until Prometheus has discovered a target of every job in ``jobs``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = requests.get(f"{url}/api/v1/targets", timeout=2)
        # 503 with a plain-text body while Prometheus still opens its database
        if response.status_code == 200:
            seen = {t["labels"].get("job") for t in response.json()["data"]["activeTargets"]}
            if jobs <= seen:
                return
        time.sleep(0.2)
    raise TimeoutError(f"Prometheus at {url} did not discover {sorted(jobs)} in {timeout}s")


@contextlib.contextmanager
def monitoring_stack(directory: Path, webhook_url: str | None = None) -> Iterator[Stack]:
    """Pushgateway and Prometheus, plus Alertmanager when ``webhook_url`` is given."""
    prometheus_bin = require_binary("prometheus")
    pushgateway_bin = require_binary("prometheus-pushgateway")
    ports = {"prometheus": free_port(), "pushgateway": free_port()}
    config_dir = directory / "prometheus"
    (config_dir / "targets").mkdir(parents=True)
    (config_dir / "rules").symlink_to(PROMETHEUS_DIR / "rules")
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            running(
                [pushgateway_bin, f"--web.listen-address={HOST}:{ports['pushgateway']}"],
                HOST,
                ports["pushgateway"],
                directory / "pushgateway.log",
            )
        )
        alertmanager_port = None
        if webhook_url:
            alertmanager_bin = require_binary("prometheus-alertmanager")
            alertmanager_port = free_port()
            config = directory / "alertmanager.yml"
            config.write_text(yaml.safe_dump(alertmanager_config(webhook_url)), encoding="utf-8")
            argv = [
                alertmanager_bin,
                f"--config.file={config}",
                f"--storage.path={directory / 'alertmanager-data'}",
                f"--web.listen-address={HOST}:{alertmanager_port}",
                "--cluster.listen-address=",  # no gossip port: a single, private instance
            ]
            stack.enter_context(
                running(argv, HOST, alertmanager_port, directory / "alertmanager.log")
            )
        inventory = load_inventory(
            _inventory(
                directory / "inventory.yaml",
                ports["pushgateway"],
                alertmanager_port,
                ports["prometheus"],
            )
        )
        write_targets(inventory, config_dir / "targets")
        config_file = config_dir / "prometheus.yml"
        config_file.write_text(
            yaml.safe_dump(prometheus_config(ports["prometheus"])), encoding="utf-8"
        )
        argv = [
            prometheus_bin,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={directory / 'prometheus-data'}",
            f"--web.listen-address={HOST}:{ports['prometheus']}",
        ]
        stack.enter_context(running(argv, HOST, ports["prometheus"], directory / "prometheus.log"))
        yield Stack(
            prometheus=f"http://{HOST}:{ports['prometheus']}",
            pushgateway=f"http://{HOST}:{ports['pushgateway']}",
            alertmanager=f"http://{HOST}:{alertmanager_port}" if alertmanager_port else None,
            directory=directory,
        )
