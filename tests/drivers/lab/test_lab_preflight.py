"""Without root, or with a package missing, `lab up` says in one line what is needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from drivers.lab import system
from drivers.lab.system import LabError, package_of_commands, preflight


def test_every_lab_command_maps_to_a_debian_package() -> None:
    """The preflight can name the package of each command the lab runs, from the one list."""
    packages = package_of_commands()
    assert set(system.LAB_COMMANDS) <= set(packages)
    assert packages["dockerd"] == "docker.io"
    assert packages["prometheus-node-exporter"] == "prometheus-node-exporter"
    assert packages["sshd"] == "openssh-server"


@pytest.mark.root
def test_a_missing_command_names_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that is not installed is named with the Debian package that provides it."""
    monkeypatch.setattr(system, "which", lambda c: None if c == "prometheus" else f"/bin/{c}")
    with pytest.raises(LabError) as caught:
        preflight()
    message = str(caught.value)
    assert "\n" not in message
    assert "missing prometheus" in message
    assert "install Debian packages prometheus " in message
    assert "make setup" in message


@pytest.mark.root
def test_lab_up_without_root_is_one_line() -> None:
    """`swarmscope lab up` as an unprivileged user: one line saying root is needed, exit 1."""
    result = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "drivers",
            "lab",
            "up",
            "--name",
            "never",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "swarmscope: error: the lab needs root (network namespaces, dockerd, cgroups): "
        "run it with sudo or as root"
    ]
