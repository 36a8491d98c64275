"""Running host commands for the lab, and the preflight that says in one line what is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from drivers.errors import SwarmscopeError

PACKAGES_FILE = Path(__file__).with_name("debian-packages.txt")
# Commands the lab itself runs (the rest of debian-packages.txt serves tests and other parts).
LAB_COMMANDS = (
    "dockerd",
    "containerd",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-pushgateway",
    "prometheus-node-exporter",
    "sshd",
    "ssh-keygen",
    "ip",
    "iptables",
    "busybox",
    "nsenter",
    "tc",
)
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class LabError(SwarmscopeError):
    """The lab could not be built, inspected or torn down; the message says what and where."""


def which(command: str) -> str | None:
    """``shutil.which`` that also looks in sbin, which a non-root PATH often lacks."""
    found = shutil.which(command)
    if found:
        return found
    for directory in _SBIN:
        candidate = Path(directory) / command
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def package_of_commands() -> dict[str, str]:
    """command -> Debian package, from the one list ``make setup`` installs."""
    mapping: dict[str, str] = {}
    for line in PACKAGES_FILE.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[1] != "-":
            mapping[fields[1]] = fields[0]
    mapping.setdefault("tc", "iproute2")
    mapping.setdefault("umount", "mount")
    return mapping


def preflight(commands: Sequence[str] = LAB_COMMANDS) -> None:
    """Root and every command present, or one LabError line saying what is needed."""
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (network namespaces, dockerd, cgroups): run it with sudo or as root"
        )
    packages = package_of_commands()
    missing = [c for c in commands if which(c) is None]
    if missing:
        needed = sorted({packages.get(c, c) for c in missing})
        raise LabError(
            f"missing {', '.join(missing)}: install Debian packages {' '.join(needed)} "
            "(`make setup` does it)"
        )


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input_text: str | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing output; a failure is one LabError line with its stderr."""
    try:
        result = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise LabError(
            f"{argv[0]}: not installed (`make setup` installs the lab's packages)"
        ) from None
    except subprocess.TimeoutExpired:
        raise LabError(f"`{' '.join(argv)}` did not finish within {timeout:.0f}s") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit status {result.returncode}"
        raise LabError(f"`{' '.join(argv)}` failed: {last}")
    return result


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    """argv run inside a namespace with ``nsenter --net`` (not ``ip netns exec``, which
    remounts /sys and hides the cgroup mounts dockerd needs)."""
    return ["nsenter", f"--net=/run/netns/{netns}", "--", *argv]


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a daemon's log, for an error message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(empty log)"
