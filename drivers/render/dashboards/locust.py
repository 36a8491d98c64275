"""Locust load: users, request rate, response times and throughput from Locust's /metrics."""

from __future__ import annotations

from drivers.render.grafana_model import (
    Dashboard,
    Query,
    Row,
    alarm_steps,
    label_table,
    stat,
    threshold_steps,
    timeseries,
)
from drivers.thresholds import Threshold

UID = "swarmscope-locust"
# The message round trip is judged as coordination latency, like Locust's exit code does.
ROUND_TRIP_REQUEST = "rtt"
ROUND_TRIP_THRESHOLD = "coordination_latency"
WINDOW = "[$__rate_interval]"


def build(thresholds: dict[str, Threshold]) -> Dashboard:
    judged = thresholds[ROUND_TRIP_THRESHOLD]
    round_trip = f'request_type="{ROUND_TRIP_REQUEST}"'
    load = Row(
        "Load",
        [
            stat("Users", [Query("sum(locust_users)", "users", instant=True)]),
            stat("Workers", [Query("max(locust_workers)", "workers", instant=True)]),
            stat(
                "Failures per second",
                [Query(f"sum(rate(locust_failures_total{WINDOW}))", "failures", instant=True)],
                "reqps",
                steps=alarm_steps(),
            ),
            stat(
                "Throughput",
                [Query(f"sum(rate(locust_response_bytes_total{WINDOW}))", "bytes", instant=True)],
                "Bps",
            ),
            timeseries(
                "Requests per second",
                [
                    Query(
                        f"sum by (request_type, name) (rate(locust_requests_total{WINDOW}))",
                        "{{request_type}} {{name}}",
                    )
                ],
                "reqps",
            ),
            timeseries(
                "Throughput per request type",
                [
                    Query(
                        f"sum by (request_type) (rate(locust_response_bytes_total{WINDOW}))",
                        "{{request_type}}",
                    )
                ],
                "Bps",
            ),
        ],
    )
    times = Row(
        "Response times (Locust's 1 ms resolution)",
        [
            timeseries(
                f"Message round trip, mean per pair (target {judged.target_text}, "
                f"acceptable {judged.acceptable_text})",
                [
                    Query(
                        f"sum by (name) (rate(locust_response_time_seconds_sum{{{round_trip}}}"
                        f"{WINDOW})) / sum by (name) "
                        f"(rate(locust_response_time_seconds_count{{{round_trip}}}{WINDOW}))",
                        "{{name}}",
                    )
                ],
                "s",
                steps=threshold_steps(judged),
                description=f"Judged as `{judged.key}` of thresholds.yaml, as Locust's exit code "
                "judges it.",
            ),
            timeseries(
                "p95 response time per request type",
                [
                    Query(
                        "histogram_quantile(0.95, sum by (le, request_type) "
                        f"(rate(locust_response_time_seconds_bucket{WINDOW})))",
                        "{{request_type}}",
                    )
                ],
                "s",
            ),
            label_table(
                "Errors",
                Query(
                    "sum by (request_type, name, error) (locust_errors_total) > 0",
                    instant=True,
                    format="table",
                    may_be_empty="no request failed",
                ),
                value=True,
            ),
        ],
    )
    return Dashboard(
        UID,
        "swarmscope / Locust load",
        "The Locust master's statistics (its /metrics route): users, rates, response times.",
        [load, times],
    )
