"""Link emulation for lab nodes: the rate, delay, jitter and loss of a Pi's real link.

The lab's bridge lives in its control namespace, and every node hangs off one port of it
(``pN`` for node N). That port plays the Pi's radio link, like a router emulating a WAN:

- towards the node (download): on port ``pN`` in the control namespace, ``netem`` with
  delay, jitter and the download rate where the kernel has it; otherwise ``tbf`` for the
  rate, and NFQUEUE (``-m physdev --physdev-out pN -j NFQUEUE --queue-num N
  --queue-bypass`` in mangle POSTROUTING) with drivers.lab.delayer holding each packet;
- from the node (upload): ``tbf`` on the node's eth0, inside the node;
- loss: ``iptables -m statistic --mode random`` DROP on the node's eth0, each direction.

Why not inside the node: a receiver that timestamps packets in the kernel (``ping``, the
mesh prober with SO_TIMESTAMPNS) takes the time as a packet reaches its interface, so a
delay on the node's own INPUT is invisible to it; and packets held on the node's own egress
count against TCP's small-queue budget and throttle its uploads to a trickle. Delayed in
the switch, packets are simply late, for every kind of receiver and sender.

The delay stands for the whole round trip the link adds: ping between a wired host and the
node reads about ``delay_ms`` more; between two shaped nodes about the sum of both delays
(two radio hops, as with two Pis on Wi-Fi).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from drivers.lab import cgroups, delayer
from drivers.lab.delayer import DelayParams, read_params, write_params
from drivers.lab.parallel import in_parallel
from drivers.lab.processes import spawn, stop
from drivers.lab.profiles import LinkSettings, profile
from drivers.lab.spec import LabSpec, NodeSpec
from drivers.lab.state import LabState, process_start_time
from drivers.lab.system import LabError, in_netns, run, tail

CHAIN_IN = "SWARMSCOPE-LINK-IN"  # node, filter INPUT: inbound loss
CHAIN_OUT = "SWARMSCOPE-LINK-OUT"  # node, filter OUTPUT: outbound loss
CHAIN_DELAY = "SWARMSCOPE-LINK-DELAY"  # control namespace, mangle POSTROUTING: the delay
QUEUE_LATENCY_MS = 100  # how long tbf may queue before dropping (the link's buffer)
DELAYER_KEY = "delayer"
_DELAYER_LOCK = threading.Lock()

MECHANISM_NETEM = "netem"
MECHANISM_NFQUEUE = "nfqueue"


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
        return (
            "tc netem on the node's switch port (delay, jitter, download rate), tbf upload "
            "rate on the node, iptables statistic loss"
        )
    return (
        "tbf rates (download on the node's switch port, upload on the node), iptables "
        "statistic loss, delay and jitter by an NFQUEUE delayer on the switch port "
        "(--queue-bypass): this kernel has no netem"
    )


# ---- applying ---------------------------------------------------------------------------


def port(node: NodeSpec) -> str:
    """The node's port on the lab bridge, in the control namespace."""
    return f"p{node.index}"


class Script:
    """Commands for one namespace, run as one shell (one nsenter instead of one per command:
    shaping 20 nodes took seconds of process start-ups otherwise)."""

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self.lines: list[str] = []

    def must(self, *argv: str) -> Script:
        self.lines.append(shlex.join(argv))
        return self

    def may(self, *argv: str) -> Script:
        """A command that fails when there is nothing to undo (a missing qdisc or rule)."""
        self.lines.append(shlex.join(argv) + " 2>/dev/null || true")
        return self

    def iptables(self, *args: str) -> list[str]:
        return ["iptables", "-w", "5", *args]

    def ensure_chain(self, table: str, chain: str, hook: str) -> Script:
        self.may(*self.iptables("-t", table, "-N", chain))
        check = shlex.join(self.iptables("-t", table, "-C", hook, "-j", chain))
        insert = shlex.join(self.iptables("-t", table, "-I", hook, "1", "-j", chain))
        self.lines.append(f"{check} 2>/dev/null || {insert}")
        return self

    def run(self) -> None:
        if self.lines:
            run(in_netns(self.netns, ["sh", "-e", "-c", "\n".join(self.lines)]))


def _burst_bytes(mbit: float) -> int:
    # 5 ms worth of the rate, never below a few full frames (tbf needs at least one MTU).
    return max(int(mbit * 1e6 / 8 * 0.005), 4 * 1514)


def _tbf(rate_mbit: float) -> list[str]:
    burst = str(_burst_bytes(rate_mbit))
    return ["tbf", "rate", f"{rate_mbit}mbit", "burst", burst, "latency", f"{QUEUE_LATENCY_MS}ms"]


def _netem(settings: LinkSettings) -> list[str]:
    """netem towards the node: delay, jitter and the download rate (netem's own rate)."""
    args = ["netem", "limit", "10000"]
    if settings.delayed:
        args += ["delay", f"{settings.delay_ms}ms", f"{settings.jitter_ms}ms"]
    if settings.download_mbit is not None:
        args += ["rate", f"{settings.download_mbit}mbit"]
    return args


def _queue_rules(spec: LabSpec, node: NodeSpec) -> list[list[str]]:
    """The control namespace's rules sending node N's inbound packets to queue N: bridged
    ones (from the host and other nodes), and the control namespace's own (Prometheus)."""
    queue = ["-j", "NFQUEUE", "--queue-num", str(node.index), "--queue-bypass"]
    return [
        ["-m", "physdev", "--physdev-out", port(node), *queue],
        ["-d", node.address, "-m", "physdev", "!", "--physdev-is-bridged", *queue],
    ]


def _clear_node(spec: LabSpec, node: NodeSpec) -> Script:
    """The node's side, cleared, with its loss chains in place."""
    script = Script(spec.node_netns(node.name))
    script.may("tc", "qdisc", "del", "dev", "eth0", "root")
    for chain, hook in ((CHAIN_IN, "INPUT"), (CHAIN_OUT, "OUTPUT")):
        script.ensure_chain("filter", chain, hook)
        script.must(*script.iptables("-F", chain))
    return script


def _clear_port(spec: LabSpec, node: NodeSpec) -> Script:
    """The node's switch port, cleared, with the delay chain in place."""
    script = Script(spec.control_netns)
    script.ensure_chain("mangle", CHAIN_DELAY, "POSTROUTING")
    for rule in _queue_rules(spec, node):
        script.may(*script.iptables("-t", "mangle", "-D", CHAIN_DELAY, *rule))
    script.may("tc", "qdisc", "del", "dev", port(node), "root")
    return script


def clear(state: LabState, node: NodeSpec) -> None:
    """Remove every qdisc and rule this module set for the node (in it and on its port)."""
    _clear_node(state.spec, node).run()
    _clear_port(state.spec, node).run()
    _set_queue(state, node, None)


# ---- the delayer (one process for the lab, one queue per delayed node) -------------------


def _params_path(spec: LabSpec) -> Path:
    return spec.state_dir / "delays.json"


def _set_queue(state: LabState, node: NodeSpec, params: DelayParams | None) -> None:
    """Give node N's queue these delay parameters (None: unbind it); start or stop the
    delayer as needed, and return only once the queue is bound."""
    with _DELAYER_LOCK:  # nodes are shaped from several threads; one delayer, one file
        _set_queue_locked(state, node, params)


def _set_queue_locked(state: LabState, node: NodeSpec, params: DelayParams | None) -> None:
    path = _params_path(state.spec)
    queues = read_params(path) if path.exists() else {}
    if params is None:
        if node.index not in queues:
            return
        del queues[node.index]
    else:
        queues[node.index] = params
    write_params(path, queues)
    record = state.processes.get(DELAYER_KEY)
    running = record is not None and record.is_same_process()
    if not queues:
        if record is not None:
            stop([record], timeout=5.0)
            state.forget(DELAYER_KEY)
        return
    if running and record is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGHUP)
    else:
        spec = state.spec
        record = spawn(
            state,
            DELAYER_KEY,
            # A script, not `-m drivers.lab.delayer`: importing the drivers.lab package would
            # load the docker SDK and more into the delayer.
            # Raised priority: on a busy host its release times are the link's jitter.
            ["nice", "-n", "-10", sys.executable, delayer.__file__, "--params", str(path)],
            log=spec.state_dir / "logs" / "delayer.log",
            netns=spec.control_netns,
            cgroup_procs=cgroups.procs_files(cgroups.daemons_path(spec.cgroup, None)),
        )
    if params is not None:
        # Until the queue is bound, --queue-bypass lets packets through undelayed and the
        # first measurements would read low.
        _wait_queue_bound(record.pid, node.index, state.spec.state_dir / "logs" / "delayer.log")


def _wait_queue_bound(pid: int, queue: int, log: Path, timeout: float = 10.0) -> None:
    """Until the process has bound ``queue`` (its namespace's nfnetlink_queue lists it)."""
    queues = Path(f"/proc/{pid}/net/netfilter/nfnetlink_queue")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            bound = {int(line.split()[0]) for line in queues.read_text().splitlines()}
        except (OSError, ValueError, IndexError):
            bound = set()
        if queue in bound:
            return
        if process_start_time(pid) is None:
            raise LabError(f"the NFQUEUE delayer exited: {tail(log)}")
        time.sleep(0.02)
    raise LabError(f"the NFQUEUE delayer did not bind queue {queue} within {timeout:.0f}s")


def apply(
    state: LabState, node: NodeSpec, settings: LinkSettings, profile_name: str = "custom"
) -> None:
    """Set one node's link, replacing whatever was set before."""
    spec = state.spec
    settings.check(f"node {node.name}")
    how = mechanism(state)
    inside = _clear_node(spec, node)
    if settings.upload_mbit is not None:
        inside.must("tc", "qdisc", "add", "dev", "eth0", "root", *_tbf(settings.upload_mbit))
    if settings.loss_percent:
        probability = f"{settings.loss_percent / 100:.6f}"
        for chain, direction in ((CHAIN_IN, "-i"), (CHAIN_OUT, "-o")):
            inside.must(
                *inside.iptables("-A", chain, direction, "eth0", "-m", "statistic"),
                *("--mode", "random", "--probability", probability, "-j", "DROP"),
            )
    inside.run()
    switch = _clear_port(spec, node)
    if how == MECHANISM_NETEM:
        if settings.delayed or settings.download_mbit is not None:
            switch.must("tc", "qdisc", "add", "dev", port(node), "root", *_netem(settings))
        switch.run()
        _set_queue(state, node, None)
    else:
        if settings.download_mbit is not None:
            switch.must(
                "tc", "qdisc", "add", "dev", port(node), "root", *_tbf(settings.download_mbit)
            )
        switch.run()
        if settings.delayed:
            # The queue is bound before any packet is sent to it.
            _set_queue(state, node, DelayParams(settings.delay_ms, settings.jitter_ms))
            rules = Script(spec.control_netns)
            for rule in _queue_rules(spec, node):
                rules.must(*rules.iptables("-t", "mangle", "-A", CHAIN_DELAY, *rule))
            rules.run()
        else:
            _set_queue(state, node, None)
    state.set_node_link(node.name, {"profile": profile_name, **asdict(settings)})


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
    mechanism(state)  # detected once, before the threads
    in_parallel(lambda node: apply(state, node, chosen.settings, profile_name), targets)


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
        **_delayer_summary(state),
    }


def _delayer_summary(state: LabState) -> dict[str, str]:
    record = state.processes.get(DELAYER_KEY)
    if record is None:
        return {}
    path = _params_path(state.spec)
    queues = sorted(read_params(path)) if path.exists() else []
    alive = "running" if record.is_same_process() else "NOT RUNNING (delays are bypassed)"
    return {"delayer": f"{alive}, pid {record.pid}, queues {queues}"}
