"""The lab's state file: what `lab up` created, written down the moment it was created.

``state.json`` in the lab's state directory is rewritten atomically after every step
(a namespace made, a process started), so `lab down` after a crash, a Ctrl-C or a kill -9 of
`lab up` knows every PID and resource. Processes are recorded with their kernel start time,
so a PID the kernel has since given to an unrelated process is never signalled.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.lab.spec import LabSpec

STATE_FILE = "state.json"
# Nodes are set up from a few threads at once; one state file write at a time.
_SAVING = threading.RLock()


@dataclass
class ProcessRecord:
    pid: int
    start_time: int  # /proc/PID/stat field 22: ticks since boot when it started
    command: str
    node: str | None = None

    def is_same_process(self) -> bool:
        """True while this PID still is the process we started (not a reused PID or a zombie)."""
        return process_start_time(self.pid) == self.start_time


@dataclass
class LabState:
    spec: LabSpec
    processes: dict[str, ProcessRecord] = field(default_factory=dict)
    phase: str = "building"  # building | ready | failed
    link: dict[str, Any] = field(default_factory=dict)
    owner_pid: int = 0  # the process that ran `lab up` (test sessions clean labs they orphan)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.spec.state_dir / STATE_FILE

    def save(self) -> None:
        # No fsync: what it protects against is a crash of this process, not of the machine
        # (after a reboot the lab's processes, namespaces and mounts are gone anyway).
        with _SAVING:
            data = {
                "spec": self.spec.to_json(),
                "phase": self.phase,
                "owner_pid": self.owner_pid,
                "processes": {key: vars(record) for key, record in self.processes.items()},
                "link": self.link,
                "timings": self.timings,
                "notes": self.notes,
                "saved_at": time.time(),
            }
            tmp = self.path.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            tmp.replace(self.path)

    def record(self, key: str, record: ProcessRecord) -> None:
        with _SAVING:
            self.processes[key] = record
            self.save()

    def forget(self, key: str) -> ProcessRecord | None:
        with _SAVING:
            record = self.processes.pop(key, None)
            self.save()
            return record

    def set_node_link(self, node: str, settings: dict[str, Any]) -> None:
        with _SAVING:
            self.link.setdefault("nodes", {})[node] = settings
            self.save()

    @classmethod
    def load(cls, state_dir: Path) -> LabState:
        data = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
        return cls(
            spec=LabSpec.from_json(data["spec"]),
            processes={
                key: ProcessRecord(**value) for key, value in data.get("processes", {}).items()
            },
            phase=data.get("phase", "building"),
            link=dict(data.get("link", {})),
            owner_pid=int(data.get("owner_pid", 0)),
            timings=dict(data.get("timings", {})),
            notes=list(data.get("notes", [])),
        )


def process_start_time(pid: int) -> int | None:
    """The start time of a live (non-zombie) process, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])
