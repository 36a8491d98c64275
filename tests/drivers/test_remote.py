"""SSH to nodes verifies host keys and names the node in every failure (real sshd on loopback)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.inventory import Node, SshSettings
from drivers.remote import RemoteError, SshNode
from tests.support.daemons import free_port
from tests.support.sshd import SshServer, sshd_on_loopback

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with sshd_on_loopback(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def _node(server: SshServer, **ssh: object) -> Node:
    settings = {
        "user": server.user,
        "port": server.port,
        "key_file": server.client_key,
        "known_hosts": server.known_hosts,
    }
    settings.update(ssh)
    return Node(
        name="rpi-1", address=server.host, role="worker", type="rpi", ssh=SshSettings(**settings)
    )  # type: ignore[arg-type]


def test_runs_commands_and_reports_exit_status(sshd: SshServer) -> None:
    """A command's output and exit status come back; check() turns failure into one line."""
    connection = SshNode(_node(sshd))
    try:
        result = connection.run(["sh", "-c", "echo hello; echo oops >&2; exit 3"])
        assert (result.exit_status, result.stdout, result.stderr) == (3, "hello\n", "oops\n")
        with pytest.raises(RemoteError, match=r"node rpi-1: `.*` exited 3: oops"):
            result.check()
        assert connection.run("echo again", check=True).stdout == "again\n"
    finally:
        connection.close()


def test_unknown_host_key_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    """A host missing from known_hosts is refused with a hint, not silently accepted."""
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(RemoteError, match=r"rpi-1 .*host key is not in .*ssh-keyscan"):
        SshNode(_node(sshd, known_hosts=empty)).run("true")
    assert empty.read_text() == ""


def test_wrong_host_key_is_refused(sshd: SshServer, tmp_path: Path) -> None:
    """A different key for the same host is a clear refusal naming the node."""
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, key = (other.with_suffix(".pub")).read_text().split()[:2]
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[{sshd.host}]:{sshd.port} {kind} {key}\n")
    with pytest.raises(RemoteError, match=r"node rpi-1 .*host key does not match"):
        SshNode(_node(sshd, known_hosts=wrong)).run("true")


def test_node_that_does_not_answer_is_named(sshd: SshServer) -> None:
    """Nothing listening is 'does not answer', with node name and address:port."""
    port = free_port()
    with pytest.raises(RemoteError, match=rf"node rpi-1 \(127.0.0.1:{port}\): does not answer"):
        SshNode(_node(sshd, port=port), connect_timeout=2).run("true")


def test_command_timeout_is_bounded(sshd: SshServer) -> None:
    """A command that hangs fails after its timeout instead of blocking the run."""
    connection = SshNode(_node(sshd))
    try:
        with pytest.raises(RemoteError, match=r"did not finish within 0\.5s"):
            connection.run("sleep 5", timeout=0.5)
    finally:
        connection.close()
