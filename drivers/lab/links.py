"""Link emulation for lab nodes: the rate, delay, jitter and loss of a Pi's real link.

Everything happens inside the node's own namespace (its eth0), never on the host:

- rate: ``tbf`` on eth0 for upload; download through an ``ifb`` device that eth0's ingress
  is redirected to, with its own ``tbf``;
- loss: ``iptables -m statistic --mode random`` DROP on eth0, in each direction;
- delay and jitter: ``netem`` on the ifb when the kernel has it; otherwise (kernels built
  without sch_netem, like these CI machines) NFQUEUE on the node's INPUT chain with
  ``--queue-bypass`` and drivers.lab.delayer holding each packet.

Delay is applied once, on packets entering the node, and stands for the whole round trip
the link adds: ping between a wired host and the node reads about ``delay_ms`` more; between
two shaped nodes about the sum of both delays (two radio hops, as with two Pis on Wi-Fi).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from drivers.errors import ConfigError
from drivers.lab import cgroups, delayer
from drivers.lab.delayer import DelayParams
from drivers.lab.processes import spawn, stop
from drivers.lab.spec import LabSpec, NodeSpec
from drivers.lab.state import LabState, process_start_time
from drivers.lab.system import LabError, in_netns, run, tail

CHAIN_IN = "SWARMSCOPE-LINK-IN"
CHAIN_OUT = "SWARMSCOPE-LINK-OUT"
IFB = "ifb-eth0"
NFQUEUE_NUM = 0
QUEUE_LATENCY_MS = 100  # how long tbf may queue before dropping (the link's buffer)

MECHANISM_NETEM = "netem"
MECHANISM_NFQUEUE = "nfqueue"


@dataclass(frozen=True)
class LinkSettings:
    """One node's link. Rates in Mbit/s (None: not limited); delay is the round trip added."""

    download_mbit: float | None = None
    upload_mbit: float | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_percent: float = 0.0

    def check(self, where: str) -> LinkSettings:
        for name in ("download_mbit", "upload_mbit"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{where}: {name} must be above 0")
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise ConfigError(f"{where}: delay and jitter must not be negative")
        if self.jitter_ms > self.delay_ms:
            raise ConfigError(f"{where}: jitter {self.jitter_ms} ms exceeds delay {self.delay_ms}")
        if not 0 <= self.loss_percent < 100:
            raise ConfigError(f"{where}: loss_percent must be in [0, 100)")
        return self

    @property
    def delayed(self) -> bool:
        return self.delay_ms > 0 or self.jitter_ms > 0


@dataclass(frozen=True)
class LinkProfile:
    name: str
    settings: LinkSettings
    description: str


# Typical figures of a Raspberry Pi 4/5 on each kind of link (TCP-level rates, round trip to
# a wired host on the same site or, for the cellular ones, to the control node's network).
PROFILES: dict[str, LinkProfile] = {
    profile.name: profile
    for profile in (
        LinkProfile(
            "gigabit",
            LinkSettings(download_mbit=1000, upload_mbit=1000),
            "wired gigabit Ethernet (Pi 4/5): 1 Gbit/s each way, no added delay or loss",
        ),
        LinkProfile(
            "wifi",
            LinkSettings(
                download_mbit=100, upload_mbit=60, delay_ms=4, jitter_ms=2, loss_percent=0.1
            ),
            "802.11ac Wi-Fi a few metres from the access point",
        ),
        LinkProfile(
            "4g",
            LinkSettings(
                download_mbit=30, upload_mbit=10, delay_ms=50, jitter_ms=10, loss_percent=0.2
            ),
            "LTE modem with fair signal",
        ),
        LinkProfile(
            "3g",
            LinkSettings(
                download_mbit=2, upload_mbit=0.5, delay_ms=150, jitter_ms=30, loss_percent=1.0
            ),
            "HSPA modem: slow, late and lossy",
        ),
    )
}
DEFAULT_PROFILE = "gigabit"


def profile(name: str) -> LinkProfile:
    if name not in PROFILES:
        raise ConfigError(f"link profile {name!r}: choose one of {', '.join(PROFILES)}")
    return PROFILES[name]


# ---- mechanism --------------------------------------------------------------------------


def netem_available(netns: str) -> bool:
    """Try a netem qdisc on the namespace's loopback (and remove it): the kernel decides."""
    probe = run(
        in_netns(netns, ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]),
        check=False,
    )
    if probe.returncode != 0:
        return False
    run(in_netns(netns, ["tc", "qdisc", "del", "dev", "lo", "root"]), check=False)
    return True


def mechanism(state: LabState) -> str:
    """Which delay mechanism the lab uses (detected once, recorded in the state file)."""
    found = state.link.get("mechanism")
    if found not in (MECHANISM_NETEM, MECHANISM_NFQUEUE):
        found = MECHANISM_NETEM if netem_available(state.spec.control_netns) else MECHANISM_NFQUEUE
        state.link["mechanism"] = found
        state.save()
    return str(found)


def describe_mechanism(name: str) -> str:
    if name == MECHANISM_NETEM:
        return "tc netem (delay, jitter, loss) with tbf rate limits, inbound through ifb"
    return (
        "tbf rate limits (inbound through ifb), iptables statistic loss, delay and jitter "
        "by an NFQUEUE delayer on INPUT with --queue-bypass (this kernel has no netem)"
    )


# ---- applying ---------------------------------------------------------------------------


def _tc(spec: LabSpec, node: str, *args: str, check: bool = True) -> None:
    run(in_netns(spec.node_netns(node), ["tc", *args]), check=check)


def _ipt(spec: LabSpec, node: str, *args: str, check: bool = True) -> int:
    argv = in_netns(spec.node_netns(node), ["iptables", "-w", "5", *args])
    return run(argv, check=check).returncode


def _burst_bytes(mbit: float) -> int:
    # 5 ms worth of the rate, never below a few full frames (tbf needs at least one MTU).
    return max(int(mbit * 1e6 / 8 * 0.005), 4 * 1514)


def _tbf(rate_mbit: float) -> list[str]:
    return [
        "tbf",
        "rate",
        f"{rate_mbit}mbit",
        "burst",
        str(_burst_bytes(rate_mbit)),
        "latency",
        f"{QUEUE_LATENCY_MS}ms",
    ]


def _netem(settings: LinkSettings, rate_mbit: float | None, delay: bool) -> list[str]:
    args = ["netem", "limit", "10000"]
    if delay and settings.delayed:
        args += ["delay", f"{settings.delay_ms}ms", f"{settings.jitter_ms}ms"]
    if settings.loss_percent:
        args += ["loss", f"{settings.loss_percent}%"]
    if rate_mbit is not None:
        args += ["rate", f"{rate_mbit}mbit"]
    return args


def clear(state: LabState, node: str) -> None:
    """Remove every qdisc, ifb and iptables rule this module added to the node."""
    spec = state.spec
    _tc(spec, node, "qdisc", "del", "dev", "eth0", "root", check=False)
    _tc(spec, node, "qdisc", "del", "dev", "eth0", "ingress", check=False)
    run(in_netns(spec.node_netns(node), ["ip", "link", "del", IFB]), check=False)
    for chain in (CHAIN_IN, CHAIN_OUT):
        _ipt(spec, node, "-F", chain, check=False)


def _ensure_chains(spec: LabSpec, node: str) -> None:
    for chain, hook in ((CHAIN_IN, "INPUT"), (CHAIN_OUT, "OUTPUT")):
        _ipt(spec, node, "-N", chain, check=False)
        if _ipt(spec, node, "-C", hook, "-j", chain, check=False) != 0:
            _ipt(spec, node, "-I", hook, "1", "-j", chain)


def _delayer_key(node: str) -> str:
    return f"delayer@{node}"


def _params_path(spec: LabSpec, node: str) -> Path:
    return spec.node_dir(node) / "delay.json"


def _ensure_delayer(state: LabState, node: str, settings: LinkSettings) -> None:
    spec = state.spec
    params = DelayParams(settings.delay_ms, settings.jitter_ms)
    params.write(_params_path(spec, node))
    record = state.processes.get(_delayer_key(node))
    if record is not None and record.is_same_process():
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGHUP)
        return
    record = spawn(
        state,
        _delayer_key(node),
        [
            # Run as a script, not `-m drivers.lab.delayer`: importing the drivers.lab package
            # would load the docker SDK and more into every node's delayer.
            sys.executable,
            delayer.__file__,
            "--queue",
            str(NFQUEUE_NUM),
            "--params",
            str(_params_path(spec, node)),
        ],
        log=spec.node_dir(node) / "delayer.log",
        netns=spec.node_netns(node),
        cgroup_procs=cgroups.procs_files(cgroups.daemons_path(spec.cgroup, node)),
        node=node,
    )
    # Only then may packets be queued: until the delayer is bound, --queue-bypass would let
    # them through undelayed and the first measurements would read low.
    _wait_queue_bound(record.pid, spec.node_dir(node) / "delayer.log")


def _wait_queue_bound(pid: int, log: Path, timeout: float = 10.0) -> None:
    """Until the process has bound NFQUEUE_NUM (its namespace's nfnetlink_queue lists it)."""
    queues = Path(f"/proc/{pid}/net/netfilter/nfnetlink_queue")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            bound = {int(line.split()[0]) for line in queues.read_text().splitlines()}
        except (OSError, ValueError, IndexError):
            bound = set()
        if NFQUEUE_NUM in bound:
            return
        if process_start_time(pid) is None:
            raise LabError(f"the NFQUEUE delayer exited: {tail(log)}")
        time.sleep(0.02)
    raise LabError(f"the NFQUEUE delayer did not bind its queue within {timeout:.0f}s")


def _stop_delayer(state: LabState, node: str) -> None:
    record = state.processes.pop(_delayer_key(node), None)
    if record is not None:
        stop([record], timeout=5.0)
        state.save()


def apply(
    state: LabState, node: NodeSpec, settings: LinkSettings, profile_name: str = "custom"
) -> None:
    """Set one node's link, replacing whatever was set before."""
    spec = state.spec
    settings.check(f"node {node.name}")
    how = mechanism(state)
    clear(state, node.name)
    _ensure_chains(spec, node.name)
    ns = spec.node_netns(node.name)
    needs_ingress = settings.download_mbit is not None or (
        how == MECHANISM_NETEM and (settings.delayed or settings.loss_percent)
    )
    if needs_ingress:
        run(in_netns(ns, ["ip", "link", "add", IFB, "type", "ifb"]))
        run(in_netns(ns, ["ip", "link", "set", IFB, "up"]))
        _tc(spec, node.name, "qdisc", "add", "dev", "eth0", "handle", "ffff:", "ingress")
        # u32 "match everything": this kernel has no matchall classifier.
        _tc(
            spec,
            node.name,
            *("filter", "add", "dev", "eth0", "parent", "ffff:", "protocol", "all"),
            *("u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect"),
            *("dev", IFB),
        )
    if how == MECHANISM_NETEM:
        if needs_ingress:
            inbound = _netem(settings, settings.download_mbit, delay=True)
            _tc(spec, node.name, "qdisc", "add", "dev", IFB, "root", *inbound)
        if settings.upload_mbit is not None or settings.loss_percent:
            outbound = _netem(settings, settings.upload_mbit, delay=False)
            _tc(spec, node.name, "qdisc", "add", "dev", "eth0", "root", *outbound)
        _stop_delayer(state, node.name)
    else:
        if settings.download_mbit is not None:
            _tc(spec, node.name, "qdisc", "add", "dev", IFB, "root", *_tbf(settings.download_mbit))
        if settings.upload_mbit is not None:
            _tc(spec, node.name, "qdisc", "add", "dev", "eth0", "root", *_tbf(settings.upload_mbit))
        if settings.loss_percent:
            probability = f"{settings.loss_percent / 100:.6f}"
            for chain, direction in ((CHAIN_IN, "-i"), (CHAIN_OUT, "-o")):
                _ipt(
                    spec,
                    node.name,
                    *("-A", chain, direction, "eth0", "-m", "statistic"),
                    *("--mode", "random", "--probability", probability, "-j", "DROP"),
                )
        if settings.delayed:
            _ensure_delayer(state, node.name, settings)
            _ipt(
                spec,
                node.name,
                *("-A", CHAIN_IN, "-i", "eth0", "-j", "NFQUEUE"),
                *("--queue-num", str(NFQUEUE_NUM), "--queue-bypass"),
            )
        else:
            _stop_delayer(state, node.name)
    nodes = state.link.setdefault("nodes", {})
    nodes[node.name] = {"profile": profile_name, **asdict(settings)}
    state.save()


def current(state: LabState, node: str) -> LinkSettings | None:
    raw = dict(state.link.get("nodes", {}).get(node, {}))
    raw.pop("profile", None)
    return LinkSettings(**raw) if raw else None


def profile_of(state: LabState, node: str) -> str:
    return str(state.link.get("nodes", {}).get(node, {}).get("profile", "none"))


# ---- the public operations ----------------------------------------------------------------


def set_link(state: LabState, profile_name: str, nodes: list[str] | None = None) -> None:
    """Apply a profile to the Pi nodes (or to ``nodes``); gpu-primary stays wired."""
    chosen = profile(profile_name)
    targets = (
        [state.spec.node(n) for n in nodes]
        if nodes is not None
        else [n for n in state.spec.nodes if n.type == "rpi"]
    )
    for node in targets:
        apply(state, node, chosen.settings, profile_name)


def set_node_delay(
    state: LabState, node: str, delay_ms: float, jitter_ms: float = 0.0
) -> LinkSettings:
    """Change only the delay of one node's link (rates and loss stay), e.g. for the mesh
    accuracy benchmark; the round trip to a wired peer grows by about ``delay_ms``."""
    spec_node = state.spec.node(node)
    base = current(state, node) or LinkSettings()
    settings = replace(base, delay_ms=float(delay_ms), jitter_ms=float(jitter_ms))
    apply(state, spec_node, settings)
    return settings


def stop_delayers(state: LabState) -> None:
    for node in state.spec.nodes:
        if _delayer_key(node.name) in state.processes:
            _stop_delayer(state, node.name)


def summary(state: LabState) -> dict[str, Any]:
    how = state.link.get("mechanism", "not applied")
    pis = {profile_of(state, n.name) for n in state.spec.nodes if n.type == "rpi"}
    return {
        # The Pis' common profile; "mixed" once nodes were set one by one.
        "profile": pis.pop() if len(pis) == 1 else ("mixed" if pis else "none"),
        "mechanism": how,
        "description": describe_mechanism(how)
        if how in (MECHANISM_NETEM, MECHANISM_NFQUEUE)
        else "",
        "nodes": state.link.get("nodes", {}),
    }
