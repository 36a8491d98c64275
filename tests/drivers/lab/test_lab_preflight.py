"""Without root, or with a package missing, `lab up` says in one line what is needed."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.cli import main
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


def _checkout_open_to_others() -> bool:
    """Whether an unprivileged user can reach this checkout and its virtual environment
    (`mktemp -d` makes 0700 directories; CI's checkout may be one)."""
    path = Path(sys.executable).parent
    while path != path.parent:
        if not path.stat().st_mode & stat.S_IXOTH:
            return False
        path = path.parent
    return True


@pytest.mark.root
def test_lab_up_without_root_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`swarmscope lab up` as an unprivileged user: one line saying root is needed, exit 1.
    Run as user nobody where the checkout lets it in, else in-process with the euid faked."""
    expected = [
        "swarmscope: error: the lab needs root (network namespaces, dockerd, cgroups): "
        "run it with sudo or as root"
    ]
    if not _checkout_open_to_others():
        monkeypatch.setattr(system.os, "geteuid", lambda: 65534)
        assert main(["lab", "up", "--name", "never"]) == 1
        assert capsys.readouterr().err.strip().splitlines() == expected
        return
    result = subprocess.run(
        [
            *("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"),
            *(sys.executable, "-m", "drivers", "lab", "up", "--name", "never"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == expected
