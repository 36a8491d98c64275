"""`swarmscope ansible-inventory`: the Ansible inventory for ansible/site.yml, from ours."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from drivers.errors import SwarmscopeError
from drivers.inventory import load_inventory, resolve_inventory_path
from drivers.provision.ansible_inventory import render


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ansible-inventory",
        help="print the Ansible inventory (hosts, groups, SSH settings) for ansible/site.yml",
        description=(
            "Write the Ansible inventory derived from a swarmscope inventory: one host per "
            "node with its address, SSH user, port and key, host keys verified against the "
            "inventory's known_hosts, groups control/workers/pis/gpus, and the ports the "
            "roles use."
        ),
        epilog="example: swarmscope ansible-inventory --inventory cluster.yaml > hosts.yml && "
        "ansible-playbook -i hosts.yml ansible/site.yml",
    )
    parser.add_argument(
        "--inventory",
        type=Path,
        help="swarmscope inventory (default: $SWARMSCOPE_INVENTORY, else the lab's)",
    )
    parser.add_argument(
        "--output", "-o", type=Path, help="write to this file instead of standard output"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = resolve_inventory_path(args.inventory)
    text = render(load_inventory(path))
    if args.output is None:
        sys.stdout.write(text)
        return 0
    tmp = args.output.with_name(args.output.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.output)
    except OSError as exc:
        raise SwarmscopeError(f"{args.output}: cannot write: {exc.strerror}", exit_code=2) from None
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
