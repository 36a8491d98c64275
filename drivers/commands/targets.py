"""`swarmscope targets`: write Prometheus' file_sd target files from an inventory."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from drivers.errors import ConfigError
from drivers.inventory import load_inventory, resolve_inventory_path
from drivers.monitoring.peers import write_peers_file
from drivers.monitoring.targets import write_targets
from drivers.thresholds import REPO_ROOT

DEFAULT_OUT = REPO_ROOT / "prometheus" / "targets"
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>[0-9]{1,5})$")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "targets",
        help="write prometheus/targets/*.json (file_sd) from an inventory",
        description="Write the file_sd target files prometheus/prometheus.yml reads: every "
        "node's swarmlet-exporter and node_exporter (labelled node, type, role, cluster), "
        "the Pushgateway, the Alertmanager and the Locust master. Prometheus picks changes "
        "up without a restart.",
        epilog="example (compose stack on the control node): swarmscope targets --inventory "
        "cluster.yaml --out prometheus/targets --compose",
    )
    parser.add_argument("--inventory", type=Path, help="inventory file (see README)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="directory to write (%(default)s)"
    )
    parser.add_argument(
        "--compose",
        action="store_true",
        help="address the Pushgateway, Alertmanager and Locust master by their compose "
        "service names (compose/docker-compose.yml) instead of the inventory's URLs",
    )
    parser.add_argument(
        "--locust",
        metavar="HOST:PORT",
        help="the Locust master's web UI, scraped for its /metrics (default with --compose: "
        "the compose service; otherwise none)",
    )
    parser.add_argument(
        "--mesh-peers",
        type=Path,
        metavar="FILE",
        help="also write the mesh peers file the exporters probe (swarmlet-exporter "
        "--mesh-peers; the exporters compose stack reads /etc/swarmscope/mesh-peers.json)",
    )
    parser.set_defaults(func=run)


def _checked_host_port(value: str) -> str:
    match = _HOST_PORT.match(value)
    if not match or not 1 <= int(match.group("port")) <= 65535:
        raise ConfigError(f"--locust: {value!r} is not HOST:PORT (e.g. 192.168.1.100:8089)")
    return value


def run(args: argparse.Namespace) -> int:
    inventory = load_inventory(resolve_inventory_path(args.inventory))
    locust = _checked_host_port(args.locust) if args.locust else None
    try:
        written = write_targets(inventory, args.out, compose=args.compose, locust=locust)
    except OSError as exc:
        raise ConfigError(f"{args.out}: cannot write target files: {exc.strerror}") from None
    if args.mesh_peers:
        try:
            written.append(write_peers_file(inventory, args.mesh_peers))
        except OSError as exc:
            raise ConfigError(f"{args.mesh_peers}: cannot write: {exc.strerror}") from None
    for path in written:
        print(f"wrote {path}")
    return 0
