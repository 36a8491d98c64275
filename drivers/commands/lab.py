"""`swarmscope lab up|status|link|measure|down`: the built-in GPU + Pi cluster on this machine."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import asdict
from types import FrameType
from typing import Any

from drivers.errors import ConfigError
from drivers.lab import build, inspection, links, measure, profiles, spec, teardown
from drivers.lab.system import preflight


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "lab",
        help="build, inspect, shape and remove the built-in lab cluster (needs root)",
        description=(
            "A real Docker Swarm cluster on this machine: gpu-primary (manager, one GPU) and "
            "rpi-N workers, each in its own network namespace with dockerd, sshd, "
            "swarmlet-exporter and node_exporter, plus Prometheus, Alertmanager and "
            "Pushgateway. Its inventory is what every other command reads."
        ),
    )
    commands = parser.add_subparsers(dest="lab_command", metavar="ACTION", required=True)

    def named(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--name",
            default=spec.DEFAULT_NAME,
            help="lab name (default: %(default)s); state in $SWARMSCOPE_LAB_ROOT or "
            f"{spec.DEFAULT_STATE_ROOT}/NAME",
        )

    up = commands.add_parser("up", help="build the lab and write its inventory")
    named(up)
    up.add_argument(
        "--nodes",
        type=int,
        default=spec.DEFAULT_NODES,
        help="nodes in all: gpu-primary plus NODES-1 Pis (default: %(default)s)",
    )
    up.add_argument(
        "--link",
        default=profiles.DEFAULT_PROFILE,
        choices=sorted(profiles.PROFILES),
        help="link profile of the Pi nodes (default: %(default)s)",
    )
    up.add_argument("--subnet", help="private /24 for the lab (default: first free 10.213.N.0/24)")
    up.add_argument("--cpus", type=float, help="CPU quota of each Pi node's containers, e.g. 0.5")
    up.add_argument("--memory", help="memory limit of each Pi node's containers, e.g. 512M")
    up.add_argument(
        "--keep-on-failure",
        action="store_true",
        help="leave a failed lab in place for inspection (then `lab down`)",
    )
    up.add_argument(
        "--no-wait",
        action="store_true",
        help="do not wait for Prometheus to scrape every target",
    )
    up.set_defaults(func=run_up)

    show = commands.add_parser("status", help="nodes, swarm state, targets, link, URLs")
    named(show)
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=run_status)

    link = commands.add_parser(
        "link", help="change the link profile (or one node's delay) of a running lab"
    )
    named(link)
    link.add_argument("profile", nargs="?", choices=sorted(profiles.PROFILES), help="link profile")
    link.add_argument(
        "--node", action="append", help="only this node (repeatable); default: every Pi"
    )
    link.add_argument("--delay", type=float, help="set only the delay (ms) of --node")
    link.add_argument("--jitter", type=float, default=0.0, help="jitter (ms) with --delay")
    link.set_defaults(func=run_link)

    probe = commands.add_parser("measure", help="ping RTT and TCP throughput of a node's link")
    named(probe)
    probe.add_argument("--node", action="append", help="node to measure (default: rpi-1)")
    probe.add_argument("--seconds", type=float, default=4.0, help="per iperf3 direction")
    probe.add_argument("--pings", type=int, default=20, help="pings, 0.05 s apart (default 20)")
    probe.set_defaults(func=run_measure)

    remove = commands.add_parser("down", help="remove the lab, leaving the host as found")
    named(remove)
    remove.set_defaults(func=run_down)


def _interrupt_on_sigterm() -> None:
    """SIGTERM behaves like Ctrl-C, so a killed `lab up` still removes what it built."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run_up(args: argparse.Namespace) -> int:
    _interrupt_on_sigterm()
    options = build.UpOptions(
        name=args.name,
        nodes=args.nodes,
        link=args.link,
        subnet=args.subnet,
        cpus=args.cpus,
        memory=args.memory,
        keep_on_failure=args.keep_on_failure,
        wait_for_targets=0 if args.no_wait else 60.0,
    )
    result = build.up(options, say=_say)
    state = result.state
    timings = ", ".join(f"{k.removesuffix('_seconds')} {v:.1f}s" for k, v in state.timings.items())
    print(f"lab {state.spec.name} is up in {result.seconds:.1f}s ({timings})")
    print(f"inventory: {state.spec.inventory_path}")
    if state.spec.name != spec.DEFAULT_NAME:
        print(f"  use it with: export SWARMSCOPE_INVENTORY={state.spec.inventory_path}")
    for name, url in (
        ("prometheus", result.inventory.prometheus_url),
        ("alertmanager", result.inventory.alertmanager_url),
        ("pushgateway", result.inventory.pushgateway_url),
    ):
        print(f"{name:<13} {url}")
    for missing in result.missing:
        print(f"not started: {missing} (not installed)")
    return 0


def run_status(args: argparse.Namespace) -> int:
    lab = inspection.status(args.name)
    if args.json:
        data = asdict(lab)
        data["state_dir"] = str(lab.state_dir)
        data["inventory"] = str(lab.inventory)
        print(json.dumps(data, indent=2))
    else:
        print(inspection.format_status(lab))
    healthy = lab.all_ready and not lab.targets_down and lab.phase == "ready"
    return 0 if healthy else 1


def run_link(args: argparse.Namespace) -> int:
    preflight(commands=("ip", "tc", "iptables", "nsenter"))
    state = inspection.load_state(args.name)
    if args.delay is not None:
        if args.profile or not args.node:
            raise ConfigError("lab link --delay MS needs --node NODE and no profile")
        for node in args.node:
            settings = links.set_node_delay(state, node, args.delay, args.jitter)
            print(f"{node}: delay {settings.delay_ms:g} ms ± {settings.jitter_ms:g} ms")
    elif args.profile:
        links.set_link(state, args.profile, args.node)
        chosen = profiles.PROFILES[args.profile]
        print(
            f"link {args.profile} ({chosen.description}) on {', '.join(args.node or ['every Pi'])}"
        )
    else:
        raise ConfigError("lab link: give a profile (gigabit, wifi, 4g, 3g) or --delay MS --node N")
    print(f"mechanism: {links.describe_mechanism(links.mechanism(state))}")
    return 0


def run_measure(args: argparse.Namespace) -> int:
    preflight(commands=("ping", "iperf3", "nsenter"))
    state = inspection.load_state(args.name)
    link = links.summary(state)
    print(f"profile {link['profile']}, mechanism {link['mechanism']}")
    print(
        f"{'NODE':<12} {'PING ms':>9} {'±':>6} {'LOSS %':>7} {'DOWN Mbit/s':>12} {'UP Mbit/s':>10}"
    )
    for node in args.node or ["rpi-1"]:
        m = measure.measure(state, node, args.seconds, args.pings)
        print(
            f"{m.node:<12} {m.ping_avg_ms:>9.2f} {m.ping_mdev_ms:>6.2f} "
            f"{m.ping_loss_percent:>7.1f} {m.download_mbit:>12.1f} {m.upload_mbit:>10.1f}"
        )
    return 0


def run_down(args: argparse.Namespace) -> int:
    preflight(commands=("ip", "umount"))
    report = teardown.down(args.name, say=_say)
    if not report.found:
        print(f"no lab named {args.name!r}: nothing to remove")
    else:
        print(f"lab {args.name} is down ({report.seconds:.1f}s)")
    return 0
