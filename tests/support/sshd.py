"""A real OpenSSH server on loopback with its own host key and a key-only login, for tests."""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.daemons import free_port, require_binary, running


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    host_public_key: str


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@contextlib.contextmanager
def sshd_on_loopback(directory: Path) -> Iterator[SshServer]:
    sshd = require_binary("/usr/sbin/sshd")
    if os.geteuid() != 0:
        pytest.skip("a private sshd with key login for the current user needs root here")
    directory.mkdir(parents=True, exist_ok=True)
    host_key, client_key = directory / "host_key", directory / "client_key"
    _keygen(host_key)
    _keygen(client_key)
    authorized = directory / "authorized_keys"
    authorized.write_text((directory / "client_key.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",
                f"PidFile {directory / 'sshd.pid'}",
                "LogLevel ERROR",
            ]
        )
        + "\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    host_public = (directory / "host_key.pub").read_text().split()
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public[0]} {host_public[1]}\n")
    argv = [sshd, "-D", "-e", "-f", str(config)]
    with running(argv, "127.0.0.1", port, directory / "sshd.log"):
        yield SshServer(
            "127.0.0.1",
            port,
            getpass.getuser(),
            client_key,
            known_hosts,
            f"{host_public[0]} {host_public[1]}",
        )
