"""Locust's statistics as Prometheus metrics, served at ``/metrics`` on Locust's web app.

Prometheus scrapes the Locust master like any target, so Grafana shows the load beside the
mesh and node metrics it causes. Everything is computed from Locust's own runner stats on
each scrape (nothing is kept here)::

    locust_up 1                                  # the master answers; 0 never appears
    locust_running 1                             # 1 while users run (spawning or running)
    locust_users{user_class="MessageStreamUser"} 6
    locust_workers 6                             # connected workers (0 when not distributed)
    locust_requests_total{request_type="batch",name="rpi-1->rpi-2"} 1520
    locust_failures_total{request_type,name}
    locust_response_bytes_total{request_type,name}   # rate() of it is the throughput
    locust_response_time_seconds_bucket{request_type,name,le}  # histogram (+ _sum, _count)
    locust_errors_total{request_type,name,error}

Locust rounds response times to whole milliseconds, so the histogram's first bucket is 1 ms;
sub-millisecond latency belongs to the exporters' mesh probes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Upper bounds in seconds: message batches (ms) up to scheduling under load (tens of seconds).
RESPONSE_TIME_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
ROUTE = "/metrics"
_RUNNING_STATES = ("spawning", "running")


class LocustStatsCollector:
    """A prometheus_client collector reading one Locust environment's runner."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment

    def collect(self) -> Iterator[Metric]:
        runner = self.environment.runner
        up = GaugeMetricFamily("locust_up", "1: the Locust master answers.")
        up.add_metric([], 1.0)
        yield up
        if runner is None:
            return
        running = GaugeMetricFamily("locust_running", "1 while users are spawning or running.")
        running.add_metric([], 1.0 if str(runner.state) in _RUNNING_STATES else 0.0)
        yield running
        users = GaugeMetricFamily("locust_users", "Users running now.", labels=["user_class"])
        for user_class, count in sorted((runner.user_classes_count or {}).items()):
            users.add_metric([user_class], float(count))
        yield users
        workers = GaugeMetricFamily("locust_workers", "Workers connected to the master.")
        workers.add_metric([], float(getattr(runner, "worker_count", 0)))
        yield workers
        yield from self._requests(runner.stats)

    def _requests(self, stats: Any) -> Iterator[Metric]:
        labels = ["request_type", "name"]
        requests = CounterMetricFamily(
            "locust_requests", "Requests (messages batches, streams, ...) completed.", labels=labels
        )
        failures = CounterMetricFamily("locust_failures", "Requests that failed.", labels=labels)
        transferred = CounterMetricFamily(
            "locust_response_bytes", "Bytes the requests carried.", labels=labels
        )
        response_time = HistogramMetricFamily(
            "locust_response_time_seconds",
            "Response time of requests (Locust's 1 ms resolution).",
            labels=labels,
        )
        for (name, method), entry in sorted(stats.entries.items()):
            key = [str(method), str(name)]
            requests.add_metric(key, float(entry.num_requests))
            failures.add_metric(key, float(entry.num_failures))
            transferred.add_metric(key, float(entry.total_content_length))
            response_time.add_metric(
                key,
                _buckets(entry.response_times),
                sum_value=entry.total_response_time / 1000.0,
            )
        yield from (requests, failures, transferred, response_time)
        errors = CounterMetricFamily(
            "locust_errors", "Failures by error message.", labels=[*labels, "error"]
        )
        for error in stats.errors.values():
            errors.add_metric(
                [str(error.method), str(error.name), str(error.error)[:200]],
                float(error.occurrences),
            )
        yield errors


def _buckets(response_times: dict[int, int]) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` from Locust's {rounded milliseconds: count} map."""
    counts = [0] * (len(RESPONSE_TIME_BUCKETS) + 1)
    for milliseconds, count in response_times.items():
        seconds = milliseconds / 1000.0
        index = next(
            (i for i, bound in enumerate(RESPONSE_TIME_BUCKETS) if seconds <= bound),
            len(RESPONSE_TIME_BUCKETS),
        )
        counts[index] += count
    result, total = [], 0
    for bound, count in zip((*RESPONSE_TIME_BUCKETS, float("inf")), counts, strict=True):
        total += count
        result.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
    return result


def render(environment: Any) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LocustStatsCollector(environment))
    return generate_latest(registry)


def install_route(environment: Any) -> bool:
    """Add ``/metrics`` to Locust's Flask app; False when there is no web UI (headless)."""
    web_ui = getattr(environment, "web_ui", None)
    if web_ui is None:
        return False
    from flask import Response  # noqa: PLC0415 - only where Locust's web UI runs

    def metrics() -> Response:
        return Response(render(environment), mimetype=CONTENT_TYPE_LATEST)

    web_ui.app.add_url_rule(ROUTE, "swarmscope_metrics", metrics)
    return True
