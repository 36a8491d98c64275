"""`lab status`: nodes, addresses, swarm state, daemons, link, Prometheus targets, URLs, memory."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import requests

from drivers.lab import cgroups, engine, links, monitoring, profiles
from drivers.lab.network import netns_exists
from drivers.lab.spec import check_lab_name, control_netns, state_dir_for
from drivers.lab.state import STATE_FILE, LabState
from drivers.lab.system import LabError

DAEMONS = ("dockerd", "sshd", "node-exporter", "swarmlet-exporter", "delayer")


@dataclass
class NodeStatus:
    name: str
    address: str
    role: str
    type: str
    hardware: str
    limits: str
    swarm: str  # ready | down | unknown | ... (the manager's view)
    availability: str
    daemons: dict[str, bool]
    link: str


@dataclass
class LabStatus:
    name: str
    phase: str
    state_dir: Path
    inventory: Path
    subnet: str
    urls: dict[str, str]
    nodes: list[NodeStatus]
    targets: list[dict[str, str]]
    link: dict[str, Any]
    pss_bytes: int
    notes: list[str] = field(default_factory=list)

    @property
    def all_ready(self) -> bool:
        return all(n.swarm == "ready" for n in self.nodes)

    @property
    def targets_down(self) -> list[dict[str, str]]:
        return [t for t in self.targets if t["health"] != "up"]


def load_state(name: str, state_root: Path | None = None) -> LabState:
    """The state of an existing lab, or a LabError saying there is none."""
    check_lab_name(name)
    state_dir = state_dir_for(name, state_root)
    if not (state_dir / STATE_FILE).exists():
        if state_dir.exists() or netns_exists(control_netns(name)):
            raise LabError(
                f"lab {name!r} has no state file {state_dir / STATE_FILE} (a `lab up` that "
                f"was killed?): `swarmscope lab down --name {name}` removes what is left"
            )
        raise LabError(f"no lab named {name!r} (nothing in {state_dir}): `swarmscope lab up`")
    try:
        return LabState.load(state_dir)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabError(
            f"{state_dir / STATE_FILE}: unreadable ({exc}); `swarmscope lab down --name {name}` "
            "still removes the lab"
        ) from None


def pss_bytes(pids: set[int]) -> int:
    """Proportional set size of these processes: shared pages split between their users."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


def lab_pids(state: LabState) -> set[int]:
    pids = cgroups.pids_in(state.spec.cgroup)
    pids |= {r.pid for r in state.processes.values() if r.is_same_process()}
    return pids


def _swarm_view(state: LabState) -> dict[str, dict[str, Any]]:
    spec = state.spec
    try:
        manager = engine.client(spec, spec.manager.name, timeout=5)
    except docker.errors.DockerException:
        return {}
    try:
        return engine.swarm_nodes(manager)
    except (docker.errors.DockerException, requests.RequestException):
        return {}
    finally:
        manager.close()


def _limits(cpus: float | None, memory_bytes: int | None) -> str:
    parts = []
    if cpus is not None:
        parts.append(f"{cpus:g} CPU")
    if memory_bytes is not None:
        parts.append(f"{memory_bytes / 2**20:.0f} MiB")
    return ", ".join(parts) or "-"


def _link_text(profile: str, settings: profiles.LinkSettings | None) -> str:
    if settings is None:
        return "wired, not shaped"
    parts = [f"{profile}:"]
    if settings.download_mbit is not None:
        parts.append(f"{settings.download_mbit:g}/{settings.upload_mbit or 0:g} Mbit/s")
    if settings.delayed:
        parts.append(f"+{settings.delay_ms:g}±{settings.jitter_ms:g} ms")
    if settings.loss_percent:
        parts.append(f"{settings.loss_percent:g}% loss")
    if len(parts) == 1:
        parts.append("unshaped")
    return " ".join(parts[:2]) + "".join(f", {p}" for p in parts[2:])


def status(name: str, state_root: Path | None = None) -> LabStatus:
    state = load_state(name, state_root)
    spec = state.spec
    swarm = _swarm_view(state)
    nodes = []
    for node in spec.nodes:
        entry = swarm.get(node.name, {})
        daemons = {}
        for daemon in DAEMONS:
            record = state.processes.get(f"{daemon}@{node.name}")
            if record is not None:
                daemons[daemon] = record.is_same_process()
        nodes.append(
            NodeStatus(
                name=node.name,
                address=node.address,
                role=node.role,
                type=node.type,
                hardware=node.hardware,
                limits=_limits(node.cpus, node.memory_bytes),
                swarm=entry.get("Status", {}).get("State", "unknown"),
                availability=entry.get("Spec", {}).get("Availability", "-"),
                daemons=daemons,
                link=_link_text(
                    links.profile_of(state, node.name), links.current(state, node.name)
                ),
            )
        )
    try:
        targets = monitoring.target_health(spec)
    except (requests.RequestException, KeyError, ValueError):
        targets = []
    return LabStatus(
        name=spec.name,
        phase=state.phase,
        state_dir=spec.state_dir,
        inventory=spec.inventory_path,
        subnet=spec.subnet,
        urls=monitoring.urls(spec),
        nodes=nodes,
        targets=targets,
        link=links.summary(state),
        pss_bytes=pss_bytes(lab_pids(state)),
        notes=list(state.notes),
    )


def format_status(lab: LabStatus) -> str:
    lines = [
        f"lab {lab.name}: {lab.phase}, {len(lab.nodes)} nodes on {lab.subnet}",
        f"inventory: {lab.inventory}",
        "",
        f"{'NODE':<12} {'ADDRESS':<15} {'ROLE':<8} {'TYPE':<4} {'HARDWARE':<10} "
        f"{'SWARM':<8} {'DAEMONS':<24} {'LIMITS':<14} LINK",
    ]
    for node in lab.nodes:
        up = [d for d, ok in node.daemons.items() if ok]
        dead = [d for d, ok in node.daemons.items() if not ok]
        daemons = f"{len(up)}/{len(node.daemons)} running" + (
            f" (down: {','.join(dead)})" if dead else ""
        )
        lines.append(
            f"{node.name:<12} {node.address:<15} {node.role:<8} {node.type:<4} "
            f"{node.hardware:<10} {node.swarm:<8} {daemons:<24} {node.limits:<14} {node.link}"
        )
    link = lab.link
    lines += ["", f"link profile: {link['profile']}; mechanism: {link['mechanism']}"]
    if link.get("description"):
        lines.append(f"  ({link['description']})")
    if "delayer" in link:
        lines.append(f"  delayer: {link['delayer']}")
    by_job: dict[str, list[dict[str, str]]] = {}
    for target in lab.targets:
        by_job.setdefault(target["job"], []).append(target)
    lines.append("")
    if not lab.targets:
        lines.append("prometheus targets: Prometheus does not answer")
    for job, targets in sorted(by_job.items()):
        up_count = sum(t["health"] == "up" for t in targets)
        down = [t["node"] or t["url"] for t in targets if t["health"] != "up"]
        suffix = f"  down: {', '.join(down)}" if down else ""
        lines.append(f"prometheus target {job:<12} {up_count}/{len(targets)} up{suffix}")
    lines.append("")
    for service, url in lab.urls.items():
        lines.append(f"{service:<13} {url}")
    lines.append(f"memory (PSS of every lab process): {lab.pss_bytes / 2**20:.0f} MiB")
    lines += [f"note: {note}" for note in lab.notes]
    return "\n".join(lines)
