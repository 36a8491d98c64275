"""Locust for real, headless and bounded: the message users, node reports, exit codes, /metrics.

Each test starts Locust as swarmscope does (``python -m drivers.load.run_locust``) against the
exporter's real TCP endpoint on loopback, with ``--run-time`` and a subprocess timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from drivers.thresholds import DEFAULT_PATH
from exporters.mesh.streams import StreamServer
from tests.support.daemons import free_port, wait_for_port
from tests.support.mesh import streams_server, write_peers

LOCUST = [sys.executable, "-m", "drivers.load.run_locust"]


@pytest.fixture(scope="module")
def server() -> Iterator[StreamServer]:
    with streams_server() as running:
        yield running


@pytest.fixture
def peers(server: StreamServer, tmp_path: Path) -> Path:
    return write_peers(tmp_path / "peers.json", {"a": free_port(), "b": server.port})


def _locust(
    tmp_path: Path, locustfile: str, *args: str, timeout: float = 60
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    summary = tmp_path / "summary.json"
    result = subprocess.run(
        [
            *LOCUST,
            locustfile,
            "--headless",
            "--only-summary",
            "--summary-file",
            str(summary),
            *args,
        ],
        cwd=tmp_path,
        env={**os.environ, "SWARMSCOPE_NODE": "a"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    document = json.loads(summary.read_text()) if summary.exists() else {}
    return result, document


def test_message_stream_fires_one_event_per_batch(peers: Path, tmp_path: Path) -> None:
    """Batches of 1 KB messages reach the peer; every event carries a whole batch's bytes."""
    result, summary = _locust(
        tmp_path, "messages", "-u", "1", "-r", "1", "--run-time", "3s",
        "--mesh-peers", str(peers), "--batch-messages", "50", "MessageStreamUser",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (stats,) = summary["stats"]
    assert (stats["request_type"], stats["name"], stats["failures"]) == ("batch", "a->b", 0)
    assert stats["requests"] > 100
    assert stats["bytes"] == stats["requests"] * 50 * 1028


def test_seed_stress_preset_ends_when_every_node_reported(peers: Path, tmp_path: Path) -> None:
    """With --messages-total each node sends its share, reports, and the run ends early."""
    started = time.monotonic()
    result, summary = _locust(
        tmp_path, "messages", "-u", "1", "-r", "1", "--run-time", "60s",
        "--mesh-peers", str(peers), "--messages-total", "10000", "--broadcast",
        "MessageStreamUser",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert time.monotonic() - started < 30  # not the 60 s run time
    (report,) = summary["node_reports"]
    # Two nodes in the mesh: this one sends 10,000 // 2 messages, each to its one peer.
    assert (report["node"], report["messages"], report["deliveries"]) == ("a", 5000, 5000)
    assert report["seconds"] > 0
    assert summary["stats"][0]["bytes"] == 5000 * 1028


def _thresholds_with(tmp_path: Path, target: str, acceptable: str) -> Path:
    document = yaml.safe_load(DEFAULT_PATH.read_text())
    document["thresholds"]["coordination_latency"].update(target=target, acceptable=acceptable)
    path = tmp_path / "thresholds.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("bounds", "code", "verdict"),
    [(None, 0, "target met"), (("1us", "2us"), 2, "failed")],
)
def test_thresholds_set_the_exit_code(
    peers: Path, tmp_path: Path, bounds: tuple[str, str] | None, code: int, verdict: str
) -> None:
    """Round trips are judged against coordination_latency: met exits 0, missed exits 2."""
    extra = []
    if bounds:
        extra = ["--thresholds-file", str(_thresholds_with(tmp_path, *bounds))]
    result, summary = _locust(
        tmp_path, "messages", "-u", "1", "-r", "1", "--run-time", "2s",
        "--mesh-peers", str(peers), "MessageRoundTripUser", *extra,
    )  # fmt: skip
    assert result.returncode == code, result.stderr[-2000:]
    (judged,) = summary["thresholds"]
    assert (judged["key"], judged["worst_at"], judged["verdict"]) == (
        "coordination_latency",
        "a->b",
        verdict,
    )
    assert 0 < judged["value"] < 0.05
    assert "threshold coordination_latency: " in result.stderr


def test_bad_thresholds_file_stops_before_any_load(peers: Path, tmp_path: Path) -> None:
    """A thresholds file with a wrong unit is one line and exit code 2; nothing is sent."""
    broken = _thresholds_with(tmp_path, "10MB", "50MB")
    result, summary = _locust(
        tmp_path, "messages", "-u", "1", "-r", "1", "--run-time", "2s",
        "--mesh-peers", str(peers), "--thresholds-file", str(broken), "MessageStreamUser",
    )  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("swarmscope: error")]
    assert errors == [
        f"swarmscope: error: {broken}: thresholds.coordination_latency.target: "
        "'10MB': unit 'MB' does not measure seconds (use one of: us, µs, ms, s, m, h)"
    ]
    assert summary == {}


def test_missing_peers_stop_the_user_with_a_clear_log(tmp_path: Path) -> None:
    """No --mesh-peers: the user says why it cannot run instead of sending anywhere."""
    result, _ = _locust(
        tmp_path, "messages", "-u", "1", "-r", "1", "--run-time", "2s", "MessageStreamUser"
    )
    assert "node a: no mesh peers: pass --mesh-peers FILE" in result.stderr


def _metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def test_metrics_route_serves_locust_stats_to_prometheus(peers: Path, tmp_path: Path) -> None:
    """The web app's /metrics shows requests, bytes and the response-time histogram."""
    port = free_port()
    process = subprocess.Popen(
        [
            *(*LOCUST, "messages", "--autostart", "--run-time", "30s", "--autoquit", "0"),
            *("-u", "1", "-r", "1", "--web-host", "127.0.0.1", "--web-port", str(port)),
            *("--mesh-peers", str(peers), "MessageStreamUser"),
        ],
        cwd=tmp_path,
        env={**os.environ, "SWARMSCOPE_NODE": "a"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 20
        values = _metrics(url)
        while values.get("locust_requests_total{name=a->b,request_type=batch}", 0) < 10:
            assert time.monotonic() < deadline, values
            time.sleep(0.5)
            values = _metrics(url)
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert values["locust_up{}"] == 1
    assert values["locust_running{}"] == 1
    assert values["locust_users{user_class=MessageStreamUser}"] == 1
    key = "name=a->b,request_type=batch"
    assert values[f"locust_failures_total{{{key}}}"] == 0
    assert values[f"locust_response_bytes_total{{{key}}}"] > 0
    assert (
        values[f"locust_response_time_seconds_bucket{{le=+Inf,{key}}}"]
        == values[f"locust_response_time_seconds_count{{{key}}}"]
    )
