"""The run directory keeps every figure as soon as it is measured, and never a secret."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from drivers.errors import SwarmscopeError
from drivers.inventory import load_inventory
from drivers.results import RunDirectory
from drivers.secrets import register_secret
from drivers.thresholds import REPO_ROOT

EXAMPLE = REPO_ROOT / "benchmarks" / "configs" / "cluster.example.yaml"


def test_provenance_and_figures_are_persisted(tmp_path: Path) -> None:
    """results.json holds provenance and each scenario's status and figures after each call."""
    run = RunDirectory.create(tmp_path, load_inventory(EXAMPLE), run_id="r1")
    run.start_scenario("join")
    on_disk = json.loads((tmp_path / "r1" / "results.json").read_text())
    assert on_disk["scenarios"]["join"]["status"] == "running"
    run.add_figures("join", {"join_total": {"rpi-1": 3.2}}, {"mode": "sequential"})
    run.finish_scenario("join", "ok")
    again = RunDirectory.open(tmp_path / "r1")
    record = again.scenarios()["join"]
    assert record.status == "ok"
    assert record.figures == {"join_total": {"rpi-1": 3.2}}
    prov = again.provenance
    assert prov["run_id"] == "r1"
    assert prov["backend"] == "dockerswarm"
    assert prov["inventory_sha256"] == load_inventory(EXAMPLE).digest
    assert {"kernel", "arch", "python", "swarmscope_version", "thresholds_sha256"} <= set(prov)


def test_registered_secrets_never_reach_disk(tmp_path: Path) -> None:
    """A join token registered as secret is redacted from results.json and sample files."""
    token = "SWMTKN-1-abcdefghijklmnopqrstuvwxyz0123456789-secretpart"
    register_secret(token)
    run = RunDirectory.create(tmp_path, load_inventory(EXAMPLE), run_id="r2")
    run.start_scenario("join")
    run.add_figures("join", details={"command": f"docker swarm join --token {token} x"})
    run.write_samples_csv("join", ["node", "log"], [["rpi-1", f"joined with {token}"]])
    for path in (tmp_path / "r2").rglob("*"):
        if path.is_file():
            assert token not in path.read_text(), path


def test_killed_writer_leaves_a_readable_file(tmp_path: Path) -> None:
    """SIGKILL in the middle of a run leaves valid JSON with the unfinished scenario 'running'."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from drivers.inventory import load_inventory
        from drivers.results import RunDirectory
        run = RunDirectory.create(Path({str(tmp_path)!r}), load_inventory(Path({str(EXAMPLE)!r})),
                                  run_id="r3")
        run.start_scenario("scheduling")
        for i in range(100000):
            run.add_figures("scheduling", {{"latency_" + str(i % 50): i}})
            if i == 20:
                print("ready", flush=True)
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=REPO_ROOT
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    record = RunDirectory.open(tmp_path / "r3").scenarios()["scheduling"]
    assert record.status == "running"
    assert len(record.figures) >= 20


def test_opening_something_else_is_a_clear_error(tmp_path: Path) -> None:
    """A directory without results.json, or a corrupt one, is a one-line error."""
    with pytest.raises(SwarmscopeError, match="not a run directory"):
        RunDirectory.open(tmp_path)
    (tmp_path / "results.json").write_text("{ broken")
    with pytest.raises(SwarmscopeError, match="unreadable JSON at line 1"):
        RunDirectory.open(tmp_path)
