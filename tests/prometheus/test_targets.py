"""`swarmscope targets` writes the file_sd files prometheus.yml reads, plain or for compose."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from drivers.cli import main
from tests.support.daemons import require_binary

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "benchmarks/configs/cluster.example.yaml"


def _read(directory: Path, name: str) -> list[dict[str, object]]:
    data: list[dict[str, object]] = json.loads((directory / name).read_text())
    return data


def test_targets_from_the_example_inventory(tmp_path: Path) -> None:
    """Every node twice (exporter, node_exporter) with its labels; URLs from the inventory."""
    assert main(["targets", "--inventory", str(EXAMPLE), "--out", str(tmp_path)]) == 0
    swarmlet = _read(tmp_path, "swarmlet.json")
    assert swarmlet[1] == {
        "targets": ["192.168.1.101:9877"],
        "labels": {"node": "rpi-1", "type": "rpi", "role": "worker", "cluster": "edge-lab"},
    }
    assert _read(tmp_path, "node.json")[0]["targets"] == ["192.168.1.100:9100"]
    assert _read(tmp_path, "pushgateway.json")[0]["targets"] == ["192.168.1.100:9091"]
    assert _read(tmp_path, "alertmanager.json") == [{"targets": ["192.168.1.100:9093"]}]
    assert _read(tmp_path, "locust.json") == []


def test_compose_targets_use_service_names(tmp_path: Path) -> None:
    """With --compose the control-node services are reached by compose service name."""
    argv = ["targets", "--inventory", str(EXAMPLE), "--out", str(tmp_path), "--compose"]
    assert main(argv) == 0
    assert _read(tmp_path, "pushgateway.json")[0]["targets"] == ["pushgateway:9091"]
    assert _read(tmp_path, "alertmanager.json") == [{"targets": ["alertmanager:9093"]}]
    assert _read(tmp_path, "locust.json")[0]["targets"] == ["locust:8089"]
    assert _read(tmp_path, "swarmlet.json")[0]["targets"] == ["192.168.1.100:9877"]


def test_bad_locust_address_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --locust value that is not HOST:PORT exits 2 before writing anything."""
    argv = ["targets", "--inventory", str(EXAMPLE), "--out", str(tmp_path / "t"), "--locust", "x"]
    assert main(argv) == 2
    assert "--locust: 'x' is not HOST:PORT" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_prometheus_accepts_the_config_with_generated_targets(tmp_path: Path) -> None:
    """`promtool check config` on the repo's prometheus.yml, its rules and written targets."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    shutil.copy(REPO / "prometheus/prometheus.yml", directory)
    shutil.copytree(REPO / "prometheus/rules", directory / "rules")
    argv = ["targets", "--inventory", str(EXAMPLE), "--out", str(directory / "targets")]
    assert main([*argv, "--compose"]) == 0
    result = subprocess.run(
        [require_binary("promtool"), "check", "config", str(directory / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


def test_mesh_peers_file_for_the_exporters(tmp_path: Path) -> None:
    """--mesh-peers writes the file the exporters probe from: every node, its mesh port."""
    from exporters.mesh.peers import read

    peers = tmp_path / "mesh-peers.json"
    argv = ["targets", "--inventory", str(EXAMPLE), "--out", str(tmp_path / "t")]
    assert main([*argv, "--mesh-peers", str(peers)]) == 0
    mesh = read(peers)
    assert mesh.cluster == "edge-lab"
    assert [(p.name, p.address, p.port) for p in mesh.nodes][:2] == [
        ("gpu-primary", "192.168.1.100", 9878),
        ("rpi-1", "192.168.1.101", 9878),
    ]
