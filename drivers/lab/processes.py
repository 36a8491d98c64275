"""Starting the lab's daemons inside a node (namespace, hostname, cgroup) and stopping them by PID.

A daemon is started as ``sh -c 'echo $$ > cgroup.procs...; exec nsenter ... -- DAEMON'``: it
joins the lab's cgroups before it runs a single instruction of its own, then enters the node's
network and UTS namespaces and becomes the daemon under the same PID, which is recorded in
the state file at once. ``start_new_session`` keeps a Ctrl-C at the terminal from reaching the
daemons directly: `lab up` decides what to clean up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from drivers.lab.state import LabState, ProcessRecord, process_start_time

# Write our own PID into every cgroup.procs given before "--", then exec the rest.
_JOIN_CGROUPS_THEN_EXEC = 'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'


def spawn(
    state: LabState,
    key: str,
    argv: Sequence[str],
    *,
    log: Path,
    netns: str | None,
    uts: Path | None = None,
    cgroup_procs: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    node: str | None = None,
) -> ProcessRecord:
    """Start ``argv`` in the node and record it in the state file under ``key``."""
    enter = ["nsenter"]
    if netns:
        enter.append(f"--net=/run/netns/{netns}")
    if uts:
        enter.append(f"--uts={uts}")
    command = ["/bin/sh", "-c", _JOIN_CGROUPS_THEN_EXEC, "sh", *cgroup_procs, "--"]
    command += [*enter, "--", *argv] if len(enter) > 1 else list(argv)
    environment = dict(os.environ)
    environment.update(env or {})
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
    start_time = None
    # /proc/PID/stat appears with the fork; read it once the child exists.
    for _ in range(100):
        start_time = process_start_time(process.pid)
        if start_time is not None or process.poll() is not None:
            break
        time.sleep(0.001)
    record = ProcessRecord(
        pid=process.pid,
        start_time=start_time or 0,
        command=Path(argv[0]).name,
        node=node,
    )
    state.record(key, record)
    return record


def _reap(pid: int) -> None:
    """Collect the exit status of our own children so they do not linger as zombies."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def signal_records(records: Iterable[ProcessRecord], signum: int) -> None:
    for record in records:
        if record.is_same_process():
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signum)


def stop(records: Sequence[ProcessRecord], timeout: float = 15.0) -> list[ProcessRecord]:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; return the ones that needed SIGKILL."""
    signal_records(records, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in records:
            _reap(record.pid)
        if not any(r.is_same_process() for r in records):
            return []
        time.sleep(0.05)
    stubborn = [r for r in records if r.is_same_process()]
    signal_records(stubborn, signal.SIGKILL)
    for record in stubborn:
        wait_gone(record.pid, 5.0)
    return stubborn


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if process_start_time(pid) is None:
            return True
        time.sleep(0.02)
    return False


def kill_pids(pids: Iterable[int], timeout: float = 5.0) -> int:
    """SIGKILL processes found in the lab's own cgroups (forked by its daemons); return how
    many were still there to kill."""
    killed = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    for pid in killed:
        wait_gone(pid, timeout)
    return len(killed)
