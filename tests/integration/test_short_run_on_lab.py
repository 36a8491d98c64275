"""A short `run all` on the lab: every scenario ends ok, the report judges it, no secret
reaches the run directory, and every dashboard query answers against the lab's real
Prometheus (none invalid, none empty without a documented reason)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.cli import main
from drivers.cluster.dockerswarm import DockerSwarmBackend
from drivers.commands.run import run_scenarios
from drivers.inventory import Inventory
from drivers.monitoring.prometheus_api import PrometheusAPI
from drivers.report.build import build_report
from drivers.report.table import RowState
from drivers.scenarios import SCENARIO_MODULES
from drivers.thresholds import REPO_ROOT
from tests.support.daemons import free_port, stop

SEED_WORKLOADS = REPO_ROOT / "benchmarks" / "configs" / "heterogeneous_workload.yaml"

pytestmark = [pytest.mark.root, pytest.mark.lab]

# Each scenario at its smallest meaningful size, so the whole run takes a few minutes.
SHORT = {
    "join_mode": "concurrent",
    "join_overhead_window": "10s",
    "scheduling_count": 10,
    "scheduling_command": "sleep 5",
    "probes": 30,
    "bandwidth_seconds": 1.0,
    "stress_messages": 1000,
    "edge_nodes": "rpi-1",
    "edge_phase_duration": "3s",
    "edge_baseline": "2s",
    "failure_parts": "single,partition",
    "failure_heartbeat": "1s",
    "failure_partition_nodes": "rpi-1",
    "failure_partition_hold": "5s",
}


@contextlib.contextmanager
def locust_ui(inventory: Inventory, logs: Path) -> Iterator[Path]:
    """`swarmscope load ui messages` on the lab with a swarm started through its web API; the
    UI registers itself with the lab's Prometheus. Stopped (Ctrl-C, then by PID) at the end."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "drivers",
        "load",
        "ui",
        "messages",
        "--inventory",
        str(inventory.path),
        "--web-port",
        str(port),
        "--logs",
        str(logs),
        "--max-duration",
        "120s",
    ]
    # Output to a file, not a pipe: nobody reads a pipe while the test waits, and a full
    # pipe would stall the master.
    logs.mkdir(parents=True, exist_ok=True)
    output = logs / "ui.out"
    with output.open("w") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    try:
        host = inventory.nodes[0].address.rsplit(".", 1)[0] + ".1"  # the lab's host side
        url = f"http://{host}:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                assert process.poll() is None, output.read_text()
                assert time.monotonic() < deadline, "the Locust web UI did not come up"
                time.sleep(0.5)
        # Locust refuses to start a distributed swarm before its workers have connected.
        while f"locust_workers {len(inventory.nodes)}.0" not in _read(f"{url}/metrics"):
            assert time.monotonic() < deadline, "the Locust workers did not connect"
            time.sleep(0.5)
        form = urllib.parse.urlencode({"user_count": len(inventory.nodes), "spawn_rate": 10})
        answer = json.loads(_read(f"{url}/swarm", data=form.encode()))
        assert answer["success"], answer
        yield output
    finally:
        stop(process, signal.SIGINT, timeout=30)  # Ctrl-C: the UI stops its workers


def _read(url: str, data: bytes | None = None) -> str:
    with urllib.request.urlopen(url, data=data, timeout=10) as page:
        return str(page.read().decode())


def _scraped_since(prometheus: str, since: float) -> bool:
    """True once Prometheus has scraped the Pushgateway after ``since``."""
    result = PrometheusAPI(prometheus).query('timestamp(up{job="pushgateway"})')
    return bool(result) and result[0].value > since


def _assert_no_secret_in(run_dir: Path, inventory: Inventory) -> None:
    """Neither the swarm's join tokens nor a line of the lab's SSH private key is in any
    file of the run directory (results, samples, logs, report, plots' metadata)."""
    backend = DockerSwarmBackend(inventory)
    try:
        tokens = [backend.join_token()]
    finally:
        backend.close()
    key_file = inventory.nodes[0].ssh.key_file
    assert key_file is not None
    key_lines = [
        line for line in key_file.read_text().splitlines() if line and not line.startswith("-----")
    ]
    assert tokens
    assert key_lines
    files = [path for path in run_dir.rglob("*") if path.is_file()]
    assert len(files) > 5
    for path in files:
        text = path.read_bytes().decode(errors="replace")
        for secret in [*tokens, *key_lines]:
            assert secret not in text, f"{path} holds a secret"


def _locust_diagnosis(inventory: Inventory, ui_output: Path) -> str:
    """What the UI printed, the target file it wrote, and what Prometheus made of it."""
    assert inventory.lab_state_dir is not None
    target_file = inventory.lab_state_dir / "prometheus" / "targets" / "locust.json"
    targets = _read(f"{inventory.prometheus_url}/api/v1/targets?scrapePool=locust")
    written = json.loads(target_file.read_text()) if target_file.exists() else []
    metrics = "(no target)"
    for group in written:
        metrics = _read(f"http://{group['targets'][0]}/metrics")
    return f"UI: {ui_output.read_text()[-1500:]}\nPrometheus: {targets}\nmaster: {metrics}"


def test_short_run_all_reports_and_feeds_every_dashboard(
    lab_inventory: Inventory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every scenario runs ok on the lab; the report judges every threshold; every panel,
    annotation and variable query of every dashboard returns data from the lab's Prometheus."""
    # The seed's workload file, sized to the test lab's Pis.
    pis = [n.name for n in lab_inventory.nodes if n.type == "rpi"]
    seed = SEED_WORKLOADS.read_text()
    workloads = tmp_path / "heterogeneous_workload.yaml"
    workloads.write_text(
        seed.replace("replicas: 5", f"replicas: {len(pis)}").replace(
            '["rpi-1", "rpi-2", "rpi-3", "rpi-4", "rpi-5"]', json.dumps(pis)
        )
    )
    options = argparse.Namespace(
        results=tmp_path, run_id="short", placement_file=workloads, **SHORT
    )
    run, statuses = run_scenarios(lab_inventory, list(SCENARIO_MODULES), options)
    assert statuses == dict.fromkeys(SCENARIO_MODULES, "ok"), run.scenarios()

    finished = time.time()
    deadline = finished + 30
    while not _scraped_since(lab_inventory.prometheus_url, finished) and time.time() < deadline:
        time.sleep(1)

    report = build_report(run.path, lab_inventory.prometheus_url)
    _assert_no_secret_in(run.path, lab_inventory)
    assert [r.threshold.key for r in report.rows if r.state is not RowState.JUDGED] == []
    assert {
        "Join time breakdown",
        "Mesh latency heatmap",
        "Scheduling latency distribution",
        "Agent CPU, memory and node network over time",
    } <= set(report.plots)

    with locust_ui(lab_inventory, tmp_path / "locust") as ui_output:
        # Until Prometheus has scraped the master at least twice, so rate() has data.
        api = PrometheusAPI(lab_inventory.prometheus_url)
        deadline = time.monotonic() + 60
        while not api.query("sum(rate(locust_requests_total[1m])) > 0"):
            assert time.monotonic() < deadline, _locust_diagnosis(lab_inventory, ui_output)
            time.sleep(2)
        capsys.readouterr()
        code = main(
            ["grafana", "check", "--prometheus", lab_inventory.prometheus_url, "--window", "15m"]
        )
        out = capsys.readouterr().out
    assert code == 0, out
    assert " 0 failed" in out
