"""The lab's cgroups (v1): process tracking, and CPU/memory limits that make a node Pi-sized.

Layout, the same path in every hierarchy::

    /swarmscope-LAB/NODE/daemons      dockerd, containerd, sshd, exporters, delayer
    /swarmscope-LAB/NODE/containers   dockerd --cgroup-parent: every container; the limits
    /swarmscope-LAB/monitor           Prometheus, Alertmanager, Pushgateway

Every process the lab starts joins ``daemons``/``monitor`` in the pids, cpu and cpuacct
hierarchies before it executes, so anything it forks is found there at teardown even when
its PID was never written down. The memory hierarchy is left alone for daemons (they stay
where the caller's memory accounting put them); containers are limited there.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from drivers.lab.system import LabError

# Hierarchies a started process joins (tracking and CPU accounting).
TRACKING_CONTROLLERS = ("pids", "cpu", "cpuacct")
CFS_PERIOD_US = 100_000


def mounted_hierarchies(mountinfo: Path = Path("/proc/self/mountinfo")) -> dict[str, Path]:
    """controller name (or ``name=...``/``unified``) -> mount point, for every cgroup mount."""
    hierarchies: dict[str, Path] = {}
    for line in mountinfo.read_text(encoding="utf-8").splitlines():
        left, _, right = line.partition(" - ")
        fs_type, _source, *options = right.split()
        mount_point = Path(left.split()[4].replace("\\040", " "))
        if fs_type == "cgroup2":
            hierarchies.setdefault("unified", mount_point)
        elif fs_type == "cgroup":
            for option in options[0].split(",") if options else []:
                if option not in ("rw", "ro") and not option.startswith(
                    ("relatime", "noatime", "nosuid", "nodev", "noexec", "clone_children")
                ):
                    hierarchies.setdefault(option, mount_point)
    return hierarchies


def cgroup_mount_points() -> list[Path]:
    return sorted(set(mounted_hierarchies().values()))


def _directory(controller: str, path: str) -> Path | None:
    mount = mounted_hierarchies().get(controller)
    return mount / path.lstrip("/") if mount else None


def daemons_path(lab_root: str, node: str | None) -> str:
    return f"{lab_root}/{node}/daemons" if node else f"{lab_root}/monitor"


def containers_path(lab_root: str, node: str) -> str:
    return f"{lab_root}/{node}/containers"


def procs_files(path: str) -> list[str]:
    """The cgroup.procs files a new process writes itself into (creating the cgroups)."""
    files = []
    for controller in TRACKING_CONTROLLERS:
        directory = _directory(controller, path)
        if directory is None:
            continue
        directory.mkdir(parents=True, exist_ok=True)
        files.append(str(directory / "cgroup.procs"))
    return files


def set_limits(path: str, cpus: float | None, memory_bytes: int | None) -> None:
    """CPU quota and memory limit on a node's container parent (containers inherit them)."""
    if cpus is not None:
        directory = _directory("cpu", path)
        if directory is None:
            raise LabError("--cpus needs the cgroup v1 cpu controller, which is not mounted")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cpu.cfs_period_us").write_text(f"{CFS_PERIOD_US}\n")
        (directory / "cpu.cfs_quota_us").write_text(f"{int(cpus * CFS_PERIOD_US)}\n")
    if memory_bytes is not None:
        directory = _directory("memory", path)
        if directory is None:
            raise LabError("--memory needs the cgroup v1 memory controller, which is not mounted")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "memory.limit_in_bytes").write_text(f"{memory_bytes}\n")


def lab_directories(lab_root: str) -> list[Path]:
    """The lab's top cgroup in every mounted hierarchy where it exists."""
    found = []
    for mount in cgroup_mount_points():
        directory = mount / lab_root.lstrip("/")
        if directory.is_dir():
            found.append(directory)
    return found


def _walk_bottom_up(top: Path) -> Iterator[Path]:
    for directory, _subdirs, _files in os.walk(top, topdown=False):
        yield Path(directory)


def pids_in(lab_root: str) -> set[int]:
    """Every process in any of the lab's cgroups, in any hierarchy."""
    pids: set[int] = set()
    for top in lab_directories(lab_root):
        for directory in _walk_bottom_up(top):
            with contextlib.suppress(OSError):
                for line in (directory / "cgroup.procs").read_text().split():
                    pids.add(int(line))
    return pids


def remove(lab_root: str, timeout: float = 10.0) -> list[str]:
    """rmdir the lab's cgroups bottom-up in every hierarchy; return what could not go."""
    deadline = time.monotonic() + timeout
    left: list[str] = []
    for top in lab_directories(lab_root):
        for directory in _walk_bottom_up(top):
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    # EBUSY while the kernel finishes releasing exited tasks; retry briefly.
                    if time.monotonic() > deadline:
                        left.append(f"{directory} ({exc.strerror})")
                        break
                    time.sleep(0.05)
    return left
