"""A critical alert from the generated rules reaches a webhook through a real Alertmanager."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import push_to_gateway

from drivers.render.threshold_rules import alert_name
from drivers.thresholds import load_thresholds
from tests.prometheus.stack import monitoring_stack, wait_until_targets

DELIVERY_TIMEOUT = 25.0


class _Webhook:
    """A tiny HTTP server that records every JSON payload POSTed to it."""

    def __init__(self) -> None:
        self.payloads: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        received = self.payloads

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.put((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[_Webhook]:
    with _Webhook() as server:
        yield server


def test_critical_alert_reaches_the_webhook(tmp_path: Path, webhook: _Webhook) -> None:
    """A failure-detection figure past acceptable, pushed like a scenario pushes it, arrives at
    the critical receiver as a firing critical alert; its warning twin is inhibited."""
    threshold = load_thresholds()["failure_detection"]
    name = alert_name(threshold)
    value = threshold.acceptable * 1.5
    with monitoring_stack(tmp_path, webhook_url=webhook.url) as stack:
        assert stack.alertmanager
        wait_until_targets(stack.prometheus, {"pushgateway"})
        registry = CollectorRegistry()
        Gauge(
            "swarmscope_failure_detection_seconds", "Detection.", ["node"], registry=registry
        ).labels("rpi-3").set(value)
        pushed = time.monotonic()
        push_to_gateway(
            stack.pushgateway,
            job="swarmscope",
            registry=registry,
            grouping_key={"scenario": "failure"},
        )
        path, alert = _first_firing(webhook, name, "critical")
        elapsed = time.monotonic() - pushed
        print(f"critical alert at the webhook {elapsed:.1f}s after the push")
        assert path == "/alerts/critical"  # routed by severity
        assert alert["labels"]["node"] == "rpi-3"
        assert alert["labels"]["threshold"] == "failure_detection"
        assert f"{value:g}s" in alert["annotations"]["summary"]
        assert "acceptable <30s" in alert["annotations"]["summary"]
        assert alert["annotations"]["runbook_url"].endswith(f"#{name.lower()}")
        inhibited = _alertmanager_alerts(stack.alertmanager, name)
        warning = [a for a in inhibited if a["labels"]["severity"] == "warning"]
        assert warning, "the warning alert should be in Alertmanager too"
        assert warning[0]["status"]["state"] == "suppressed"
        assert warning[0]["status"]["inhibitedBy"]
    others = []
    while not webhook.payloads.empty():
        others.append(webhook.payloads.get_nowait())
    assert not any(path.endswith("/warning") for path, _ in others)


def _first_firing(webhook: _Webhook, alert: str, severity: str) -> tuple[str, dict[str, Any]]:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            path, payload = webhook.payloads.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        for item in payload["alerts"]:
            labels = item["labels"]
            if (
                item["status"] == "firing"
                and labels.get("alertname") == alert
                and labels.get("severity") == severity
            ):
                return path, item
    pytest.fail(f"no firing {severity} {alert} reached the webhook within {DELIVERY_TIMEOUT}s")


def _alertmanager_alerts(url: str, alert: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{url}/api/v2/alerts", params={"filter": f'alertname="{alert}"'}, timeout=5
    )
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()
    return alerts
