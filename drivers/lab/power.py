"""Power a lab node off and on, or stop and start its engine: the lab's stand-in for a plug.

A real node that loses power takes its engine, containers and exporters with it. In the lab
``off`` SIGKILLs exactly those of one node: its dockerd and everything dockerd forked, the
containerd shims in the node's daemon cgroup, every process in its container cgroup, and its
exporters. The node's sshd stays (its link is cut by the fault that calls this, so nobody
reaches it anyway) and so do fault timers: they must survive to power the node back on.
``on`` starts the engine again (it rejoins the swarm from its own state) and the exporters,
recording the new PIDs in the lab's state file so `lab down` still finds every process.
``engine-stop`` / ``engine-start`` are the seed's `systemctl stop|start docker`: SIGTERM,
so dockerd stops its containers and leaves as a stopped engine does.

Usage (run by a fault's apply/revert script, on the node or on the host)::

    python -m drivers.lab.power off|on|engine-stop|engine-start --state-dir DIR --node NAME
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from drivers.errors import SwarmscopeError
from drivers.lab import agents, cgroups, engine, processes
from drivers.lab.spec import NodeSpec
from drivers.lab.state import LabState, ProcessRecord, process_start_time

LOCK_FILE = "power.lock"
ENGINE_READY_TIMEOUT = 60.0
# Processes of a node's engine that live in its daemon cgroup but are not dockerd's children
# any more (containerd shims re-parent themselves to init).
_ENGINE_COMMANDS = ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2")
# Daemons the lab starts per node that a power cut takes down with the engine (not sshd).
_EXPORTER_KEYS = ("swarmlet-exporter", "node-exporter")
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[LabState]:
    """The lab state, read and written under a lock: two nodes powering on at once must not
    lose each other's new PIDs (the last writer would win and `lab down` miss a dockerd)."""
    with open(state_dir / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield LabState.load(state_dir)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def descendants(pid: int) -> set[int]:
    children = _children_map()
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _record(state: LabState, key: str) -> ProcessRecord | None:
    record = state.processes.get(key)
    return record if record is not None and record.is_same_process() else None


def _remove_stale_pidfile(path: Path) -> None:
    """Remove a pid file whose process is gone (or only a zombie)."""
    try:
        pid = int(path.read_text(encoding="ascii").strip() or "0")
    except (OSError, ValueError):
        return
    if pid <= 0 or process_start_time(pid) is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def engine_pids(state: LabState, node: str) -> set[int]:
    """The node's dockerd, everything it forked, and engine processes in its daemon cgroup."""
    pids: set[int] = set()
    dockerd = _record(state, f"dockerd@{node}")
    if dockerd is not None:
        pids |= {dockerd.pid, *descendants(dockerd.pid)}
    daemons = cgroups.pids_in(cgroups.daemons_path(state.spec.cgroup, node))
    pids |= {pid for pid in daemons if _comm(pid).startswith(_ENGINE_COMMANDS)}
    return pids


def power_off(state_dir: Path, node_name: str) -> int:
    """SIGKILL the node's engine, containers and exporters; return how many processes."""
    with _locked(state_dir) as state:
        state.spec.node(node_name)
        victims = engine_pids(state, node_name)
        victims |= cgroups.pids_in(cgroups.containers_path(state.spec.cgroup, node_name))
        for key in _EXPORTER_KEYS:
            record = _record(state, f"{key}@{node_name}")
            if record is not None:
                victims.add(record.pid)
        victims -= {os.getpid(), os.getppid()}
        processes.kill_pids(victims)
        return len(victims)


def engine_stop(state_dir: Path, node_name: str) -> None:
    """Stop the node's dockerd as `systemctl stop docker` would (SIGTERM, then SIGKILL)."""
    with _locked(state_dir) as state:
        state.spec.node(node_name)
        dockerd = _record(state, f"dockerd@{node_name}")
        if dockerd is not None:
            processes.stop([dockerd], timeout=20.0)
        # Its containerd normally goes with it; a leftover would hold the engine's sockets.
        leftover = engine_pids(state, node_name) - {os.getpid(), os.getppid()}
        if leftover:
            for pid in leftover:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            processes.kill_pids(p for p in leftover if process_start_time(p) is not None)


def engine_start(state_dir: Path, node_name: str) -> bool:
    """Start the node's dockerd unless it runs; wait until it answers. True if started."""
    os.environ["PATH"] = f"{os.environ.get('PATH', '/usr/bin:/bin')}:{_SBIN}"
    with _locked(state_dir) as state:
        node = state.spec.node(node_name)
        if _record(state, f"dockerd@{node_name}") is not None:
            return False
        # A killed engine leaves its socket and pid files behind. dockerd refuses to start
        # while its pid file names a live process, and a SIGKILLed dockerd can stay a zombie
        # for seconds until init reaps it.
        directory = state.spec.node_dir(node_name)
        _remove_stale_pidfile(directory / "docker.pid")
        _remove_stale_pidfile(directory / "exec" / "containerd" / "containerd.pid")
        with contextlib.suppress(FileNotFoundError):
            engine.socket_path(state.spec, node_name).unlink()
        engine.start(state, node)
    ready = engine.wait_ready(state, node, timeout=ENGINE_READY_TIMEOUT)
    ready.close()
    return True


def power_on(state_dir: Path, node_name: str) -> None:
    """Engine first, then the exporters (they are started even if the engine fails, and the
    engine's failure is raised afterwards)."""
    failure: SwarmscopeError | None = None
    try:
        engine_start(state_dir, node_name)
    except SwarmscopeError as exc:
        failure = exc
    with _locked(state_dir) as state:
        node: NodeSpec = state.spec.node(node_name)
        if "swarmlet-exporter@" + node_name in state.processes and not _record(
            state, f"swarmlet-exporter@{node_name}"
        ):
            agents.start_swarmlet_exporter(state, node)
        if "node-exporter@" + node_name in state.processes and not _record(
            state, f"node-exporter@{node_name}"
        ):
            agents.start_node_exporter(state, node)
    if failure is not None:
        raise failure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m drivers.lab.power", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=("off", "on", "engine-stop", "engine-start"))
    parser.add_argument("--state-dir", type=Path, required=True, help="the lab's state directory")
    parser.add_argument("--node", required=True, help="lab node name, e.g. rpi-3")
    args = parser.parse_args(argv)
    try:
        if args.action == "off":
            power_off(args.state_dir, args.node)
        elif args.action == "on":
            power_on(args.state_dir, args.node)
        elif args.action == "engine-stop":
            engine_stop(args.state_dir, args.node)
        else:
            engine_start(args.state_dir, args.node)
    except (SwarmscopeError, OSError, ValueError, KeyError) as exc:
        print(f"lab power {args.action} {args.node}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
