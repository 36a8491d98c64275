"""`swarmscope load`: bad input is one line before anything starts; the web UI runs for real
on the lab with a worker in every node, serves /metrics, and Ctrl-C stops every process."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from drivers.cli import main
from drivers.inventory import Inventory
from drivers.load.options import OPTIONS, forwarded_arguments
from tests.support.daemons import free_port
from tests.support.mesh import locust_processes

INVENTORY = """\
version: 1
cluster: {name: t, backend: dockerswarm, prometheus_url: "http://10.9.9.2:9090",
          pushgateway_url: "http://10.9.9.2:9091"}
nodes:
  - {name: rpi-0, address: 10.9.9.10, role: manager, type: rpi}
  - {name: rpi-1, address: 10.9.9.11, role: worker, type: rpi}
"""


@pytest.fixture
def pis_only(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(INVENTORY)
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "messages", "--stages", "30s:5"], r"--stages: stage 1 '30s:5': expected"),
        (["run", "messages", "--run-time", "soon"], r"--run-time: 'soon' is not a quantity"),
        (["run", "bandwidth"], r"cluster\.yaml: no node of type gpu to stream from"),
        (["run", "messages", "--nodes", "rpi-9"], r"no node named 'rpi-9'"),
        (["ui", "messages", "--max-duration", "x"], r"--max-duration: 'x' is not a quantity"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    pis_only: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is started when the command line or inventory cannot work."""
    code = main(["load", *argv, "--inventory", str(pis_only)])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert re.search(message, error), error
    assert error.startswith("swarmscope: error: ")
    assert len(error.splitlines()) == 1


def test_only_options_given_are_passed_to_locust() -> None:
    """Locust's own defaults stay in force unless an option is given; flags stay bare."""

    class Given:
        message_size = 4096
        broadcast = True
        window = None

    assert forwarded_arguments(Given()) == ["--message-size", "4096", "--broadcast"]
    assert {o.flag for o in OPTIONS if not o.public} >= {"--summary-file", "--mesh-peers-document"}


@pytest.mark.root
@pytest.mark.lab
def test_web_ui_with_a_worker_per_node(lab_inventory: Inventory, tmp_path: Path) -> None:
    """Every node's worker connects, /metrics answers, and Ctrl-C ends master and workers."""
    before = locust_processes()
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "drivers", "load", "ui", "messages"),
            *("--inventory", str(lab_inventory.path), "--web-port", str(port)),
            *("--web-host", "127.0.0.1"),  # not the lab default: no Prometheus registration
            *("--logs", str(tmp_path / "logs")),
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 60
        workers = 0.0
        while workers < len(lab_inventory.nodes):
            assert time.monotonic() < deadline, "workers did not all connect"
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(url, timeout=2) as page:
                    text = page.read().decode()
            except OSError:
                continue
            found = re.search(r"^locust_workers (\S+)$", text, re.MULTILINE)
            workers = float(found.group(1)) if found else 0.0
        # The URL line follows the workers' connection by up to one poll: read up to it.
        assert process.stderr is not None
        printed = ""
        while "Locust web UI:" not in printed:
            line = process.stderr.readline()
            assert line, printed
            printed += line
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
        stderr = printed + rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr[-2000:]
    assert f"Locust web UI: http://127.0.0.1:{port}/" in stderr
    # The URL is given once every worker is connected, so a swarm can be started at once.
    assert f"waiting for {len(lab_inventory.nodes)} Locust worker(s)" in stderr
    assert "worker(s) connected within" not in stderr
    logs = sorted(p.name for p in (tmp_path / "logs").glob("locust-worker-*.log"))
    assert logs == sorted(f"locust-worker-{n.name}.log" for n in lab_inventory.nodes)
    assert locust_processes() <= before, "a Locust master or worker was left running"


@pytest.mark.root
@pytest.mark.lab
def test_scheduling_load_through_the_backend(lab_inventory: Inventory, tmp_path: Path) -> None:
    """Workloads are submitted as Locust tasks, timed by Swarm, and all removed afterwards."""
    logs = tmp_path / "logs"
    code = main(
        [
            *("load", "run", "scheduling", "--inventory", str(lab_inventory.path)),
            *("--run-time", "8s", "--users", "2", "--logs", str(logs)),
        ]
    )
    summary = json.loads((logs / "summary.json").read_text())
    assert code == 0, summary["errors"]
    stats = {entry["name"]: entry for entry in summary["stats"]}
    assert stats["cpu"]["request_type"] == "schedule"
    assert stats["cpu"]["requests"] >= 2
    assert stats["cpu"]["failures"] == 0
    assert 0 < stats["cpu"]["mean_seconds"] < 30
    client = docker.DockerClient(base_url=lab_inventory.manager.engine_url)
    try:
        left = [s.name for s in client.services.list() if s.name.startswith("swarmscope-load-")]
    finally:
        client.close()
    assert left == []


def test_swarmscope_never_imports_locust() -> None:
    """Locust monkey-patches the interpreter with gevent: the CLI, run mesh's and load's code
    paths that stay in the swarmscope process must never import it."""
    probe = (
        "import sys; from drivers.cli import build_parser; build_parser(); "
        "import drivers.scenarios.mesh, drivers.commands.load, drivers.load.launcher, "
        "drivers.load.figures, drivers.monitoring.mesh_survey; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
