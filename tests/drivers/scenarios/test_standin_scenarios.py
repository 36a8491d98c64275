"""The placement, scheduling and migration scenarios run unchanged on the StratoSwarm
backend (its scripted stand-in CLI), take their figures from the orchestrator's
timestamps, report what cannot be placed, and leave no workload behind — also on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.drivers.cluster.standin import StandIn, install_standin
from tests.drivers.scenarios.context import run_named, scenario_context

START_DELAY = 0.2  # the stand-in's workloads run this long after they are created


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    return install_standin(tmp_path, monkeypatch)


def test_scheduling_latency_comes_from_the_orchestrator(standin: StandIn, tmp_path: Path) -> None:
    """Every workload's latency is its CREATED -> UPDATED (running) time, not our polling;
    the second GPU job queues on the single GPU until the bounded wait ends, with the
    orchestrator's reason; nothing is left afterwards."""
    argv = ["--count", "6", "--gpu-every", "3", "--timeout", "3s", "--unschedulable-after", "0.5s"]
    context = scenario_context("scheduling", standin.inventory, tmp_path / "results", argv)
    assert run_named("scheduling", context) == "ok"
    record = context.run.scenarios()["scheduling"]
    figures = record.figures
    assert figures["scheduling_running"] == 5
    assert figures["scheduling_timed_out"] == 1
    assert figures["scheduling_latency"]["count"] == 5
    assert figures["scheduling_latency"]["p50"] == pytest.approx(START_DELAY, abs=1e-3)
    assert figures["scheduling_latency"]["max"] == pytest.approx(START_DELAY, abs=1e-3)
    assert set(figures["scheduling_latency_by_type"]) == {"cpu", "gpu"}
    assert record.details["backend"] == "stratoswarm"
    assert record.details["backend_version"] == "stratoswarm 0.0.0 (swarmscope stand-in)"
    (reason,) = record.details["not_running"].values()
    assert "insufficient resources" in reason
    gpu_calls = [c for c in standin.calls() if c[:2] == ["run", "--gpu"]]
    cpu_calls = [c for c in standin.calls() if c[:2] == ["run", "--cpu"]]
    assert len(gpu_calls) == 2
    assert cpu_calls[0] == [
        "run",
        "--cpu",
        "0.5",
        "--memory",
        "128M",
        "busybox:latest",
        "sleep",
        "60",
    ]
    assert standin.state()["workloads"] == {}
    rows = (context.run.path / "samples" / "scheduling.csv").read_text().splitlines()
    assert rows[0].startswith("workload,type,node,created_at,running_at,latency_seconds")
    assert len(rows) == 7


def test_placement_of_the_seeds_file(standin: StandIn, tmp_path: Path) -> None:
    """The seed's file deploys as is; every workload is judged against its expectation and
    the 100 GB probe is reported unschedulable with the orchestrator's reason."""
    argv = ["--unschedulable-after", "0.5s", "--timeout", "20s"]
    context = scenario_context("placement", standin.inventory, tmp_path / "results", argv)
    assert run_named("placement", context) == "ok"
    record = context.run.scenarios()["placement"]
    assert record.figures["placement_where_expected"] == 3
    assert record.figures["placement_workloads"] == 3
    workloads = record.details["workloads"]
    assert workloads["gpu-inference"]["nodes"] == ["gpu-primary"]
    assert workloads["edge-sensor-processing"]["nodes"] == [f"rpi-{i}" for i in range(1, 6)]
    assert workloads["data-aggregation"]["where_expected"] is True
    probe = workloads["placement-never-fits"]
    assert probe["state"] == "unschedulable"
    assert (
        "no node can ever hold 100 GB memory"
        in record.details["unschedulable"]["placement-never-fits"]
    )
    assert (
        "insufficient resources on 6 nodes"
        in record.details["unschedulable"]["placement-never-fits"]
    )
    assert set(record.figures["placement_scheduling_seconds"]) == {
        "gpu-inference",
        "edge-sensor-processing",
        "data-aggregation",
    }
    assert standin.state()["workloads"] == {}


def test_misplaced_workload_fails_the_scenario(standin: StandIn, tmp_path: Path) -> None:
    """A workload off its expected node fails the scenario; its figures are still kept."""
    path = tmp_path / "wrong.yaml"
    path.write_text(
        "workloads:\n  - {name: pinned, type: cpu-light, constraints: [node.name==rpi-2], "
        "expected_node: rpi-1}\n"
    )
    argv = ["--file", str(path), "--never-fits", "0"]
    context = scenario_context("placement", standin.inventory, tmp_path / "results", argv)
    assert run_named("placement", context) == "failed"
    record = context.run.scenarios()["placement"]
    assert (
        record.error == "placement: 1 workload(s) not as expected: pinned on rpi-2, expected rpi-1"
    )
    assert record.details["workloads"]["pinned"]["nodes"] == ["rpi-2"]
    assert standin.state()["workloads"] == {}


def test_migration_is_timed_to_running_there_and_gone_here(
    standin: StandIn, tmp_path: Path
) -> None:
    """`migrate ID --to NODE` back and forth; each move ends when the new task runs on the
    destination and the old one stopped on the source, by the orchestrator's times."""
    argv = ["--from", "rpi-1", "--to", "rpi-2", "--repeat", "2"]
    context = scenario_context("migration", standin.inventory, tmp_path / "results", argv)
    assert run_named("migration", context) == "ok"
    record = context.run.scenarios()["migration"]
    seconds = record.figures["migration_seconds"]
    assert set(seconds) == {"rpi-1->rpi-2", "rpi-2->rpi-1"}
    for move in record.details["moves"]:
        assert move["new_running_after"] >= START_DELAY
        assert move["seconds"] == max(move["new_running_after"], move["old_stopped_after"])
        assert move["seconds"] < 5
    migrations = [c for c in standin.calls() if c[0] == "migrate"]
    assert [c[2:] for c in migrations] == [["--to", "rpi-2"], ["--to", "rpi-1"]]
    assert standin.state()["workloads"] == {}


def test_bad_scenario_arguments_are_one_line_errors(standin: StandIn, tmp_path: Path) -> None:
    """Same node twice, or a node not in the inventory: the scenario fails naming it."""
    context = scenario_context(
        "migration", standin.inventory, tmp_path / "results", ["--from", "rpi-1", "--to", "rpi-1"]
    )
    assert run_named("migration", context) == "failed"
    assert context.run.scenarios()["migration"].error == (
        "--from and --to are both rpi-1: nothing to migrate"
    )
    context = scenario_context(
        "migration", standin.inventory, tmp_path / "other", ["--to", "rpi-9"]
    )
    assert run_named("migration", context) == "failed"
    assert "no node named 'rpi-9'" in (context.run.scenarios()["migration"].error or "")


def test_ctrl_c_removes_every_workload(standin: StandIn, tmp_path: Path) -> None:
    """SIGINT while waiting for workloads to run: the run says interrupted, exits 130, and
    every workload it created is removed."""
    results = tmp_path / "results"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "drivers",
            "run",
            "scheduling",
            "--inventory",
            str(standin.inventory.path),
            "--results",
            str(results),
            "--run-id",
            "interrupted",
            "--count",
            "4",
            "--gpu-every",
            "2",
            "--timeout",
            "120s",
        ],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while len(standin.state()["workloads"]) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(standin.state()["workloads"]) == 4
    time.sleep(0.5)  # in the wait for the queued GPU job
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "interrupted" in output
    assert standin.state()["workloads"] == {}
    document = json.loads((results / "interrupted" / "results.json").read_text())
    assert document["scenarios"]["scheduling"]["status"] == "interrupted"
