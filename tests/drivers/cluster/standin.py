"""The scripted stand-in `stratoswarm` CLI (and a node's `docker`) put on PATH for a test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drivers.inventory import Inventory, Node, load_inventory
from drivers.remote import CommandResult

BIN = Path(__file__).parent / "bin"
TOKEN = "SWMTKN-1-standin0token0that0must0never0be0printed"
GIB = 2**30


@dataclass
class StandIn:
    state_file: Path
    log_file: Path
    docker_dir: Path
    inventory: Inventory

    def calls(self) -> list[list[str]]:
        """Every argv the CLI was called with, in order."""
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data

    def update(self, **changes: Any) -> None:
        state = self.state()
        state.update(changes)
        self.state_file.write_text(json.dumps(state))


def _node(
    name: str, address: str, kind: str, *, cpus: int, memory: int, gpus: int
) -> dict[str, Any]:
    return {
        "name": name,
        "address": address,
        "status": "Ready",
        "role": "manager" if kind == "gpu" else "worker",
        "type": kind,
        "cpus": cpus,
        "memory": memory,
        "gpus": gpus,
    }


def install_standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pis: int = 5) -> StandIn:
    nodes = [_node("gpu-primary", "192.168.1.100", "gpu", cpus=8, memory=32 * GIB, gpus=1)]
    nodes += [
        _node(f"rpi-{i}", f"192.168.1.10{i}", "rpi", cpus=4, memory=4 * GIB, gpus=0)
        for i in range(1, pis + 1)
    ]
    state_file = tmp_path / "stratoswarm-state.json"
    state_file.write_text(
        json.dumps({"token": TOKEN, "nodes": nodes, "workloads": {}, "counter": 0})
    )
    inventory_file = tmp_path / "cluster.yaml"
    lines = [
        "version: 1",
        "cluster:",
        "  name: standin",
        "  backend: stratoswarm",
        "  prometheus_url: http://127.0.0.1:9",
        "  pushgateway_url: http://127.0.0.1:9",
        "nodes:",
    ]
    for node in nodes:
        lines.append(
            f"  - {{name: {node['name']}, address: {node['address']}, role: {node['role']}, "
            f"type: {node['type']}}}"
        )
    inventory_file.write_text("\n".join(lines) + "\n")
    docker_dir = tmp_path / "containers"
    docker_dir.mkdir()
    # The stand-ins are Python scripts: the venv's python3 (with PyYAML) must come first.
    path = os.pathsep.join([str(BIN), str(Path(sys.executable).parent), os.environ["PATH"]])
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("STRATOSWARM_STANDIN_STATE", str(state_file))
    monkeypatch.setenv("STRATOSWARM_STANDIN_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("STANDIN_DOCKER_DIR", str(docker_dir))
    return StandIn(state_file, tmp_path / "calls.jsonl", docker_dir, load_inventory(inventory_file))


class LocalNodeShell:
    """Runs a node's commands in a local shell with the stand-in `docker` on PATH.

    Stands in for SSH to a Pi (SSH itself is tested against a real sshd in test_remote.py).
    """

    def __init__(self, node: Node) -> None:
        self.node = node

    def run(
        self, command: str | list[str], timeout: float = 60.0, check: bool = False
    ) -> CommandResult:
        text = command if isinstance(command, str) else subprocess.list2cmdline(command)
        started = time.monotonic()
        done = subprocess.run(
            ["sh", "-c", text],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "STANDIN_NODE": self.node.name},
            check=False,
        )
        result = CommandResult(
            self.node.name,
            text,
            done.returncode,
            done.stdout,
            done.stderr,
            time.monotonic() - started,
        )
        return result.check() if check else result
