"""Fault windows for Grafana, the alert rules and the report: faults.json and two pushed series.

``swarmscope_fault_active{fault,target}`` is 1 while a fault is applied and 0 once it is
reverted; ``swarmscope_fault_expected_end_timestamp_seconds{fault,target}`` is when its
timer on the target reverts it, so an alert can tell "active longer than its duration"
(``swarmscope_fault_active == 1 and time() > ..._expected_end_... + grace``). ``fault`` is the
fault's kind (a bounded label); every fault is its own Pushgateway group
(``scenario``, ``fault_id``), so pushing one never replaces another's series.

``faults.json`` in the run directory holds every window (``applied_at``, ``reverted_at``,
``expected_end``, kind, target, parameters, mechanism), merged by fault id under a lock, so
several scenarios of one run add to the same file.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import push_to_gateway

from drivers.faults.model import FaultRecord
from drivers.push import JOB, Pusher
from drivers.results import RunDirectory

log = logging.getLogger(__name__)
FAULTS_FILE = "faults.json"
ACTIVE_METRIC = "swarmscope_fault_active"
EXPECTED_END_METRIC = "swarmscope_fault_expected_end_timestamp_seconds"
_file_lock = threading.Lock()


def fill_registry(registry: CollectorRegistry, record: FaultRecord) -> None:
    active = Gauge(
        ACTIVE_METRIC,
        "1 while a fault is applied to the target, 0 once it is reverted.",
        ["fault", "target"],
        registry=registry,
    )
    expected_end = Gauge(
        EXPECTED_END_METRIC,
        "When the fault's timer on the target reverts it (POSIX seconds).",
        ["fault", "target"],
        registry=registry,
    )
    active.labels(record.kind, record.node).set(1 if record.active else 0)
    expected_end.labels(record.kind, record.node).set(record.expected_end)


def push_fault(pusher: Pusher, record: FaultRecord, scenario: str | None) -> bool:
    """Push one fault's two series in its own group; False (and a warning) if unreachable."""
    registry = pusher.new_registry()
    fill_registry(registry, record)
    grouping = {"scenario": scenario or "cli", "fault_id": record.id}
    try:
        push_to_gateway(
            pusher.url, job=JOB, registry=registry, grouping_key=grouping, timeout=pusher.timeout
        )
    except OSError as exc:
        log.warning(
            "pushgateway %s did not take fault %s (%s); it is recorded on the target%s",
            pusher.url,
            record.id,
            exc,
            " and in faults.json" if scenario else "",
        )
        return False
    return True


def read_windows(run: RunDirectory) -> list[dict[str, Any]]:
    path = run.path / FAULTS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except json.JSONDecodeError:
        log.warning("%s is not valid JSON; starting it afresh", path)
        return []
    items = raw.get("faults", []) if isinstance(raw, dict) else []
    return [item for item in items if isinstance(item, dict)]


def record_window(run: RunDirectory, record: FaultRecord) -> None:
    """Add or update the fault's window in faults.json (atomically, merged by id)."""
    with _file_lock:
        windows = [w for w in read_windows(run) if w.get("id") != record.id]
        windows.append(record.to_json())
        windows.sort(key=lambda w: (w.get("applied_at") or w.get("armed_at") or 0, w["id"]))
        run.write_json(FAULTS_FILE, {"faults": windows})


class FaultRecorder:
    """The observer a scenario (or `swarmscope fault --run-dir`) gives its FaultInjector."""

    def __init__(
        self, run: RunDirectory | None, pusher: Pusher | None, scenario: str | None
    ) -> None:
        self.run = run
        self.pusher = pusher
        self.scenario = scenario

    def _note(self, record: FaultRecord) -> None:
        if self.run is not None:
            record_window(self.run, record)
        if self.pusher is not None:
            push_fault(self.pusher, record, self.scenario)

    def applied(self, record: FaultRecord) -> None:
        self._note(record)

    def reverted(self, record: FaultRecord) -> None:
        self._note(record)
