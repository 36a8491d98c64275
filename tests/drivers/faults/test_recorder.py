"""Fault windows: faults.json merged by id, and the two pushed series on a real Pushgateway."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from drivers.faults.model import FaultRecord
from drivers.faults.recorder import FaultRecorder
from drivers.inventory import load_inventory
from drivers.push import Pusher
from drivers.report.build import fault_windows
from drivers.results import RunDirectory
from tests.support.daemons import free_port, require_binary, running

EXAMPLE = Path(__file__).parents[3] / "benchmarks" / "configs" / "cluster.example.yaml"


def _record(fault_id: str, kind: str, node: str, applied: float) -> FaultRecord:
    return FaultRecord(fault_id, kind, node, 30.0, applied - 0.2, applied_at=applied)


def test_windows_of_two_scenarios_share_faults_json(tmp_path: Path) -> None:
    """Each apply and revert rewrites the fault's own entry; another scenario's entries of
    the same run stay; the file is what the report reads (applied_at, reverted_at, kind)."""
    run = RunDirectory.create(tmp_path, load_inventory(EXAMPLE), "run-1")
    edge, failure = FaultRecorder(run, None, "edge"), FaultRecorder(run, None, "failure")
    stress = _record("stress-1a2b@rpi-1", "stress", "rpi-1", 1000.0)
    edge.applied(stress)
    partition = _record("partition-2b3c@rpi-2", "partition", "rpi-2", 1100.0)
    failure.applied(partition)
    edge.reverted(stress.with_(reverted_at=1030.1, reverted_by="timer"))
    windows = json.loads((run.path / "faults.json").read_text())["faults"]
    assert [(w["id"], w["reverted_at"]) for w in windows] == [
        ("stress-1a2b@rpi-1", 1030.1),
        ("partition-2b3c@rpi-2", None),
    ]
    assert windows[1]["expected_end"] == 1130.0
    shaded = fault_windows(run)
    assert [(w.kind, w.target, w.start, w.end) for w in shaded] == [
        ("stress", "rpi-1", 1000.0, 1030.1),
        ("partition", "rpi-2", 1100.0, 1130.0),
    ]


def test_fault_series_reach_the_pushgateway_one_group_per_fault(tmp_path: Path) -> None:
    """swarmscope_fault_active is 1 then 0 for a reverted fault, while another fault's
    series (its own group) stays 1; the expected end is pushed beside it."""
    binary = require_binary("prometheus-pushgateway")
    port = free_port()
    # Debian's default persists to /var/lib/prometheus/pushgateway.data, shared by every
    # Pushgateway started on this machine without the flag: keep this one to itself.
    argv = [binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="]
    with running(argv, "127.0.0.1", port, tmp_path / "pushgateway.log"):
        pusher = Pusher(f"http://127.0.0.1:{port}", "run-7", "lab")
        recorder = FaultRecorder(None, pusher, "failure")
        first = _record("poweroff-1a2b@rpi-3", "poweroff", "rpi-3", 2000.0)
        second = _record("partition-2b3c@rpi-1", "partition", "rpi-1", 2005.0)
        recorder.applied(first)
        recorder.applied(second)
        recorder.reverted(first.with_(reverted_at=2012.0, reverted_by="hand"))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    active = sorted(line for line in text.splitlines() if line.startswith("swarmscope_fault_"))
    assert active == [
        'swarmscope_fault_active{fault="partition",fault_id="partition-2b3c@rpi-1",'
        'instance="",job="swarmscope",scenario="failure",target="rpi-1"} 1',
        'swarmscope_fault_active{fault="poweroff",fault_id="poweroff-1a2b@rpi-3",'
        'instance="",job="swarmscope",scenario="failure",target="rpi-3"} 0',
        'swarmscope_fault_expected_end_timestamp_seconds{fault="partition",'
        'fault_id="partition-2b3c@rpi-1",instance="",job="swarmscope",scenario="failure",'
        'target="rpi-1"} 2035',
        'swarmscope_fault_expected_end_timestamp_seconds{fault="poweroff",'
        'fault_id="poweroff-1a2b@rpi-3",instance="",job="swarmscope",scenario="failure",'
        'target="rpi-3"} 2030',
    ]
