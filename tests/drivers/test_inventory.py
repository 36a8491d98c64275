"""The inventory is validated strictly: every mistake names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.errors import ConfigError
from drivers.inventory import inventory_document, load_inventory, write_inventory
from drivers.thresholds import REPO_ROOT

EXAMPLE = REPO_ROOT / "benchmarks" / "configs" / "cluster.example.yaml"


def test_example_describes_the_seed_cluster() -> None:
    """The shipped example is the seed's 1 GPU + 5 Pi cluster and loads cleanly."""
    inventory = load_inventory(EXAMPLE)
    assert inventory.manager.name == "gpu-primary"
    assert inventory.manager.gpus == 1
    assert [n.name for n in inventory.workers] == [f"rpi-{i}" for i in range(1, 6)]
    assert inventory.node("rpi-3").ssh.user == "pi"
    assert inventory.manager.ssh.user == "root"
    assert inventory.node("rpi-1").engine_url == "ssh://pi@192.168.1.101:22"
    assert inventory.node("rpi-1").ssh.known_hosts == (EXAMPLE.parent / "known_hosts").resolve()
    assert not inventory.is_lab


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text()
    assert old in text, old
    path = tmp_path / "cluster.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("address: 192.168.1.102", "adress: 192.168.1.102", "nodes[2].adress: unknown key"),
        (
            "address: 192.168.1.102",
            "address: 192.168.1.300",
            "nodes[2].address: '192.168.1.300' is not an IP address",
        ),
        ("name: rpi-2,", "name: rpi-1,", "nodes[2].name: duplicate node name 'rpi-1'"),
        (
            "address: 192.168.1.102",
            "address: 192.168.1.101",
            "nodes[2].address: 192.168.1.101 is already used by node 'rpi-1'",
        ),
        ("backend: dockerswarm ", "backend: k8s ", "cluster.backend: 'k8s' is not one of"),
        (
            "manager: gpu-primary ",
            "manager: rpi-1 ",
            "cluster.manager: 'rpi-1' is not a node with role: manager",
        ),
        (
            "role: worker, type: rpi, hardware: rpi4-4gb}\n  - {name: rpi-2",
            "role: boss, type: rpi, hardware: rpi4-4gb}\n  - {name: rpi-2",
            "nodes[1].role: 'boss' is not one of",
        ),
        ("  port: 22\n", "  port: 99999\n", "ssh.port: 99999 is not a TCP/UDP port"),
        ("name: rpi-5,", "name: RPi_5,", "nodes[5].name: 'RPi_5' must be lower-case"),
        ("prometheus_url: http://", "prometheus_url: ftp://", "cluster.prometheus_url"),
        ("version: 1", "version: 2", "version: only version 1 is understood"),
    ],
)
def test_mistakes_name_file_and_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    """Each kind of mistake is one line naming the inventory file and the offending field."""
    path = _variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_missing_file_and_broken_yaml_are_clear(tmp_path: Path) -> None:
    """A missing file or a YAML syntax error is reported with the path and line."""
    with pytest.raises(ConfigError, match="file not found"):
        load_inventory(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nnodes: [\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: line \d+"):
        load_inventory(broken)


def test_written_inventory_round_trips(tmp_path: Path) -> None:
    """What the lab writes is exactly what load_inventory accepts."""
    document = inventory_document(
        name="lab",
        backend="dockerswarm",
        prometheus_url="http://10.0.0.1:9090",
        pushgateway_url="http://10.0.0.1:9091",
        alertmanager_url=None,
        nodes=[
            {
                "name": "gpu-primary",
                "address": "10.0.0.10",
                "role": "manager",
                "type": "gpu",
                "gpus": 1,
                "docker_host": "unix:///tmp/x.sock",
                "labels": {"type": "gpu"},
            }
        ],
        ssh={"user": "root", "known_hosts": "known_hosts"},
        lab_state_dir=tmp_path,
    )
    path = tmp_path / "inventory.yaml"
    write_inventory(document, path, header="written by a test")
    inventory = load_inventory(path)
    assert path.read_text().startswith("# written by a test\n")
    assert inventory.manager.engine_url == "unix:///tmp/x.sock"
    assert inventory.lab_state_dir == tmp_path
    assert inventory.manager.labels == {"type": "gpu"}
