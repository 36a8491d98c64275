"""A private "host" for lab lifecycle tests, and snapshots of it to compare before/after exactly.

Other engineers and test sessions build labs, namespaces and containers on this machine at
the same time, so the real host's namespaces, links and mounts change under a test for
reasons of their own. A ``Sandbox`` is a fresh network namespace plus a private mount
namespace (with its own /run/netns) standing in for the host: `lab up`/`lab down` run in it
exactly as on a host, nothing else touches it, and its snapshot can be compared exactly.
Cgroups are machine-wide: those are checked by the lab's own cgroup names.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from drivers.lab import cgroups
from drivers.lab.state import LabState, process_start_time


@dataclass(frozen=True)
class Sandbox:
    holder: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.holder.pid

    def argv(self, argv: Sequence[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "--net", "--mount", "--", *argv]

    def run(self, argv: Sequence[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(argv), capture_output=True, text=True, timeout=timeout, check=False
        )


@contextlib.contextmanager
def sandbox() -> Iterator[Sandbox]:
    """A network + mount namespace held by a sleeping process, ended by its PID."""
    holder = subprocess.Popen(
        ["unshare", "--net", "--mount", "--propagation", "private", "--", "sleep", "infinity"]
    )
    try:
        own = os.readlink("/proc/self/ns/net")
        for _ in range(200):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{holder.pid}/ns/net") != own:
                    break
            time.sleep(0.01)
        box = Sandbox(holder)
        for command in (
            ["ip", "link", "set", "lo", "up"],
            ["mkdir", "-p", "/run/netns"],
            ["mount", "-t", "tmpfs", "swarmscope-test-netns", "/run/netns"],
        ):
            subprocess.run(box.argv(command), check=True)
        yield box
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def _lines(box: Sandbox, argv: list[str]) -> frozenset[str]:
    result = box.run(argv, timeout=30)
    return frozenset(line for line in result.stdout.splitlines() if line.strip())


def _firewall(box: Sandbox, command: str) -> frozenset[str]:
    # Chain and rule counters change with traffic; the rules themselves must not.
    return frozenset(
        re.sub(r"\[\d+:\d+\]", "", line)
        for line in _lines(box, [command])
        if not line.startswith("#")
    )


def lab_cgroups(lab_root: str) -> frozenset[str]:
    found: set[str] = set()
    for top in cgroups.lab_directories(lab_root):
        found.update(str(directory) for directory, _dirs, _files in os.walk(top))
    return frozenset(found)


def lab_processes(state: LabState) -> frozenset[tuple[int, int]]:
    """Every process of a running lab as (PID, start time), so a reused PID is not mistaken."""
    pids = cgroups.pids_in(state.spec.cgroup) | {r.pid for r in state.processes.values()}
    return frozenset((pid, start) for pid in pids if (start := process_start_time(pid)) is not None)


def still_running(processes: frozenset[tuple[int, int]]) -> list[str]:
    """Those of ``processes`` that still run (not zombies), with their command line."""
    running = []
    for pid, start in processes:
        if process_start_time(pid) == start:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            running.append(f"{pid}: {command.decode(errors='replace')[:120]}")
    return running


@dataclass(frozen=True)
class HostState:
    netns: frozenset[str]
    links: frozenset[str]
    addresses: frozenset[str]
    routes: frozenset[str]
    mounts: frozenset[str]
    iptables: frozenset[str]
    ip6tables: frozenset[str]
    cgroups: frozenset[str]  # the lab's own, in every hierarchy

    def differences(self, other: HostState) -> list[str]:
        problems = []
        for item in fields(self):
            before, after = getattr(self, item.name), getattr(other, item.name)
            if item.name == "mounts":
                # The sandbox started with a copy of the host's mounts; when other labs on the
                # machine remove theirs, the kernel detaches the copies too (unlink of a mount
                # point). So only what is new counts: a lab's mounts are all new.
                if after - before:
                    problems.append(f"mounts: left behind {sorted(after - before)}")
                continue
            if before != after:
                problems.append(
                    f"{item.name}: left behind {sorted(after - before)}, "
                    f"removed {sorted(before - after)}"
                )
        return problems


def snapshot(box: Sandbox, lab_root: str) -> HostState:
    """Everything a lab could change in the sandbox host, and the lab's cgroups."""
    mountinfo = Path(f"/proc/{box.pid}/mountinfo").read_text()
    return HostState(
        netns=_lines(box, ["ls", "-1", "/run/netns"]),
        links=frozenset(l.split(":")[1].strip() for l in _lines(box, ["ip", "-o", "link"])),  # noqa: E741
        addresses=_lines(box, ["ip", "-o", "addr"]),
        routes=_lines(box, ["ip", "route", "show", "table", "all"]),
        mounts=frozenset(line.split()[4] for line in mountinfo.splitlines()),
        iptables=_firewall(box, "iptables-save"),
        ip6tables=_firewall(box, "ip6tables-save"),
        cgroups=lab_cgroups(lab_root),
    )
