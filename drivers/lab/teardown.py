"""`lab down`: remove everything a lab made and leave the host as it was found.

Works from the state file when there is one and, whatever it says, also finds the lab's
resources by the names drivers.lab.spec derives from the lab's name: processes (recorded
PIDs, then anything left in the lab's cgroups), mounts under the state directory, the
namespaces ``swarmscope.LAB[.NODE]``, the host link, the cgroups. So it cleans up after a
half-finished `lab up`, a killed one, or a second `lab down` (which then finds nothing).
Firewall rules need no step of their own: the lab only ever adds rules inside its own
namespaces (dockerd's and the link emulation's), and they vanish with them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from drivers.lab import cgroups, network, processes
from drivers.lab.spec import (
    cgroup_root,
    check_lab_name,
    control_netns,
    host_link_name,
    state_dir_for,
)
from drivers.lab.state import STATE_FILE, LabState
from drivers.lab.system import LabError, run

Say = Callable[[str], None]


@dataclass
class DownReport:
    name: str
    found: bool = False
    stopped: int = 0
    killed: int = 0
    unmounted: int = 0
    namespaces: int = 0
    cgroups_removed: bool = False
    seconds: float = 0.0
    left: list[str] = field(default_factory=list)


def mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below ``directory``, deepest first."""
    prefix = str(directory).rstrip("/")
    found = []
    for line in Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def _unmount_all(directory: Path) -> int:
    count = 0
    for _round in range(5):
        points = mounts_under(directory)
        if not points:
            break
        for point in points:
            if run(["umount", str(point)], check=False).returncode != 0:
                run(["umount", "-l", str(point)], check=False)
            count += 1
    return count


def _stop_processes(state: LabState | None, lab_cgroup: str, report: DownReport, say: Say) -> None:
    # The recorded ones gracefully first (dockerd stops its containers and unmounts) ...
    if state is not None:
        live = [r for r in state.processes.values() if r.is_same_process()]
        report.stopped = len(live)
        if live:
            say(f"stopping {len(live)} processes")
            report.killed += len(processes.stop(live, timeout=20.0))
    # ... then whatever is still in the lab's cgroups: forked by its daemons, or never recorded.
    for _round in range(5):
        # Never ourselves: `lab down` may run in an SSH session on a lab node.
        leftover = cgroups.pids_in(lab_cgroup) - {os.getpid(), os.getppid()}
        if not leftover:
            break
        report.killed += processes.kill_pids(leftover)


def down(name: str, state_root: Path | None = None, say: Say | None = None) -> DownReport:
    """Tear the lab down; raise LabError naming anything that could not be removed."""
    say = say or (lambda _message: None)
    started = time.monotonic()
    check_lab_name(name)
    state_dir = state_dir_for(name, state_root)
    report = DownReport(name=name)
    state: LabState | None = None
    if (state_dir / STATE_FILE).exists():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            state = LabState.load(state_dir)
        report.found = True
    lab_cgroup = cgroup_root(name)
    control = control_netns(name)
    host_link = host_link_name(name)
    report.found |= (
        state_dir.exists()
        or bool(network.netns_matching(control))
        or network.link_exists(host_link)
        or bool(cgroups.lab_directories(lab_cgroup))
    )
    if not report.found:
        say(f"lab {name}: nothing to remove")
        report.seconds = time.monotonic() - started
        return report

    _stop_processes(state, lab_cgroup, report, say)
    # Mounts: dockerd's (overlay, netns files) if it was killed, the UTS namespace files.
    if state_dir.exists():
        report.unmounted = _unmount_all(state_dir)
    # Namespaces (with them every veth, ifb and iptables rule inside), then the host link.
    names = network.netns_matching(control)
    for ns in names:
        network.delete_netns(ns)
    left_ns = network.wait_netns_gone(names)
    report.namespaces = len(names) - len(left_ns)
    report.left += [f"network namespace {ns}" for ns in left_ns]
    if not network.delete_host_link(host_link):
        report.left.append(f"host link {host_link}")
    # Cgroups, in every hierarchy.
    report.left += [f"cgroup {c}" for c in cgroups.remove(lab_cgroup)]
    report.cgroups_removed = not cgroups.lab_directories(lab_cgroup)
    # The state directory, unless a mount is still inside it (never rm across a mount).
    still_mounted = mounts_under(state_dir) if state_dir.exists() else []
    report.left += [f"mount {m}" for m in still_mounted]
    if state_dir.exists() and not still_mounted:
        shutil.rmtree(state_dir, ignore_errors=True)
        if state_dir.exists():
            report.left.append(f"directory {state_dir}")
    report.seconds = time.monotonic() - started
    if report.left:
        raise LabError(f"lab {name}: could not remove: {'; '.join(report.left)}")
    say(
        f"lab {name} removed in {report.seconds:.1f}s: {report.stopped} processes stopped, "
        f"{report.killed} killed, {report.namespaces} namespaces, {report.unmounted} mounts"
    )
    return report
