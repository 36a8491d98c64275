"""Ansible reaches nodes through the generated inventory and never accepts an unknown host key.

A real sshd on loopback with its own host key; ansible-playbook connects with the inventory
``swarmscope ansible-inventory`` writes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.inventory import load_inventory
from drivers.provision.ansible_inventory import render
from tests.ansible.runner import PlaybookRun, run_playbook, stop_ssh_masters
from tests.support.sshd import SshServer, sshd_on_loopback

pytestmark = pytest.mark.root
PING = Path(__file__).parent / "playbooks" / "ping.yml"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with sshd_on_loopback(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def _reach(server: SshServer, known_hosts: Path, work: Path) -> PlaybookRun:
    source = work / "cluster.yaml"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(
        "version: 1\n"
        "cluster: {name: loop, backend: dockerswarm, prometheus_url: 'http://127.0.0.1:9090',"
        " pushgateway_url: 'http://127.0.0.1:9091'}\n"
        f"ssh: {{user: {server.user}, port: {server.port}, key_file: '{server.client_key}',"
        f" known_hosts: '{known_hosts}'}}\n"
        "nodes:\n"
        "  - {name: rpi-1, address: 127.0.0.1, role: manager, type: rpi}\n"
    )
    hosts = work / "hosts.yml"
    hosts.write_text(render(load_inventory(source)))
    try:
        return run_playbook(PING, hosts, work / "ansible", timeout=120)
    finally:
        stop_ssh_masters(work / "ansible")


def test_known_host_key_connects(sshd: SshServer, tmp_path: Path) -> None:
    """With the node's key in known_hosts, the play runs a command on the node."""
    run = _reach(sshd, sshd.known_hosts, tmp_path)
    assert run.returncode == 0, run.tail()
    assert run.recap["rpi-1"].ok == 1


def test_wrong_host_key_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    """Another key recorded for the node: ssh refuses, the host is unreachable."""
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    key_type, key = (tmp_path / "other_key.pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key}\n")
    run = _reach(sshd, known_hosts, tmp_path / "run")
    assert run.returncode != 0
    assert run.recap["rpi-1"].unreachable == 1
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in run.output


def test_unknown_host_is_refused_and_not_recorded(sshd: SshServer, tmp_path: Path) -> None:
    """A node missing from known_hosts is not trusted on first use; the file stays empty."""
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    run = _reach(sshd, known_hosts, tmp_path / "run")
    assert run.recap["rpi-1"].unreachable == 1
    assert "Host key verification failed" in run.output
    assert known_hosts.read_text() == ""
