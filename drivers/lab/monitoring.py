"""Prometheus, Alertmanager and Pushgateway for the lab, from Debian's packages, started by hand.

They run in the lab's control namespace (the one holding the bridge) and listen on its
address, ``.2`` of the lab subnet: they cannot collide with any other Prometheus on this
machine, and ``localhost:9090`` in the repo's prometheus.yml is this Prometheus itself.

The repo's ``prometheus/prometheus.yml`` is used as it is: ``STATE/prometheus/`` holds a
symlink to it and to ``prometheus/rules``, and the ``targets/*.json`` files that
drivers.monitoring.targets writes from the lab's inventory (relative paths in
prometheus.yml resolve against the directory of the file Prometheus was given).
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from drivers.inventory import Inventory
from drivers.lab import cgroups
from drivers.lab.processes import spawn
from drivers.lab.spec import LabSpec
from drivers.lab.state import LabState
from drivers.lab.system import LabError, tail, which
from drivers.monitoring.targets import write_targets

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "prometheus"
PROMETHEUS_PORT = 9090
PUSHGATEWAY_PORT = 9091
ALERTMANAGER_PORT = 9093
# The repo's Alertmanager config, wherever the alerting work puts it; the first that exists.
ALERTMANAGER_CONFIGS = (
    REPO_ROOT / "prometheus" / "alertmanager.yml",
    REPO_ROOT / "compose" / "alertmanager" / "alertmanager.yml",
    REPO_ROOT / "compose" / "alertmanager.yml",
    REPO_ROOT / "alertmanager" / "alertmanager.yml",
)
_FALLBACK_ALERTMANAGER = """\
# Written by `swarmscope lab up` because the repository has no Alertmanager config yet.
route:
  receiver: lab-log
  group_by: [alertname, node]
  group_wait: 5s
  group_interval: 30s
  repeat_interval: 1h
receivers:
  - name: lab-log
"""


def urls(spec: LabSpec) -> dict[str, str]:
    host = spec.monitor_address
    return {
        "prometheus": f"http://{host}:{PROMETHEUS_PORT}",
        "pushgateway": f"http://{host}:{PUSHGATEWAY_PORT}",
        "alertmanager": f"http://{host}:{ALERTMANAGER_PORT}",
    }


def prometheus_dir(spec: LabSpec) -> Path:
    return spec.state_dir / "prometheus"


def alertmanager_config_source() -> Path | None:
    return next((path for path in ALERTMANAGER_CONFIGS if path.is_file()), None)


def prepare(spec: LabSpec) -> None:
    """Link the repo's prometheus.yml and rules into the state directory."""
    config = PROMETHEUS_DIR / "prometheus.yml"
    if not config.is_file():
        raise LabError(f"{config}: the repository's Prometheus config is missing")
    directory = prometheus_dir(spec)
    (directory / "data").mkdir(parents=True, exist_ok=True)
    (directory / "targets").mkdir(exist_ok=True)
    for name in ("prometheus.yml", "rules"):
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(PROMETHEUS_DIR / name)
    am_dir = spec.state_dir / "alertmanager"
    (am_dir / "data").mkdir(parents=True, exist_ok=True)
    source = alertmanager_config_source()
    target = am_dir / "alertmanager.yml"
    if source is not None:
        if not target.is_symlink():
            target.symlink_to(source)
    else:
        target.write_text(_FALLBACK_ALERTMANAGER, encoding="utf-8")


def write_lab_targets(inventory: Inventory, spec: LabSpec) -> None:
    write_targets(inventory, prometheus_dir(spec) / "targets")


def start(state: LabState) -> None:
    spec = state.spec
    external = urls(spec)
    procs = cgroups.procs_files(cgroups.daemons_path(spec.cgroup, None))
    directory = prometheus_dir(spec)
    am_dir = spec.state_dir / "alertmanager"
    daemons = {
        "prometheus": [
            which("prometheus") or "prometheus",
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=0.0.0.0:{PROMETHEUS_PORT}",
            f"--web.external-url={external['prometheus']}",
            "--web.enable-lifecycle",
            "--web.enable-admin-api",
            "--storage.tsdb.retention.time=7d",
        ],
        "alertmanager": [
            which("prometheus-alertmanager") or "prometheus-alertmanager",
            f"--config.file={am_dir / 'alertmanager.yml'}",
            f"--storage.path={am_dir / 'data'}",
            f"--web.listen-address=0.0.0.0:{ALERTMANAGER_PORT}",
            f"--web.external-url={external['alertmanager']}",
            "--cluster.listen-address=",  # a single Alertmanager: no gossip port
        ],
        "pushgateway": [
            which("prometheus-pushgateway") or "prometheus-pushgateway",
            f"--web.listen-address=0.0.0.0:{PUSHGATEWAY_PORT}",
            # Debian's default persistence file is shared by every Pushgateway on the host.
            f"--persistence.file={spec.state_dir / 'pushgateway.data'}",
        ],
    }
    for name, argv in daemons.items():
        spawn(
            state,
            name,
            argv,
            log=spec.state_dir / "logs" / f"{name}.log",
            netns=spec.control_netns,
            cgroup_procs=procs,
        )


def wait_ready(state: LabState, timeout: float = 30.0) -> None:
    spec = state.spec
    deadline = time.monotonic() + timeout
    for name, url in urls(spec).items():
        record = state.processes[name]
        while True:
            try:
                if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if not record.is_same_process():
                log = spec.state_dir / "logs" / f"{name}.log"
                raise LabError(f"{name} exited: {tail(log)}")
            if time.monotonic() > deadline:
                raise LabError(f"{name} not ready at {url} after {timeout:.0f}s")
            time.sleep(0.1)


def target_health(spec: LabSpec) -> list[dict[str, str]]:
    """Every active target: job, node label, scrape URL, health and last error."""
    response = requests.get(f"{urls(spec)['prometheus']}/api/v1/targets", timeout=5)
    response.raise_for_status()
    targets = []
    for target in response.json()["data"]["activeTargets"]:
        targets.append(
            {
                "job": target["labels"].get("job", ""),
                "node": target["labels"].get("node", ""),
                "url": target.get("scrapeUrl", ""),
                "health": target.get("health", "unknown"),
                "error": target.get("lastError", ""),
            }
        )
    return targets
