"""Figures reach a real Pushgateway; an unreachable one costs a warning, not the run."""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import Gauge

from drivers.push import Pusher
from tests.support.daemons import free_port, require_binary, running


def test_push_replaces_the_scenario_group(tmp_path: Path) -> None:
    """A scenario's figures appear with run_id labels; a second push replaces the first."""
    binary = require_binary("prometheus-pushgateway")
    port = free_port()
    # Debian defaults --persistence.file to one file shared by every Pushgateway here.
    argv = [binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="]
    with running(argv, "127.0.0.1", port, tmp_path / "pushgateway.log"):
        url = f"http://127.0.0.1:{port}"
        for run_id, value in (("run-a", 12.5), ("run-b", 3.0)):
            pusher = Pusher(url, run_id, cluster="lab")

            def fill(registry: object, value: float = value) -> None:
                Gauge(
                    "swarmscope_failure_detection_seconds", "detection", ["node"], registry=registry
                ).labels("rpi-3").set(value)  # type: ignore[arg-type]

            assert pusher.push("failure", fill)
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            text = response.read().decode()
    lines = [line for line in text.splitlines() if line.startswith("swarmscope_")]
    detection = [line for line in lines if line.startswith("swarmscope_failure_detection")]
    assert detection == [
        'swarmscope_failure_detection_seconds{instance="",job="swarmscope",node="rpi-3",'
        'scenario="failure"} 3'
    ]
    assert any(
        'swarmscope_run_info{cluster="lab"' in line and 'run_id="run-b"' in line for line in lines
    )
    assert not any('run_id="run-a"' in line for line in lines)


def test_unreachable_pushgateway_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listening: push returns False and logs one warning naming the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.WARNING):
        assert not Pusher(url, "r", "lab", timeout=1).push("join", lambda registry: None)
    assert url in caplog.text
    assert "run directory" in caplog.text
