"""Push a scenario's figures to the Pushgateway so Grafana and the alert rules see them.

One group per scenario (``job="swarmscope", scenario=...``): a new run of a scenario replaces
the previous run's figures, and every series carries the ``run_id`` label. A Pushgateway that
does not answer costs a warning, never the run: the figures are already in the run directory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import push_to_gateway

log = logging.getLogger(__name__)
JOB = "swarmscope"


class Pusher:
    def __init__(self, url: str, run_id: str, cluster: str, timeout: float = 5.0) -> None:
        self.url = url
        self.run_id = run_id
        self.cluster = cluster
        self.timeout = timeout

    def new_registry(self) -> CollectorRegistry:
        """A registry already holding ``swarmscope_run_info`` and the push timestamp."""
        registry = CollectorRegistry()
        info = Gauge(
            "swarmscope_run_info",
            "The run that pushed these figures.",
            ["run_id", "cluster"],
            registry=registry,
        )
        info.labels(self.run_id, self.cluster).set(1)
        stamp = Gauge(
            "swarmscope_last_push_timestamp_seconds",
            "When a scenario last pushed its figures.",
            registry=registry,
        )
        stamp.set(time.time())
        return registry

    def push(self, scenario: str, fill: Callable[[CollectorRegistry], None]) -> bool:
        """Build a registry with ``fill`` and replace the scenario's group; False if unreachable."""
        registry = self.new_registry()
        fill(registry)
        try:
            push_to_gateway(
                self.url,
                job=JOB,
                registry=registry,
                grouping_key={"scenario": scenario},
                timeout=self.timeout,
            )
        except OSError as exc:
            log.warning(
                "pushgateway %s did not take the %s figures (%s); they are in the run directory",
                self.url,
                scenario,
                exc,
            )
            return False
        return True
