"""The peers file is read strictly, and a running node follows its changes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from exporters.mesh.peers import Mesh, Peer, PeersFileError, PeersWatcher, dumps, loads, read

GOOD: dict[str, Any] = {
    "version": 1,
    "cluster": "edge-lab",
    "nodes": [
        {"name": "gpu-primary", "address": "192.168.1.100", "port": 9878, "type": "gpu"},
        {"name": "rpi-1", "address": "192.168.1.101"},
    ],
}


def test_reads_nodes_and_each_node_probes_the_others() -> None:
    """Every node but the one asking is a peer; port and type default to 9878 and rpi."""
    mesh = loads(json.dumps(GOOD), "peers.json")
    assert mesh.cluster == "edge-lab"
    assert mesh.peers_of("gpu-primary") == (Peer("rpi-1", "192.168.1.101", 9878, "rpi"),)
    assert [p.name for p in mesh.peers_of("not-listed")] == ["gpu-primary", "rpi-1"]


def test_round_trips_through_its_own_writer() -> None:
    """What swarmscope writes is exactly what the exporter reads back."""
    mesh = Mesh("c", (Peer("a", "10.0.0.1", 1000, "gpu"), Peer("b", "fd00::2", 1001)))
    assert loads(dumps(mesh), "x") == mesh


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["nodes"][1].update(adress="x"), r"nodes\[1\]\.adress: unknown key"),
        (lambda d: d["nodes"][1].pop("address"), r"nodes\[1\]\.address: missing"),
        (lambda d: d["nodes"][1].update(address="10.0.0"), r"nodes\[1\]\.address: .* not an IP"),
        (lambda d: d["nodes"][1].update(port=70000), r"nodes\[1\]\.port: 70000 is not"),
        (lambda d: d["nodes"][1].update(port=True), r"nodes\[1\]\.port: True is not"),
        (lambda d: d["nodes"][1].update(name="gpu-primary"), r"nodes\[1\]\.name: duplicate"),
        (lambda d: d["nodes"][1].update(name="RPi_1"), r"nodes\[1\]\.name: 'RPi_1' must be"),
        (lambda d: d["nodes"][1].update(type="arm"), r"nodes\[1\]\.type: 'arm' is not one of"),
        (lambda d: d.update(version=2), r"version: only version 1"),
        (lambda d: d.update(nodes={}), r"nodes: expected a list"),
        (
            lambda d: d["nodes"][1].update(address="192.168.1.100", port=9878),
            r"nodes\[1\]\.address: 192.168.1.100:9878 is already node 'gpu-primary'",
        ),
    ],
)
def test_mistakes_name_the_file_and_field(change: Any, message: str) -> None:
    """A typo in the peers file is one error naming the file and the field, at start-up."""
    document = json.loads(json.dumps(GOOD))
    change(document)
    with pytest.raises(PeersFileError, match=rf"^mesh-peers\.json: {message}"):
        loads(json.dumps(document), "mesh-peers.json")


def test_garbled_json_and_missing_file_are_one_line(tmp_path: Path) -> None:
    """Not JSON, or no file at all: the error says which file and where."""
    with pytest.raises(PeersFileError, match=r"^p\.json: not valid JSON \(line 1, column 2"):
        loads("{nodes", "p.json")
    with pytest.raises(PeersFileError, match=r"nope\.json: peers file not found$"):
        read(tmp_path / "nope.json")


def test_watcher_reloads_changes_and_keeps_the_last_good_mesh(tmp_path: Path) -> None:
    """A changed file is re-read; a broken one raises once and the previous mesh stays."""
    path = tmp_path / "peers.json"
    path.write_text(json.dumps(GOOD))
    watcher = PeersWatcher(path)
    assert watcher.poll() is None  # nothing changed
    changed = json.loads(json.dumps(GOOD))
    changed["nodes"].append({"name": "rpi-2", "address": "192.168.1.102"})
    path.write_text(json.dumps(changed))
    os.utime(path, ns=(1, 1))  # a different mtime even within the clock's resolution
    reloaded = watcher.poll()
    assert reloaded is not None
    assert [n.name for n in reloaded.nodes] == ["gpu-primary", "rpi-1", "rpi-2"]
    path.write_text("{broken")
    with pytest.raises(PeersFileError, match="not valid JSON"):
        watcher.poll()
    assert watcher.poll() is None  # the broken file is reported once, not on every check
    assert watcher.mesh == reloaded
