"""`swarmscope fault ...`: inject a fault that undoes itself, list active faults, revert them."""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from drivers.errors import SwarmscopeError
from drivers.faults import thermal
from drivers.faults.injector import FaultInjector
from drivers.faults.kinds import (
    Bandwidth,
    EngineStop,
    FaultRequest,
    Netem,
    Partition,
    PowerOff,
    Stress,
    parse_rate,
    parse_size,
)
from drivers.faults.model import FaultRecord, check_duration, parse_fault_id
from drivers.faults.recorder import FaultRecorder, push_fault
from drivers.inventory import Inventory, load_inventory, resolve_inventory_path
from drivers.push import Pusher
from drivers.remote import SshPool
from drivers.results import RunDirectory
from drivers.units import parse_duration, parse_quantity

# A node whose link is cut must not hold `fault list` for long.
CONNECT_TIMEOUT = 5.0
# How long past its duration a fault may take to be reported reverted before we complain.
REVERT_GRACE = 60.0

EXAMPLES = """\
examples:
  swarmscope fault partition --nodes rpi-1,rpi-2 --from gpu-primary --duration 30s
  swarmscope fault netem --nodes rpi-3 --delay 50ms --jitter 10ms --loss 1% --duration 1m
  swarmscope fault bandwidth --nodes rpi-1 --rate 10mbit --duration 30s
  swarmscope fault stress --nodes rpi-2 --cpu 4 --cpu-load 90 --vm-bytes 256M --duration 2m \\
      --thermal-csv thermal.csv
  swarmscope fault engine-stop --nodes rpi-1 --duration 20s
  swarmscope fault poweroff --nodes rpi-3 --duration 45s
  swarmscope fault list
  swarmscope fault revert partition-3fa2@rpi-1
  swarmscope fault revert --all

Every fault arms its own revert on the node before it takes effect: it ends after
--duration even if this command is killed or the network drops. By default the command
waits until the node has reverted it (Ctrl-C reverts at once); --detach returns at once.
"""


class _OneLineParser(argparse.ArgumentParser):
    """Argument mistakes are one line and exit 2, like every other swarmscope error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _common(parser: argparse.ArgumentParser, *, apply: bool) -> None:
    parser.add_argument(
        "--inventory",
        type=Path,
        default=None,
        help="cluster inventory (default: $SWARMSCOPE_INVENTORY, else the lab's)",
    )
    if not apply:
        return
    parser.add_argument(
        "--nodes",
        required=True,
        metavar="NODE[,NODE...]",
        help="inventory node(s) the fault is applied to",
    )
    parser.add_argument(
        "--duration",
        default="30s",
        help="how long the fault lasts before the node reverts it (default: %(default)s)",
    )
    parser.add_argument(
        "--detach",
        action="store_true",
        help="return once applied instead of waiting for the revert",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        metavar="DIR",
        help="also record the fault window in this run directory's faults.json",
    )


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "fault",
        help="inject faults that undo themselves; list and revert them",
        description="Inject a fault into cluster nodes over SSH. Each fault arms a revert "
        "timer ON THE NODE before it takes effect, so it ends after its duration whatever "
        "happens to this machine or the network. Fault state lives on the nodes: `list` "
        "and `revert` work from any controller, also after a crash.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(
        dest="fault_command", metavar="ACTION", required=True, parser_class=_OneLineParser
    )

    def sub(name: str, help_text: str, *, apply: bool = True) -> argparse.ArgumentParser:
        child: argparse.ArgumentParser = kinds.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _common(child, apply=apply)
        return child

    partition = sub("partition", "drop all traffic between --nodes and --from (iptables)")
    partition.add_argument(
        "--from",
        dest="peers",
        required=True,
        metavar="NODE[,NODE...]",
        help="the other side: inventory node(s) the targets can no longer reach",
    )
    partition.set_defaults(func=run_apply, build=_partition)

    netem = sub(
        "netem",
        "delay, jitter and loss on the nodes' cluster link (netem where the kernel has it, "
        "else an NFQUEUE delayer and iptables statistic)",
    )
    netem.add_argument("--delay", default="0ms", help="added delay, e.g. 50ms")
    netem.add_argument("--jitter", default="0ms", help="delay variation, e.g. 10ms")
    netem.add_argument("--loss", default="0%", help="random loss, e.g. 1%%")
    netem.add_argument("--device", help="interface (default: the one towards the manager)")
    netem.set_defaults(func=run_apply, build=_netem)

    bandwidth = sub("bandwidth", "cap the nodes' link rate with tc htb (e.g. 10mbit)")
    bandwidth.add_argument("--rate", required=True, help="rate cap, e.g. 10mbit or 500kbit")
    bandwidth.add_argument(
        "--ingress", action="store_true", help="cap incoming traffic too (through an ifb)"
    )
    bandwidth.add_argument("--device", help="interface (default: the one towards the manager)")
    bandwidth.set_defaults(func=run_apply, build=_bandwidth)

    stress = sub("stress", "CPU load and/or memory pressure with stress-ng")
    stress.add_argument("--cpu", type=int, default=0, metavar="N", help="CPU workers")
    stress.add_argument(
        "--cpu-load", type=int, default=100, metavar="PERCENT", help="load per CPU worker"
    )
    stress.add_argument("--vm-bytes", metavar="SIZE", help="memory to hold, e.g. 256M or 3G")
    stress.add_argument(
        "--thermal-csv",
        type=Path,
        metavar="FILE",
        help="sample temperature, clock and throttling to this CSV while it runs",
    )
    stress.set_defaults(func=run_apply, build=_stress)

    poweroff = sub(
        "poweroff",
        "lose the nodes: a real poweroff (or --reboot) on hardware; in the lab the node's "
        "link is cut and its engine, containers and exporters killed, until power-on",
    )
    poweroff.add_argument(
        "--reboot",
        action="store_true",
        help="reboot instead: the node comes back by itself (real hardware)",
    )
    poweroff.set_defaults(func=run_apply, build=_poweroff)

    engine = sub("engine-stop", "stop the container engine (systemctl stop docker)")
    engine.set_defaults(func=run_apply, build=lambda args, inv: EngineStop())

    listing = sub("list", "active faults on every node, read from the nodes", apply=False)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=run_list)

    revert = sub("revert", "revert faults now (their timers are cancelled)", apply=False)
    revert.add_argument("ids", nargs="*", metavar="ID", help="fault ids from `fault list`")
    revert.add_argument("--all", action="store_true", help="every active fault on every node")
    revert.set_defaults(func=run_revert)


# -- requests from arguments ------------------------------------------------------------------
def _bad(message: str) -> SwarmscopeError:
    return SwarmscopeError(message, exit_code=2)


def _names(text: str, option: str, inventory: Inventory) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise _bad(f"{option}: give at least one node")
    for name in names:
        inventory.node(name)
    return names


def _partition(args: argparse.Namespace, inventory: Inventory) -> FaultRequest:
    peers = _names(args.peers, "--from", inventory)
    overlap = set(peers) & set(_names(args.nodes, "--nodes", inventory))
    if overlap:
        raise _bad(
            f"--from and --nodes share {', '.join(sorted(overlap))}: a node cannot be "
            "cut off from itself"
        )
    return Partition(peers=tuple(inventory.node(p).address for p in peers), peer_names=tuple(peers))


def _seconds(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise _bad(f"{option}: {exc}") from None


def _netem(args: argparse.Namespace, inventory: Inventory) -> FaultRequest:
    try:
        loss = parse_quantity(args.loss, "ratio")
    except ValueError as exc:
        raise _bad(f"--loss: {exc}") from None
    return Netem(
        delay_seconds=_seconds(args.delay, "--delay"),
        jitter_seconds=_seconds(args.jitter, "--jitter"),
        loss_ratio=loss,
        device=args.device,
    )


def _bandwidth(args: argparse.Namespace, inventory: Inventory) -> FaultRequest:
    try:
        rate = parse_rate(args.rate)
    except ValueError as exc:
        raise _bad(f"--rate: {exc}") from None
    return Bandwidth(rate_bits=rate, device=args.device, ingress=args.ingress)


def _stress(args: argparse.Namespace, inventory: Inventory) -> FaultRequest:
    vm_bytes = 0
    if args.vm_bytes:
        try:
            vm_bytes = parse_size(args.vm_bytes)
        except ValueError as exc:
            raise _bad(f"--vm-bytes: {exc}") from None
    return Stress(
        cpu_workers=args.cpu,
        cpu_load_percent=args.cpu_load,
        vm_workers=1 if vm_bytes else 0,
        vm_bytes=vm_bytes,
    )


def _poweroff(args: argparse.Namespace, inventory: Inventory) -> FaultRequest:
    return PowerOff(reboot=args.reboot)


# -- commands ---------------------------------------------------------------------------------
def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def _setup(
    args: argparse.Namespace,
) -> tuple[Inventory, SshPool, Pusher, RunDirectory | None]:
    if not getattr(args, "verbose", False):
        # paramiko says "Connected"/"Authentication successful" per node at INFO.
        logging.getLogger("paramiko").setLevel(logging.WARNING)
    inventory = load_inventory(resolve_inventory_path(args.inventory))
    run = RunDirectory.open(args.run_dir) if getattr(args, "run_dir", None) else None
    run_id = run.run_id if run is not None else "manual"
    pusher = Pusher(inventory.pushgateway_url, run_id, inventory.name, timeout=3.0)
    return inventory, SshPool(connect_timeout=CONNECT_TIMEOUT), pusher, run


def run_apply(args: argparse.Namespace) -> int:
    duration = check_duration(_seconds(args.duration, "--duration"))
    inventory, ssh, pusher, run = _setup(args)
    targets = _names(args.nodes, "--nodes", inventory)
    request: FaultRequest = args.build(args, inventory)
    recorder = FaultRecorder(run, pusher, scenario=None)
    injector = FaultInjector(inventory, ssh, observer=recorder, run_id=run.run_id if run else None)
    applied: list[FaultRecord] = []
    try:
        for node in targets:
            record = injector.apply(request, node, duration)
            applied.append(record)
            print(
                f"{record.id}: {record.kind} on {node} via {record.mechanism}; "
                f"reverted by {record.revert} at {_when(record.expected_end)}"
            )
        if args.detach:
            return 0
        if getattr(args, "thermal_csv", None):
            _capture_thermal(args.thermal_csv, injector, inventory, targets, duration)
        for record in applied:
            if not record.self_reverting:
                print(f"{record.id}: not waited for; ends {record.revert}")
                continue
            done = injector.wait_reverted(
                record, max(0.0, record.expected_end - time.time()) + REVERT_GRACE
            )
            print(f"{done.id}: reverted by the {done.reverted_by} at {_when(done.reverted_at)}")
        return 0
    except KeyboardInterrupt:
        print("interrupted: reverting now", file=sys.stderr)
        problems = injector.revert_applied()
        for problem in problems:
            print(f"swarmscope: error: {problem}", file=sys.stderr)
        raise
    except SwarmscopeError:
        # A failure after some nodes got their fault: do not leave them for the timer.
        if applied:
            injector.revert_applied()
        raise
    finally:
        ssh.close()


def _capture_thermal(
    path: Path,
    injector: FaultInjector,
    inventory: Inventory,
    targets: list[str],
    duration: float,
) -> None:
    """Sample every target while the stress runs; one CSV, a summary line per node."""

    def one(name: str) -> thermal.ThermalCapture:
        node = inventory.node(name)
        return thermal.capture(name, injector.shell(node), duration)

    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
        captures = list(pool.map(one, targets))
    lines = [",".join(("node", *thermal.CSV_HEADER))]
    for capture in captures:
        lines += [",".join([capture.node, *(str(v) for v in row)]) for row in capture.rows()]
        hottest = capture.max_temperature_celsius
        seen = capture.throttling_seen
        throttling = "unknown" if seen is None else ", ".join(k for k, v in seen.items() if v)
        print(
            f"{capture.node}: {capture.samples} samples, max temperature "
            + (f"{hottest:.1f} °C" if hottest is not None else "n/a")
            + f", throttling: {throttling or 'none'}"
            + (f" ({capture.note})" if capture.note else "")
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"thermal samples: {path}")


def run_list(args: argparse.Namespace) -> int:
    inventory, ssh, _pusher, _run = _setup(args)
    try:
        listing = FaultInjector(inventory, ssh).active()
    finally:
        ssh.close()
    now = time.time()
    if args.json:
        print(
            json.dumps(
                {"faults": [r.to_json() for r in listing.faults], "problems": listing.problems},
                indent=2,
            )
        )
    elif not listing.faults:
        print("no active faults")
    else:
        print(f"{'ID':<28} {'NODE':<12} {'APPLIED':<9} {'ENDS IN':>8}  {'TIMER':<6} MECHANISM")
        for record in listing.faults:
            left = record.expected_end - now
            timer = "alive" if record.timer_alive else "GONE"
            print(
                f"{record.id:<28} {record.node:<12} {_when(record.applied_at):<9} "
                f"{left:>7.0f}s  {timer:<6} {record.mechanism}"
            )
    for problem in listing.problems:
        print(f"swarmscope: warning: {problem}", file=sys.stderr)
    if any(not r.timer_alive for r in listing.faults):
        print(
            "a fault without its timer stays until reverted: `swarmscope fault revert --all`",
            file=sys.stderr,
        )
    return 1 if listing.problems else 0


def run_revert(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all):
        raise _bad("give fault ids or --all (not both)")
    for fault_id in args.ids:
        parse_fault_id(fault_id)
    inventory, ssh, pusher, _run = _setup(args)
    injector = FaultInjector(inventory, ssh)
    problems: list[str] = []
    try:
        # What is active, so the pushed series can be set back to 0 with their labels.
        known = {r.id: r for r in injector.active().faults}
        if args.all:
            reverted, problems = injector.revert_all()
        else:
            reverted = []
            for fault_id in args.ids:
                outcome = injector.revert(fault_id)
                if outcome.was_active:
                    reverted.append(fault_id)
                else:
                    print(f"{fault_id}: not active (already reverted at {_when(outcome.at)})")
    finally:
        ssh.close()
    for fault_id in reverted:
        print(f"{fault_id}: reverted")
        if fault_id in known:
            push_fault(pusher, known[fault_id].with_(reverted_at=time.time()), None)
    if args.all and not reverted and not problems:
        print("no active faults")
    for problem in problems:
        print(f"swarmscope: error: {problem}", file=sys.stderr)
    return 1 if problems else 0
