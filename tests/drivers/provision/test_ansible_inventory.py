"""The Ansible inventory comes from swarmscope's: same nodes and SSH settings, keys verified."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from drivers.cli import main
from drivers.inventory import load_inventory
from drivers.provision.ansible_inventory import render
from drivers.thresholds import REPO_ROOT
from tests.ansible.runner import ANSIBLE_DIR, VENV_BIN, ansible_env

EXAMPLE = REPO_ROOT / "benchmarks" / "configs" / "cluster.example.yaml"
ANSIBLE_EXAMPLE = ANSIBLE_DIR / "inventory.example.yml"
# Set per machine (the key and known_hosts paths are resolved where the command runs).
PATH_VARIABLES = {"ansible_ssh_private_key_file", "ansible_ssh_common_args"}


def ansible_inventory_list(path: Path, work: Path) -> dict[str, Any]:
    """What Ansible itself reads from an inventory file (`ansible-inventory --list`)."""
    tool = VENV_BIN / "ansible-inventory"
    if not tool.exists():
        pytest.skip("ansible-inventory is not in .venv (make setup installs it)")
    result = subprocess.run(
        [str(tool), "-i", str(path), "--list"],
        env=ansible_env(work),
        capture_output=True,
        text=True,
        check=True,
    )
    listing: dict[str, Any] = json.loads(result.stdout)
    return listing


def _generated(tmp_path: Path, source: Path = EXAMPLE) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(render(load_inventory(source)))
    return path


def _groups(listing: dict[str, Any]) -> dict[str, list[str]]:
    return {
        name: sorted(group.get("hosts", []))
        for name, group in listing.items()
        if name not in ("_meta", "all", "ungrouped")
    }


def test_every_node_becomes_a_host_with_its_address_user_and_port(tmp_path: Path) -> None:
    """Ansible reads each node's address, SSH user, port and key from the generated file."""
    listing = ansible_inventory_list(_generated(tmp_path), tmp_path)
    hostvars = listing["_meta"]["hostvars"]
    inventory = load_inventory(EXAMPLE)
    assert sorted(hostvars) == sorted(n.name for n in inventory.nodes)
    for node in inventory.nodes:
        host = hostvars[node.name]
        assert host["ansible_host"] == node.address
        assert host["ansible_user"] == node.ssh.user
        assert host["ansible_port"] == node.ssh.port
        assert host["ansible_ssh_private_key_file"] == str(node.ssh.key_file)
        assert host["swarmscope_exporter_port"] == node.exporter_port
        assert host["swarmscope_node_exporter_port"] == node.node_exporter_port
        assert host["swarmscope_mesh_port"] == node.mesh_port
        assert host["swarmscope_node_type"] == node.type
    assert hostvars["rpi-1"]["swarmscope_cluster"] == "edge-lab"


def test_groups_say_what_each_node_is(tmp_path: Path) -> None:
    """control holds the manager, pis the Raspberry Pis, gpus the GPU nodes, workers the rest."""
    groups = _groups(ansible_inventory_list(_generated(tmp_path), tmp_path))
    pis = [f"rpi-{i}" for i in range(1, 6)]
    assert groups == {
        "control": ["gpu-primary"],
        "workers": pis,
        "pis": pis,
        "gpus": ["gpu-primary"],
    }


def test_host_keys_are_checked_against_the_inventorys_known_hosts(tmp_path: Path) -> None:
    """ssh gets the inventory's known_hosts and StrictHostKeyChecking=yes: no blind accept."""
    listing = ansible_inventory_list(_generated(tmp_path), tmp_path)
    args = shlex.split(listing["_meta"]["hostvars"]["rpi-1"]["ansible_ssh_common_args"])
    known_hosts = (EXAMPLE.parent / "known_hosts").resolve()
    assert args == [
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
    ]


def test_paths_with_spaces_survive_ansibles_argument_splitting(tmp_path: Path) -> None:
    """A known_hosts path with a space reaches ssh as one argument."""
    directory = tmp_path / "my cluster"
    directory.mkdir()
    source = directory / "cluster.yaml"
    source.write_text(EXAMPLE.read_text())
    listing = ansible_inventory_list(_generated(tmp_path, source), tmp_path)
    args = shlex.split(listing["_meta"]["hostvars"]["rpi-2"]["ansible_ssh_common_args"])
    assert args[1] == f"UserKnownHostsFile={directory / 'known_hosts'}"


def test_without_known_hosts_unknown_hosts_are_still_refused(tmp_path: Path) -> None:
    """No known_hosts in the inventory: ssh's own files are used, still with strict checking."""
    source = tmp_path / "cluster.yaml"
    source.write_text(EXAMPLE.read_text().replace("  known_hosts: known_hosts", ""))
    listing = ansible_inventory_list(_generated(tmp_path, source), tmp_path)
    hostvars = listing["_meta"]["hostvars"]["rpi-1"]
    assert hostvars["ansible_ssh_common_args"] == "-o StrictHostKeyChecking=yes"


def test_root_logins_do_not_escalate_and_pi_logins_do(tmp_path: Path) -> None:
    """Logged in as root there is no sudo step; as pi the playbook's become applies."""
    hostvars = ansible_inventory_list(_generated(tmp_path), tmp_path)["_meta"]["hostvars"]
    assert hostvars["gpu-primary"]["ansible_become"] is False
    assert "ansible_become" not in hostvars["rpi-1"]


def test_shipped_example_says_what_the_generator_says(tmp_path: Path) -> None:
    """ansible/inventory.example.yml and the generator's output for cluster.example.yaml agree.

    Paths aside (the example writes them for any machine), Ansible reads the same hosts,
    groups and variables from both, so the example cannot drift from the swarmscope one.
    """
    generated = ansible_inventory_list(_generated(tmp_path), tmp_path)
    shipped = ansible_inventory_list(ANSIBLE_EXAMPLE, tmp_path)
    assert _groups(shipped) == _groups(generated)

    def without_paths(listing: dict[str, Any]) -> dict[str, Any]:
        return {
            host: {k: v for k, v in variables.items() if k not in PATH_VARIABLES}
            for host, variables in listing["_meta"]["hostvars"].items()
        }

    assert without_paths(shipped) == without_paths(generated)
    for variables in shipped["_meta"]["hostvars"].values():
        assert "-o StrictHostKeyChecking=yes" in variables["ansible_ssh_common_args"]
        assert "UserKnownHostsFile=" in variables["ansible_ssh_common_args"]


def test_command_prints_the_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    """`swarmscope ansible-inventory --inventory F` prints what render() gives, exit 0."""
    assert main(["ansible-inventory", "--inventory", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == render(load_inventory(EXAMPLE))


def test_command_writes_the_file_atomically(tmp_path: Path) -> None:
    """--output writes the whole file (through a temporary file and a rename)."""
    out = tmp_path / "hosts.yml"
    assert main(["ansible-inventory", "--inventory", str(EXAMPLE), "--output", str(out)]) == 0
    assert out.read_text() == render(load_inventory(EXAMPLE))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts.yml"]


def test_bad_inventory_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in the swarmscope inventory is named on one line; nothing is printed to stdout."""
    source = tmp_path / "cluster.yaml"
    source.write_text(EXAMPLE.read_text().replace("address: 192.168.1.103", "adress: 1.2.3.4"))
    assert main(["ansible-inventory", "--inventory", str(source)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines() == [
        f"swarmscope: error: {source}: nodes[3].adress: unknown key "
        "(expected one of: address, docker_host, exporter_port, gpus, hardware, labels, "
        "mesh_port, name, node_exporter_port, role, ssh, type)"
    ]


def test_unwritable_output_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output path in a missing directory is named on one line, no traceback."""
    out = tmp_path / "missing" / "hosts.yml"
    code = main(["ansible-inventory", "--inventory", str(EXAMPLE), "-o", str(out)])
    assert code == 2
    assert capsys.readouterr().err.startswith(f"swarmscope: error: {out}: cannot write: ")
