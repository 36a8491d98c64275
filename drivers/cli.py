"""`swarmscope`: the control-node command line, a thin layer over the drivers subpackages.

Each command group lives in its own module under ``drivers.commands`` and registers itself
through ``register(subparsers)``; this module only wires them together and turns a
``SwarmscopeError`` into one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from drivers import __version__
from drivers.errors import SwarmscopeError
from drivers.secrets import install_log_scrubbing

# One module per command group; each defines register(subparsers) -> None.
COMMAND_MODULES = (
    "drivers.commands.thresholds_cmd",
    "drivers.commands.run",
    "drivers.commands.report",
    "drivers.commands.demo",
    "drivers.commands.lab",
    "drivers.commands.fault",
    "drivers.commands.load",
    "drivers.commands.render",
    "drivers.commands.grafana",
    "drivers.commands.targets",
    "drivers.commands.ansible_inventory",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="swarmscope",
        description=(
            "Benchmark and watch a heterogeneous edge cluster (a GPU control node and "
            "Raspberry Pi workers running the swarmlet agent) against the thresholds in "
            "thresholds.yaml."
        ),
        epilog="Start with `swarmscope lab up` (no hardware needed) or write an inventory for "
        "your Pis; see README.md.",
    )
    parser.add_argument("--version", action="version", version=f"swarmscope {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens in detail")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s",
        stream=sys.stderr,
    )
    install_log_scrubbing()
    if not args.verbose:
        # paramiko logs every connection and authentication at INFO; a run opens dozens.
        logging.getLogger("paramiko").setLevel(logging.WARNING)
    try:
        result: int | None = args.func(args)
    except SwarmscopeError as exc:
        print(f"swarmscope: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("swarmscope: interrupted", file=sys.stderr)
        return 130
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
