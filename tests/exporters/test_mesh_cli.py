"""`swarmlet-exporter --mesh-peers`: two real exporters probe each other and serve the matrix."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.daemons import free_port, running

EXPORTER = [sys.executable, "-m", "exporters"]


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


@pytest.fixture
def peers_file(tmp_path: Path) -> Path:
    nodes = [
        {"name": "n1", "address": "127.0.0.1", "port": free_port()},
        {"name": "n2", "address": "127.0.0.1", "port": free_port()},
    ]
    path = tmp_path / "mesh-peers.json"
    path.write_text(json.dumps({"version": 1, "nodes": nodes}))
    return path


@pytest.fixture
def two_exporters(peers_file: Path, tmp_path: Path) -> Iterator[tuple[int, int]]:
    ports = free_port(), free_port()
    common = ["--collectors", "thermal", "--mesh-peers", str(peers_file), "--mesh-interval", "0.1"]
    with (
        running(
            [*EXPORTER, "--listen", f"127.0.0.1:{ports[0]}", "--node", "n1", *common],
            "127.0.0.1",
            ports[0],
            tmp_path / "n1.log",
        ),
        running(
            [*EXPORTER, "--listen", f"127.0.0.1:{ports[1]}", "--node", "n2", *common],
            "127.0.0.1",
            ports[1],
            tmp_path / "n2.log",
        ),
    ):
        yield ports


def test_each_exporter_serves_its_row_of_the_matrix(two_exporters: tuple[int, int]) -> None:
    """n1 reports n1->n2 and n2 reports n2->n1, with replies and no losses."""
    time.sleep(1.0)
    n1, n2 = (_metrics(port) for port in two_exporters)
    assert n1["swarmlet_mesh_rtt_seconds_count{destination=n2,source=n1}"] >= 3
    assert n2["swarmlet_mesh_rtt_seconds_count{destination=n1,source=n2}"] >= 3
    assert n1["swarmlet_mesh_lost_total{destination=n2,source=n1}"] == 0
    assert n1["swarmlet_mesh_peers_seen{source=n1}"] == 1
    assert n1["swarmlet_exporter_collector_success{collector=mesh}"] == 1
    assert not any("destination=n1,source=n1" in key for key in n1)  # never probes itself


def test_streams_endpoint_dies_with_the_exporter(peers_file: Path, tmp_path: Path) -> None:
    """The TCP streams child never outlives its exporter, even one killed with SIGKILL."""
    port = free_port()
    argv = [*EXPORTER, "--listen", f"127.0.0.1:{port}", "--node", "n1", "--collectors", "thermal"]
    argv += ["--mesh-peers", str(peers_file)]
    with running(argv, "127.0.0.1", port, tmp_path / "log") as p:
        (child,) = _children(p.pid)
        assert _alive(child)
        p.send_signal(signal.SIGKILL)
        p.wait()
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child)


def test_bad_peers_file_and_busy_port_are_one_line_errors(peers_file: Path, tmp_path: Path) -> None:
    """A missing peers file is exit 2, a mesh port already taken exit 1, each one line."""
    base = [*EXPORTER, "--listen", f"127.0.0.1:{free_port()}", "--collectors", "thermal"]
    missing = subprocess.run(
        [*base, "--mesh-peers", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip().endswith("nope.json: peers file not found")
    assert len(missing.stderr.strip().splitlines()) == 1
    taken = free_port()
    with open(os.devnull, "wb") as quiet:
        holder = subprocess.Popen(
            [
                *EXPORTER,
                *("--listen", f"127.0.0.1:{free_port()}", "--collectors", "thermal"),
                *("--node", "x", "--mesh-peers", str(peers_file), "--mesh-listen", f":{taken}"),
            ],
            stderr=quiet,
        )
    try:
        time.sleep(1.5)
        busy = subprocess.run(
            [*base, "--node", "y", "--mesh-peers", str(peers_file), "--mesh-listen", f":{taken}"],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        holder.terminate()
        holder.wait(timeout=10)
    assert busy.returncode == 1
    assert re.search(
        rf"^swarmlet-exporter: error: mesh: cannot listen on (TCP|UDP) 0\.0\.0\.0:{taken}: "
        "Address already in use$",
        busy.stderr,
        re.MULTILINE,
    ), busy.stderr
