"""Memory and CPU of one cgroup, read from its files under a sysfs root, cgroup v1 or v2.

A container's cgroup is where Docker accounts for everything it runs, so this is what
``docker stats`` shows, read in microseconds instead of the second the stats API takes:

- memory: usage minus inactive file cache. cgroup v1: ``memory.usage_in_bytes`` minus
  ``total_inactive_file`` of ``memory.stat``; cgroup v2: ``memory.current`` minus
  ``inactive_file``. This is the MEM USAGE column of ``docker stats`` (the seed's plan reads
  it there): page cache the kernel can drop at once is not charged to the agent.
- CPU: v1 ``cpuacct.usage`` (nanoseconds); v2 ``usage_usec`` of ``cpu.stat``.

cgroup v1 is what Debian 11 and older Raspberry Pi OS mount (one hierarchy per controller
under /sys/fs/cgroup/<controller>); Raspberry Pi OS bookworm mounts the v2 unified hierarchy
at /sys/fs/cgroup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class CgroupUnavailable(Exception):
    """The cgroup or one of its controllers cannot be read; the message says which."""


@dataclass(frozen=True)
class Cgroup:
    """Where one process's cgroup files are: v1 has one directory per controller."""

    version: int
    memory_dir: Path | None
    cpu_dir: Path | None

    @classmethod
    def of_process(cls, sysfs: Path, membership: dict[str, str]) -> Cgroup:
        """Find the directories from the process's /proc/PID/cgroup membership."""
        root = sysfs / "fs" / "cgroup"
        if "memory" in membership or "cpuacct" in membership:
            return cls(
                version=1,
                memory_dir=_v1_dir(root, membership, "memory"),
                cpu_dir=_v1_dir(root, membership, "cpuacct"),
            )
        if "" in membership and (root / "cgroup.controllers").exists():
            directory = root / membership[""].lstrip("/")
            return cls(version=2, memory_dir=directory, cpu_dir=directory)
        raise CgroupUnavailable(
            f"no memory or cpuacct cgroup (v1) and no unified hierarchy at {root} (v2)"
        )

    def memory_bytes(self) -> float | None:
        """Memory charged to the cgroup minus inactive file cache, or None without a memory
        controller (Raspberry Pi OS needs ``cgroup_enable=memory`` on the kernel command line)."""
        if self.memory_dir is None:
            return None
        if self.version == 1:
            usage = _read_number(self.memory_dir / "memory.usage_in_bytes")
            inactive_key = "total_inactive_file"
        else:
            usage = _read_number(self.memory_dir / "memory.current")
            inactive_key = "inactive_file"
        if usage is None:
            return None
        inactive = _read_keyed(self.memory_dir / "memory.stat").get(inactive_key, 0)
        return float(max(usage - inactive, 0))

    def cpu_seconds(self) -> float | None:
        """CPU time used by every task of the cgroup since it was created."""
        if self.cpu_dir is None:
            return None
        if self.version == 1:
            nanoseconds = _read_number(self.cpu_dir / "cpuacct.usage")
            return None if nanoseconds is None else nanoseconds / 1e9
        microseconds = _read_keyed(self.cpu_dir / "cpu.stat").get("usage_usec")
        return None if microseconds is None else microseconds / 1e6


def _v1_dir(root: Path, membership: dict[str, str], controller: str) -> Path | None:
    """The v1 directory of ``controller``: its own mount, or a joint one like cpu,cpuacct."""
    if controller not in membership:
        return None
    path = membership[controller].lstrip("/")
    joint = [name for name in membership if controller in name.split(",") and "," in name]
    for mount in [controller, *joint]:
        candidate = root / mount / path
        if candidate.is_dir():
            return candidate
    raise CgroupUnavailable(f"cgroup directory {root / controller / path} does not exist")


def _read_number(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CgroupUnavailable(f"cannot read {path}: {exc}") from None


def _read_keyed(path: Path) -> dict[str, int]:
    """A ``key value`` per line file such as memory.stat or cpu.stat."""
    values: dict[str, int] = {}
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return values
    except OSError as exc:
        raise CgroupUnavailable(f"cannot read {path}: {exc}") from None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values
