"""Read what the exporter needs about one process from a procfs tree (normally /proc).

Every function takes the procfs root as its first argument so tests can point it at a
fixture tree written in the kernel's exact formats.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# USER_HZ: the unit of utime/stime/starttime in /proc/PID/stat (100 on every Linux port).
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# /proc/PID/comm holds at most 15 characters of the executable's name.
COMM_LENGTH = 15


@dataclass(frozen=True)
class ProcessStat:
    """The fields of /proc/PID/stat the exporter uses."""

    pid: int
    comm: str
    utime_ticks: int
    stime_ticks: int
    # Ticks after boot when the process started: with the PID, identifies one run.
    start_ticks: int

    @property
    def cpu_seconds(self) -> float:
        return (self.utime_ticks + self.stime_ticks) / CLOCK_TICKS_PER_SECOND


def read_stat(procfs: Path, pid: int) -> ProcessStat | None:
    """The process's stat line, or None when no such process exists (any more).

    The command name sits in parentheses and may itself contain spaces and ')', so the
    fields are counted from the last ')'.
    """
    try:
        text = (procfs / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    head, sep, tail = text.rpartition(")")
    fields = tail.split()
    if not sep or len(fields) < 20:
        raise ValueError(f"{procfs}/{pid}/stat: unexpected format {text[:80]!r}")
    # fields[0] is field 3 of proc(5) (state); field N is fields[N - 3].
    return ProcessStat(
        pid=pid,
        comm=head.partition("(")[2],
        utime_ticks=int(fields[11]),
        stime_ticks=int(fields[12]),
        start_ticks=int(fields[19]),
    )


def read_resident_bytes(procfs: Path, pid: int) -> int | None:
    """VmRSS of the process in bytes; None for a process without memory (a zombie)."""
    with open(procfs / str(pid) / "status", encoding="utf-8", errors="replace") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                kilobytes = line.split()[1]
                return int(kilobytes) * 1024
    return None


def read_network_bytes(procfs: Path, pid: int) -> tuple[int, int]:
    """Bytes received and transmitted on every interface but loopback of the process's
    network namespace, from /proc/PID/net/dev."""
    received = transmitted = 0
    with open(procfs / str(pid) / "net" / "dev", encoding="utf-8") as dev:
        for line in dev:
            name, sep, counters = line.partition(":")
            if not sep or name.strip() in ("lo", "") or "|" in name:
                continue
            columns = counters.split()
            received += int(columns[0])
            transmitted += int(columns[8])
    return received, transmitted


def network_namespace(procfs: Path, pid: int) -> str | None:
    """The namespace link text (``net:[4026531840]``) or None when it cannot be read."""
    try:
        return os.readlink(procfs / str(pid) / "ns" / "net")
    except OSError:
        return None


def boot_time(procfs: Path) -> float:
    """Seconds since the epoch when the machine booted (btime in /proc/stat)."""
    with open(procfs / "stat", encoding="utf-8") as stat:
        for line in stat:
            if line.startswith("btime "):
                return float(line.split()[1])
    raise ValueError(f"{procfs}/stat has no btime line")


def find_pids_by_name(procfs: Path, name: str) -> list[int]:
    """PIDs whose command name (comm, or the basename of argv[0]) is ``name``."""
    pids: list[int] = []
    short = name[:COMM_LENGTH]
    for entry in os.scandir(procfs):
        if not entry.name.isdigit():
            continue
        try:
            comm = Path(entry.path, "comm").read_text(encoding="utf-8", errors="replace")
            if comm.rstrip("\n") != short:
                continue
            if len(name) > COMM_LENGTH:
                # comm is truncated: confirm with the full argv[0].
                argv0 = Path(entry.path, "cmdline").read_bytes().split(b"\0", 1)[0]
                if os.path.basename(argv0.decode(errors="replace")) != name:
                    continue
        except OSError:
            continue  # the process ended while we looked
        pids.append(int(entry.name))
    return pids


def read_pidfile(path: Path) -> int:
    """The PID written in a pid file; ValueError names the file when it holds no PID."""
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"{path} does not hold a process id (found {text[:40]!r})")
    return int(text)


def read_cgroup_membership(procfs: Path, pid: int) -> dict[str, str]:
    """Controller name -> cgroup path from /proc/PID/cgroup.

    cgroup v1 lines look like ``4:memory:/docker/ID`` or ``3:cpu,cpuacct:/docker/ID``; the
    single v2 line is ``0::/system.slice/docker-ID.scope`` and is returned under the key "".
    A v1 line naming several controllers is returned once per controller and once under the
    joint name (``cpu,cpuacct``), which is how that hierarchy's directory is called.
    """
    membership: dict[str, str] = {}
    with open(procfs / str(pid) / "cgroup", encoding="utf-8") as cgroup:
        for line in cgroup:
            parts = line.rstrip("\n").split(":", 2)
            if len(parts) != 3:
                continue
            _, controllers, path = parts
            membership[controllers] = path
            for controller in controllers.split(","):
                membership.setdefault(controller, path)
    return membership
