"""What each fault does on its target, written as the shell that applies and undoes it.

A request (``Partition``, ``Bandwidth``, ``Netem``, ``Stress``, ``PowerOff``, ``EngineStop``)
turns into a ``FaultPlan``: an apply script (run with ``sh -e``) and an undo script whose
every command tolerates having nothing to undo, so reverting twice is harmless. Scripts run
as root on the target, inside its own network namespace/host: the control host's iptables
and qdiscs are never touched.

Link emulation picks what the target's kernel has: ``netem`` where it exists (Raspberry Pi
OS, most distributions); otherwise delay and jitter through the lab's NFQUEUE delayer
(``drivers.lab.delayer``, inbound) and loss through ``iptables -m statistic``. The record
says which one was used.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from drivers.faults import shell
from drivers.faults.model import TIMER_REVERT, FaultError, FaultId
from drivers.faults.shell import q

# What the apply script prints to tell the controller which mechanism it used.
MECHANISM_MARK = "swarmscope-mechanism"
APPLIED_MARK = "swarmscope-applied-at"
LAB_POWER_MODULE = "drivers.lab.power"
ERRORS_LOG = "errors.log"


@dataclass(frozen=True)
class LabHooks:
    """How a lab node reaches the lab's own tools: lab nodes share the controller's files."""

    python: str
    state_dir: Path

    @property
    def delayer_script(self) -> str:
        """Run as a script, as the lab runs it: importing the drivers.lab package would load
        the docker SDK and more into a process that only moves packets."""
        from drivers.lab import delayer  # noqa: PLC0415 - the lab's module, lab runs only

        return str(Path(delayer.__file__).resolve())

    def module(self, module: str, *args: str) -> str:
        return " ".join([q(self.python), "-m", module, *(q(a) for a in args)])


@dataclass(frozen=True)
class PlanContext:
    fault: FaultId
    state_dir: str  # the fault state directory on the target
    node: str
    reference_address: str  # an address whose route names the node's cluster interface
    duration: float = 0.0
    lab: LabHooks | None = None

    def logged(self, command: str) -> str:
        """An undo step whose error output is kept, prefixed with the fault id, in the
        state directory's errors.log (it outlives the fault's own files): the revert goes
        on either way, and whoever asks about the fault is told."""
        return (
            f'{{ {command} 2>&1 >/dev/null | sed "s/^/$ID /" >> '
            f"{q(f'{self.state_dir}/{ERRORS_LOG}')}; }} || true"
        )

    def file(self, suffix: str) -> str:
        """A path of this fault's files on the target, quoted for the shell."""
        return q(f"{self.state_dir}/{self.fault.text}.{suffix}")


@dataclass(frozen=True)
class FaultPlan:
    mechanism: str
    apply: str
    undo: str
    arm_timer: bool = True  # False: nothing on the target could run a revert (real poweroff)
    # True: the apply runs detached on the target a moment after the script returned, for a
    # fault that cuts the very connection that applies it (a lab poweroff).
    deferred: bool = False
    revert_note: str = TIMER_REVERT


class FaultRequest(Protocol):
    @property
    def kind(self) -> str: ...

    def params(self) -> dict[str, Any]: ...

    def plan(self, context: PlanContext) -> FaultPlan: ...


def _device(context: PlanContext, device: str | None) -> list[str]:
    """Set $DEV (given, or the route to the reference address) and remember it for undo."""
    if device:
        pick = f"DEV={q(device)}"
        check = f'[ -e "/sys/class/net/$DEV" ] || {{ echo "no interface {device}" >&2; exit 1; }}'
        return [pick, check, f'echo "$DEV" > {context.file("dev")}']
    return [
        shell.device_of_route(context.reference_address),
        f'echo "$DEV" > {context.file("dev")}',
    ]


def _saved_device(context: PlanContext) -> str:
    return f"DEV=$(cat {context.file('dev')} 2>/dev/null || true)"


def _attach_qdisc(context: PlanContext, interface: str, qdisc: str) -> list[str]:
    """Add the fault's qdisc (handle = the fault's tag) at the root of ``interface`` or, when
    a tbf/netem root is already configured there (a lab link profile, a shaper someone
    set), in place of that root's inner qdisc, so both apply. Where it went, and the inner
    qdisc it replaced, are written down for the undo."""
    handle = context.fault.tc_handle
    return [
        f"ROOT=$(tc qdisc show dev {interface} root | head -n1)",
        'KIND=$(echo "$ROOT" | cut -d" " -f2); HANDLE=$(echo "$ROOT" | cut -d" " -f3)',
        'INNER=""; VERB=add',
        'case "$HANDLE" in',
        '  0:|"") WHERE=root ;;',
        '  *) case "$KIND" in tbf|netem) WHERE="parent ${HANDLE}1"; VERB=replace',
        # e.g. "qdisc bfifo 0: parent 80ae:1 limit 13125000b" -> "bfifo limit 13125000b"
        f'       INNER=$(tc qdisc show dev {interface} invisible | grep " parent ${{HANDLE}}1 " '
        "| head -n1 | sed 's/^qdisc \\([^ ]*\\) [^ ]* parent [^ ]* */\\1 /') ;;",
        f'     *) echo "{interface} already has a $KIND root qdisc ($HANDLE) that a fault '
        'cannot nest under; remove what set it first" >&2; exit 1 ;; esac ;;',
        "esac",
        # Only a plain fifo is ours to replace; anything else is another fault's (or a
        # link profile's delay) and two shapers in one slot cannot both apply.
        'case "${INNER%% *}" in',
        "  ''|bfifo|pfifo|pfifo_fast) ;;",
        f'  *) echo "{interface} is already shaped inside $KIND $HANDLE by ${{INNER%% *}}: '
        'another fault holds it; revert that first" >&2; exit 1 ;;',
        "esac",
        f'echo "{interface}|$WHERE|$INNER" >> {context.file("qdiscs")}',
        f"tc qdisc $VERB dev {interface} $WHERE handle {handle}: {qdisc}",
    ]


def _detach_qdiscs(context: PlanContext, kind: str) -> list[str]:
    """Take the fault's qdiscs out again; where one replaced a shaper's inner qdisc, put
    that back (deleting it instead would leave tbf a noop child that drops every packet)."""
    handle = context.fault.tc_handle
    return [
        f'if [ -f {context.file("qdiscs")} ]; then while IFS="|" read -r IF WHERE INNER; do',
        f'  if tc qdisc show dev "$IF" 2>/dev/null | grep -q "^qdisc {kind} {handle}: "; then',
        '    if [ "$WHERE" = root ]; then tc qdisc del dev "$IF" root',
        '    else tc qdisc replace dev "$IF" $WHERE ${INNER:-bfifo} 2>/dev/null '
        '|| tc qdisc replace dev "$IF" $WHERE bfifo; fi',
        "  fi",
        f"done < {context.file('qdiscs')}; fi",
    ]


# -- network partition ------------------------------------------------------------------------
@dataclass(frozen=True)
class Partition:
    """Drop every packet between the target and each peer address, both ways."""

    peers: tuple[str, ...]  # addresses
    peer_names: tuple[str, ...] = ()
    kind: ClassVar[str] = "partition"

    def params(self) -> dict[str, Any]:
        return {"peers": list(self.peer_names or self.peers), "addresses": list(self.peers)}

    def plan(self, context: PlanContext) -> FaultPlan:
        if not self.peers:
            raise FaultError("a partition needs at least one peer", exit_code=2)
        incoming = [f"-s {q(a)} -j DROP" for a in self.peers]
        outgoing = [f"-d {q(a)} -j DROP" for a in self.peers]
        return FaultPlan(
            mechanism="iptables",
            apply=shell.lines(shell.iptables_chains_apply(context.fault.chain, incoming, outgoing)),
            undo=shell.lines(shell.iptables_chains_undo(context.fault.chain)),
        )


# -- bandwidth cap ----------------------------------------------------------------------------
_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)?\s*$", re.I)
_RATE_FACTORS = {
    "bit": 1,
    "kbit": 10**3,
    "mbit": 10**6,
    "gbit": 10**9,
    # tc's "bps" is BYTES per second; spelled out here the same way.
    "bps": 8,
    "kbps": 8 * 10**3,
    "mbps": 8 * 10**6,
    "gbps": 8 * 10**9,
}


def parse_rate(text: str) -> int:
    """Bits per second from tc-style rates: ``10mbit``, ``500kbit``, ``1gbit`` (``mbps`` is
    megaBYTES per second, as in tc)."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a rate (write it like 10mbit or 500kbit)")
    unit = (match.group(2) or "bit").lower()
    bits = float(match.group(1)) * _RATE_FACTORS[unit]
    if not 8000 <= bits <= 100 * 10**9:
        raise ValueError(f"{text!r}: a rate between 8kbit and 100gbit is expected")
    return int(bits)


@dataclass(frozen=True)
class Bandwidth:
    """Cap the node's outgoing (and with ``ingress``, incoming) rate with tc htb."""

    rate_bits: int
    device: str | None = None
    ingress: bool = False
    kind: ClassVar[str] = "bandwidth"

    def params(self) -> dict[str, Any]:
        return {"rate_bits": self.rate_bits, "device": self.device, "ingress": self.ingress}

    def plan(self, context: PlanContext) -> FaultPlan:
        handle = context.fault.tc_handle
        rate = f"{self.rate_bits}bit"

        def cap(interface: str) -> list[str]:
            return [
                *_attach_qdisc(context, interface, "htb default 1"),
                f"tc class add dev {interface} parent {handle}: classid {handle}:1 htb "
                f"rate {rate} ceil {rate}",
            ]

        apply = [*_device(context, self.device), *cap('"$DEV"')]
        undo = _detach_qdiscs(context, "htb")
        mechanism = "tc htb (egress)"
        if self.ingress:
            ifb = f"ssf-{context.fault.tag}"
            # Incoming traffic can only be shaped on an ifb it is redirected to. If eth0's
            # ingress already goes to one (a lab link profile), cap there; else make one.
            apply += [
                'IFB=$(tc filter show dev "$DEV" parent ffff: 2>/dev/null '
                "| sed -n 's/.*Redirect to device \\([^)]*\\)).*/\\1/p' | head -n1)",
                'if [ -z "$IFB" ]; then',
                f"  IFB={ifb}",
                f"  ip link add {ifb} type ifb",
                f"  ip link set {ifb} up",
                '  tc qdisc add dev "$DEV" handle ffff: ingress',
                '  tc filter add dev "$DEV" parent ffff: protocol all u32 match u32 0 0 '
                f"action mirred egress redirect dev {ifb}",
                "fi",
                *cap('"$IFB"'),
            ]
            undo += [
                f'if [ -n "$DEV" ] && tc filter show dev "$DEV" parent ffff: 2>/dev/null '
                f'| grep -q "{ifb}"; then tc qdisc del dev "$DEV" ingress; fi',
                f"ip link del {ifb} 2>/dev/null",
            ]
            mechanism = "tc htb (egress and, through an ifb, ingress)"
        return FaultPlan(
            mechanism=mechanism,
            apply=shell.lines(apply),
            undo=shell.lines(_saved_device(context), undo),
        )


# -- delay, jitter, loss ----------------------------------------------------------------------
@dataclass(frozen=True)
class Netem:
    """Delay +/- jitter and random loss on the node's cluster interface."""

    delay_seconds: float = 0.0
    jitter_seconds: float = 0.0
    loss_ratio: float = 0.0
    device: str | None = None
    kind: ClassVar[str] = "netem"

    def __post_init__(self) -> None:
        if self.delay_seconds < 0 or self.jitter_seconds < 0 or not 0 <= self.loss_ratio <= 1:
            raise FaultError("netem: delay and jitter >= 0, loss between 0 and 100%", exit_code=2)
        if self.jitter_seconds and not self.delay_seconds:
            raise FaultError("netem: jitter needs a delay (--delay)", exit_code=2)
        if not (self.delay_seconds or self.loss_ratio):
            raise FaultError("netem: give --delay and/or --loss", exit_code=2)

    def params(self) -> dict[str, Any]:
        return {
            "delay_seconds": self.delay_seconds,
            "jitter_seconds": self.jitter_seconds,
            "loss_ratio": self.loss_ratio,
            "device": self.device,
        }

    def _netem_arguments(self) -> str:
        parts = []
        if self.delay_seconds:
            parts.append(f"delay {self.delay_seconds * 1000:g}ms")
            if self.jitter_seconds:
                parts.append(f"{self.jitter_seconds * 1000:g}ms")
        if self.loss_ratio:
            parts.append(f"loss {self.loss_ratio * 100:g}%")
        return " ".join(parts)

    def delayer_params(self, queue: int) -> str:
        """The lab delayer's parameters file: one queue with this fault's delay."""
        return json.dumps(
            {
                "queues": {
                    str(queue): {
                        "delay_ms": self.delay_seconds * 1000,
                        "jitter_ms": self.jitter_seconds * 1000,
                    }
                }
            }
        )

    def _fallback(self, context: PlanContext) -> list[str]:
        """Delay through the lab's NFQUEUE delayer, loss through iptables statistic."""
        chain = f"{context.fault.chain}-in"
        what = "inbound "
        if self.delay_seconds and context.lab is None:
            return [
                "echo \"this node's kernel has no netem (sch_netem) and swarmscope has no "
                "delayer here: install the kernel's netem module (e.g. linux-modules-extra) "
                'or use --loss only" >&2',
                "exit 1",
            ]
        rules: list[str] = []
        steps = [f"iptables -w -N {chain}"]
        if self.loss_ratio:
            rules.append(
                f'-i "$DEV" -m statistic --mode random --probability {self.loss_ratio:.6f} -j DROP'
            )
            what += "loss via iptables statistic"
        if self.delay_seconds and context.lab is not None:
            queue = int(context.fault.tag, 16)
            params = context.file("delay.json")
            log = context.file("delayer.log")
            steps += [
                f"echo {q(self.delayer_params(queue))} > {params}",
                f"setsid {q(context.lab.python)} {q(context.lab.delayer_script)} "
                f"--params {params} > {log} 2>&1 < /dev/null &",
                f'echo "$! $ID.delay.json" >> {context.file("pids")}',
                # Bound to its queue before any packet is sent its way (--queue-bypass would
                # pass packets undelayed meanwhile, but the fault must be real when we say so):
                # the delayer prints its queues once they are bound.
                "i=0; while ! grep -q '^delayer: {' "
                f"{log} 2>/dev/null; do i=$((i+1)); "
                f'if [ $i -gt 100 ]; then echo "the delayer did not start: $(tail -n2 {log})" '
                ">&2; exit 1; fi; sleep 0.05; done",
            ]
            rules.append(f'-i "$DEV" -j NFQUEUE --queue-num {queue} --queue-bypass')
            what = "inbound delay via NFQUEUE delayer" + (
                " + loss via iptables statistic" if self.loss_ratio else ""
            )
        steps += [f"iptables -w -A {chain} {rule}" for rule in rules]
        steps += [f"iptables -w -I INPUT 1 -j {chain}", f"echo {MECHANISM_MARK} {q(what)}"]
        return steps

    def plan(self, context: PlanContext) -> FaultPlan:
        attach = _attach_qdisc(context, '"$DEV"', f"netem {self._netem_arguments()}")
        handle = context.fault.tc_handle
        fallback = ["  " + step for step in self._fallback(context)]
        apply = [
            *_device(context, self.device),
            # Does the kernel have netem? Ask it on loopback while that has its default
            # qdisc (a millisecond of 1 ms delay on lo); otherwise find out on $DEV below.
            "NETEM=unknown",
            'if [ "$(tc qdisc show dev lo root | cut -d" " -f3)" = "0:" ]; then',
            f"  if tc qdisc add dev lo root handle {handle}: netem delay 1ms 2>/dev/null; then",
            "    NETEM=yes; tc qdisc del dev lo root 2>/dev/null || true",
            "  else NETEM=no; fi",
            "fi",
            'if [ "$NETEM" = no ]; then',
            *fallback,
            "else",
            *("  " + line for line in attach[:-1]),
            f"  if OUT=$({attach[-1]} 2>&1); then",
            f"    echo {MECHANISM_MARK} netem",
            "  else",
            '    case "$OUT" in *nknown*|*"No such file"*|*"not supported"*) ;; '
            '*) echo "$OUT" >&2; exit 1;; esac',
            *("  " + step for step in fallback),
            "  fi",
            "fi",
        ]
        undo = [
            *_detach_qdiscs(context, "netem"),
            *shell.iptables_chains_undo(context.fault.chain),
        ]
        return FaultPlan(mechanism="netem", apply=shell.lines(apply), undo=shell.lines(undo))


# -- CPU and memory stress --------------------------------------------------------------------
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*$", re.I)


def parse_size(text: str) -> int:
    """Bytes from ``256M``, ``1G``, ``512MiB``, ``3g`` (binary units, as docker and free)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (write it like 256M or 1G)")
    factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[match.group(2).lower()]
    return int(float(match.group(1)) * factor)


@dataclass(frozen=True)
class Stress:
    """CPU load and memory pressure with stress-ng, stopped by the revert (and its timeout)."""

    cpu_workers: int = 0
    cpu_load_percent: int = 100
    vm_workers: int = 0
    vm_bytes: int = 0
    kind: ClassVar[str] = "stress"

    def __post_init__(self) -> None:
        if self.cpu_workers < 0 or self.vm_workers < 0:
            raise FaultError("stress: worker counts must not be negative", exit_code=2)
        if not self.cpu_workers and not self.vm_workers:
            raise FaultError("stress: give --cpu N and/or --vm-bytes SIZE", exit_code=2)
        if not 1 <= self.cpu_load_percent <= 100:
            raise FaultError("stress: --cpu-load is a percentage from 1 to 100", exit_code=2)
        if self.vm_workers and self.vm_bytes < 2**20:
            raise FaultError("stress: --vm-bytes of at least 1M per worker", exit_code=2)

    def params(self) -> dict[str, Any]:
        return {
            "cpu_workers": self.cpu_workers,
            "cpu_load_percent": self.cpu_load_percent,
            "vm_workers": self.vm_workers,
            "vm_bytes": self.vm_bytes,
        }

    def plan(self, context: PlanContext) -> FaultPlan:
        argv = ["stress-ng"]
        if self.cpu_workers:
            argv += ["--cpu", str(self.cpu_workers), "--cpu-load", str(self.cpu_load_percent)]
        if self.vm_workers:
            argv += [
                "--vm",
                str(self.vm_workers),
                "--vm-bytes",
                str(self.vm_bytes // self.vm_workers),
            ]
            argv += ["--vm-keep"]
        # stress-ng's own timeout is a second line of defence behind the revert timer.
        timeout = math.ceil(context.duration) + 1
        argv += ["--timeout", f"{timeout}s", "--metrics-brief"]
        log = context.file("stress.log")
        apply = [
            "command -v stress-ng >/dev/null || { echo 'stress-ng is not installed on this "
            "node (apt-get install stress-ng)' >&2; exit 1; }",
            f"setsid {' '.join(argv)} > {log} 2>&1 < /dev/null &",
            f'echo "$! stress-ng" >> {context.file("pids")}',
            "sleep 0.3",
            f'kill -0 $! 2>/dev/null || {{ echo "stress-ng stopped at once: '
            f'$(tail -n2 {log})" >&2; exit 1; }}',
        ]
        return FaultPlan(mechanism="stress-ng", apply=shell.lines(apply), undo="")


# -- node loss and engine stop ----------------------------------------------------------------
@dataclass(frozen=True)
class PowerOff:
    """Lose the node. On real hardware a real poweroff (or reboot); in the lab the node's link
    is cut first (so the cluster hears nothing, as with a pulled plug), then its engine,
    containers and exporters are killed; power-on brings all of them back."""

    reboot: bool = False
    kind: ClassVar[str] = "poweroff"

    def params(self) -> dict[str, Any]:
        return {"reboot": self.reboot}

    def plan(self, context: PlanContext) -> FaultPlan:
        if context.lab is None:
            action = "reboot" if self.reboot else "poweroff"
            return FaultPlan(
                mechanism=f"systemctl {action}",
                apply=shell.lines(
                    f"echo {APPLIED_MARK} $(date +%s.%N)", f"systemctl --no-block {action}"
                ),
                undo="",
                arm_timer=False,
                revert_note="the reboot itself"
                if self.reboot
                else "by hand or a smart plug: nothing is left running on a powered-off node",
            )
        lab = context.lab
        node_args = ("--state-dir", str(lab.state_dir), "--node", context.node)
        apply = [
            *shell.iptables_chains_apply(
                context.fault.chain, ["! -i lo -j DROP"], ["! -o lo -j DROP"]
            ),
            f"echo {APPLIED_MARK} $(date +%s.%N)",
            lab.module(LAB_POWER_MODULE, "off", *node_args),
        ]
        undo = [
            *shell.iptables_chains_undo(context.fault.chain),
            context.logged(lab.module(LAB_POWER_MODULE, "on", *node_args)),
        ]
        return FaultPlan(
            mechanism="lab: link cut (iptables) + engine, containers and exporters killed",
            apply=shell.lines(apply),
            undo=shell.lines(undo),
            deferred=True,
        )


@dataclass(frozen=True)
class EngineStop:
    """Stop the container engine (the seed's `systemctl stop docker`); start it on revert."""

    units: tuple[str, ...] = ("docker.socket", "docker.service")
    kind: ClassVar[str] = "engine-stop"

    def params(self) -> dict[str, Any]:
        return {"units": list(self.units)}

    def plan(self, context: PlanContext) -> FaultPlan:
        if context.lab is None:
            units = " ".join(q(u) for u in self.units)
            return FaultPlan(
                mechanism="systemctl stop",
                apply=shell.lines(f"echo {APPLIED_MARK} $(date +%s.%N)", f"systemctl stop {units}"),
                undo=shell.lines(f"systemctl start {units} || true"),
            )
        node_args = ("--state-dir", str(context.lab.state_dir), "--node", context.node)
        return FaultPlan(
            mechanism="lab: dockerd stopped (SIGTERM)",
            # The fault starts when the engine is told to stop: the manager may see it go
            # before the stop has finished.
            apply=shell.lines(
                f"echo {APPLIED_MARK} $(date +%s.%N)",
                context.lab.module(LAB_POWER_MODULE, "engine-stop", *node_args),
            ),
            undo=shell.lines(
                context.logged(context.lab.module(LAB_POWER_MODULE, "engine-start", *node_args))
            ),
        )
